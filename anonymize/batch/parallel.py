"""Many files at once: a process pool on this machine, or an existing Ray cluster.

The driver (the process that planned the jobs) decides what to skip, hands the rest to
workers and tidies after them. A worker keeps one Anonymizer for its life, so models load
once per worker process, and it is replaced after a number of files so memory stays flat.

A worker that dies takes its file with it; the file is retried in a fresh worker. Retries are
safe because every attempt writes its output under a temporary name and renames it only when
complete: a dead attempt never publishes, and two complete attempts of one file publish the
same bytes (the last rename wins). The temporary files of dead attempts are removed before
``run_jobs`` returns. On a cluster every worker must see the driver's paths (a shared file
system mounted at the same place).
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import pickle
import socket
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from anonymize.api import Anonymizer
from anonymize.batch.job import (
    JobResult,
    anonymize_job,
    remove_job_leftovers,
    same_output,
    skip_existing,
)
from anonymize.batch.plan import Job
from anonymize.config import Settings
from anonymize.detect.base import Detector
from anonymize.errors import UserError, internal, one_line

__all__ = ["ENGINES", "BatchError", "DetectorFactory", "run_jobs"]

ENGINES = ("local", "ray")

# Builds the detectors inside a worker; must be picklable (a module-level function, or a
# functools.partial of one). None means the detectors the settings ask for.
DetectorFactory = Callable[[Settings], Sequence[Detector]]

# A worker is replaced after this many files: whatever a long run leaks goes with it.
_FILES_PER_WORKER = 20


class BatchError(UserError):
    """The engine cannot run at all (Ray missing or unreachable); the message says why."""


def run_jobs(
    jobs: Iterable[Job],
    settings: Settings,
    engine: str = "local",
    *,
    overwrite: bool = False,
    report: bool = True,
    workers: int | None = None,
    address: str | None = None,
    max_retries: int = 2,
    detectors: DetectorFactory | None = None,
) -> Iterator[JobResult]:
    """Yield one result per job, in the order files finish.

    ``workers`` is how many files run at once (default: this machine's cores, or the Ray
    cluster's CPUs); ``max_retries`` is how often a file is retried after its worker process
    died. ``address`` is the Ray cluster to join (default: RAY_ADDRESS, or the cluster that
    ``ray start`` runs on this machine). Raises BatchError when the engine cannot start.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    jobs, todo = list(jobs), []
    clashes = same_output(jobs)
    for job in jobs:
        done = clashes.get(job) or skip_existing(job, overwrite)
        if done:
            yield done
        else:
            todo.append(job)
    if not todo:
        return
    blob = pickle.dumps((settings, detectors))
    try:
        if engine == "local":
            yield from _run_local(todo, blob, report, workers, max_retries)
        else:
            yield from _run_ray(todo, blob, report, workers, max_retries, address)
    finally:
        remove_job_leftovers(*todo, report=report)


def _run_local(
    jobs: list[Job],
    blob: bytes,
    report: bool,
    workers: int | None,
    max_retries: int,
) -> Iterator[JobResult]:
    """A process pool; when a worker dies the pool breaks, so it is rebuilt and the files
    that were running are retried (each counts an attempt: the pool cannot say which died)."""
    workers = workers or os.cpu_count() or 1
    queue = deque(jobs)
    attempts = dict.fromkeys(jobs, 0)
    while queue:
        pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            max_tasks_per_child=_FILES_PER_WORKER,
        )
        running: dict[Future, Job] = {}
        broken = False
        try:
            while running or (queue and not broken):
                while queue and not broken and len(running) < workers:
                    job = queue.popleft()
                    attempts[job] += 1
                    running[pool.submit(_work, blob, job, report)] = job
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    job = running.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        broken = True
                        if attempts[job] > max_retries:
                            yield JobResult.failed(job, _died(attempts[job]))
                        else:
                            queue.appendleft(job)
                    except Exception as err:  # e.g. a result that would not unpickle
                        yield JobResult.failed(job, internal(err))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _run_ray(
    jobs: list[Job],
    blob: bytes,
    report: bool,
    workers: int | None,
    max_retries: int,
    address: str | None,
) -> Iterator[JobResult]:
    """Ray tasks on an existing cluster; Ray itself retries a task whose worker died."""
    _check_answers(address)
    try:
        import ray
    except ImportError as err:
        raise BatchError("the ray engine needs Ray: pip install 'anonymize[ray]'") from err
    joined = not ray.is_initialized()
    if joined:
        try:
            ray.init(address=address or "auto", logging_level=logging.WARNING, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise BatchError(f"cannot join the Ray cluster: {one_line(err)}") from err
    try:
        task = ray.remote(
            num_cpus=1,
            max_retries=max_retries,
            retry_exceptions=False,
            max_calls=_FILES_PER_WORKER,
        )(_work)
        window = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        shared = ray.put(blob)
        queue = deque(jobs)
        running: dict = {}
        try:
            while queue or running:
                while queue and len(running) < window:
                    job = queue.popleft()
                    running[task.remote(shared, job, report)] = job
                [ref], _ = ray.wait(list(running), num_returns=1)
                job = running.pop(ref)
                try:
                    yield ray.get(ref)
                except ray.exceptions.WorkerCrashedError:
                    yield JobResult.failed(job, _died(max_retries + 1))
                except ray.exceptions.RayError as err:
                    yield JobResult.failed(job, f"ray: {one_line(err)}")
        finally:
            for ref in running:  # interrupted: stop what is still out there
                ray.cancel(ref, force=True)
    finally:
        if joined:
            ray.shutdown()


def _check_answers(address: str | None) -> None:
    """Fail in seconds, not minutes, when nothing listens at a HOST:PORT address (Ray itself
    keeps retrying for minutes)."""
    host, _, port = (address or "").removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", or a form Ray judges itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as err:
        raise BatchError(f"no Ray cluster answers at {address} ({err.strerror or err})") from err


def _work(blob: bytes, job: Job, report: bool) -> JobResult:
    """What a worker runs for one file (the local pool and Ray alike)."""
    try:
        anonymizer = _anonymizer(blob)
    except Exception as err:  # e.g. a detector factory that cannot be built here
        return JobResult.failed(job, internal(err))
    return anonymize_job(anonymizer, job, report)


@functools.lru_cache(maxsize=1)
def _anonymizer(blob: bytes) -> Anonymizer:
    """One Anonymizer per worker process and (settings, factory): models load once."""
    settings, factory = pickle.loads(blob)
    return Anonymizer(settings, detectors=factory(settings) if factory else None)


def _died(attempts: int) -> str:
    return f"the worker process died on each of {attempts} attempts"
