"""Jobs: which output each input becomes, and the engines that run them.

    plan(inputs, output)                     -> [Job(src, dst, record)]
    run_serial(jobs, anonymizer)             one file at a time here (plain ``anonymize``)
    run_jobs(jobs, settings, "local"|"ray")  many at once: a process pool, or a Ray cluster

Every engine runs a file through ``anonymize_job`` and yields a ``JobResult`` per job; the
CLI only turns options into these calls and prints the results.
"""

from anonymize.batch.job import JobResult, Status, Watch, anonymize_job, skip_existing
from anonymize.batch.parallel import ENGINES, BatchError, DetectorFactory, run_jobs
from anonymize.batch.plan import MEDIA_EXTENSIONS, Job, PlanError, beside, left_out, plan
from anonymize.batch.serial import run_serial

__all__ = [
    "ENGINES",
    "MEDIA_EXTENSIONS",
    "BatchError",
    "DetectorFactory",
    "Job",
    "JobResult",
    "PlanError",
    "Status",
    "Watch",
    "anonymize_job",
    "beside",
    "left_out",
    "plan",
    "run_jobs",
    "run_serial",
    "skip_existing",
]
