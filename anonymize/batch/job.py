"""One job run to its end: the result of one file, and the tidying after killed runs.

Every engine (one file at a time here, a process pool, Ray) runs a file through
``anonymize_job`` and gets a ``JobResult`` back: a failure becomes a result with a one-line
cause, never a raise, so one bad file never ends a run of many.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from anonymize.api import Anonymizer, Progress, report_path
from anonymize.audit import claim_record
from anonymize.batch.plan import Job
from anonymize.errors import FILE_FAILURES, internal, one_line, show_path
from anonymize.media.atomic import remove_leftovers
from anonymize.regions import RegionsFile

__all__ = [
    "JobResult",
    "Status",
    "Watch",
    "anonymize_job",
    "remove_job_leftovers",
    "same_output",
    "skip_existing",
]

Status = Literal["done", "skipped", "failed"]
# Called with an input path; the context it returns yields the per-frame progress callback.
Watch = Callable[[Path], AbstractContextManager[Progress | None]]


@dataclass(frozen=True)
class JobResult:
    """What became of one job: ``done`` (with where its audit record went and what was
    covered), ``skipped`` (with the ``reason``) or ``failed`` (with the ``error``).

    ``stopped`` is set on a failure after which the run wrote no more outputs (why its
    output folder takes no more: full or read-only)."""

    job: Job
    status: Status
    error: str = ""
    reason: str = ""
    record: Path | None = None
    frames: int = 0
    regions: int = 0
    tracks: int = 0
    stopped: str = ""

    @classmethod
    def done(cls, job: Job, record: Path | None, regions: RegionsFile) -> JobResult:
        return cls(
            job,
            "done",
            record=record,
            frames=regions.input.frame_count,
            regions=sum(len(found) for found in regions.frames.values()),
            tracks=len(regions.tracks),
        )

    @classmethod
    def failed(cls, job: Job, error: str) -> JobResult:
        return cls(job, "failed", error=error)

    @classmethod
    def skipped(cls, job: Job, reason: str) -> JobResult:
        return cls(job, "skipped", reason=reason)

    def to_dict(self) -> dict:
        """The result as the JSON summary prints it: ``input``, ``output``, ``status`` and
        either ``record``, ``frames``, ``regions``, ``tracks`` (done), ``reason`` (skipped)
        or ``error`` (failed)."""
        data: dict = {"input": str(self.job.src), "output": str(self.job.dst)}
        data["status"] = self.status
        if self.status == "done":
            data["record"] = str(self.record) if self.record else None
            data.update(frames=self.frames, regions=self.regions, tracks=self.tracks)
        elif self.status == "skipped":
            data["reason"] = self.reason
        else:
            data["error"] = self.error
        return data


def same_output(jobs: Sequence[Job]) -> dict[Job, JobResult]:
    """The failed result of each job whose output an earlier job writes too (two inputs of
    one name into one folder): it must fail, not be skipped as if already done."""
    writers: dict[Path, Job] = {}
    failed = {}
    for job in jobs:
        first = writers.setdefault(job.dst.resolve(), job)
        if first is not job:
            failed[job] = JobResult.failed(
                job,
                f"{show_path(job.dst)} is already the output of {show_path(first.src)} "
                "(use --neutral-names, or separate output folders)",
            )
    return failed


def skip_existing(job: Job, overwrite: bool) -> JobResult | None:
    """The "skipped" result when ``job``'s output exists and may not be replaced, else None:
    a re-run resumes where the last one stopped. An output that is the input itself is not
    skipped: the job fails, saying so, rather than suggest ``--overwrite``."""
    if job.dst.exists() and not overwrite and not job.dst.samefile(job.src):
        return JobResult.skipped(job, "output exists (use --overwrite)")
    return None


def anonymize_job(
    anonymizer: Anonymizer, job: Job, report: bool = True, watch: Watch | None = None
) -> JobResult:
    """Run one file; any failure becomes a "failed" result with a one-line cause."""
    record = _claimed(job, report)
    try:
        job.dst.parent.mkdir(parents=True, exist_ok=True)
        with watch(job.src) if watch else contextlib.nullcontext() as progress:
            regions = anonymizer.anonymize_file(
                job.src, job.dst, report=record or False, progress=progress
            )
    except FILE_FAILURES as err:
        return JobResult.failed(job, one_line(err))
    except Exception as err:  # a bug must still end as one failed file, not a dead run
        return JobResult.failed(job, internal(err))
    return JobResult.done(job, record, regions)


def remove_job_leftovers(*jobs: Job, report: bool = True) -> None:
    """Delete what killed runs left under temporary names beside each job's output and its
    audit record: a run killed outright cannot tidy up after itself."""
    records = [_record(job, report) for job in jobs]
    remove_leftovers(*(job.dst for job in jobs), *(r for r in records if r is not None))


def _record(job: Job, report: bool) -> Path | None:
    """Where ``job``'s audit record goes: its own path, or beside the output (sidecar)."""
    return (job.record or report_path(job.dst)) if report else None


def _claimed(job: Job, report: bool) -> Path | None:
    """Where ``job``'s record is written: its own path, or the next free one when another
    safe copy of the same name keeps its record there (``claim_record``)."""
    if report and job.record:
        return claim_record(job.record, job.dst)
    return _record(job, report)
