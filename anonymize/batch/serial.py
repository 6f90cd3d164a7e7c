"""One file at a time in this process, with every core on each: the plain ``anonymize`` run.

It keeps the plan's order and stops at the first failure whose output folder takes no more
writes (disk full, read-only): every later file would fail the same way, and earlier
outputs stay as they were.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from anonymize.api import Anonymizer
from anonymize.batch.job import (
    JobResult,
    Watch,
    anonymize_job,
    remove_job_leftovers,
    same_output,
    skip_existing,
)
from anonymize.batch.plan import Job

__all__ = ["run_serial", "unwritable"]

# Failures that every later output would meet too.
_NO_SPACE = (os.strerror(errno.ENOSPC), os.strerror(errno.EDQUOT))


def run_serial(
    jobs: Sequence[Job],
    anonymizer: Anonymizer,
    *,
    overwrite: bool = False,
    report: bool = True,
    watch: Watch | None = None,
) -> Iterator[JobResult]:
    """Yield one result per job, in plan order, as each file finishes.

    After a failure in a folder that takes no more writes, that result carries why
    (``stopped``) and the files after it are "skipped", not attempted.
    """
    clashes = same_output(jobs)
    for position, job in enumerate(jobs):
        if job in clashes:
            yield clashes[job]
            continue
        remove_job_leftovers(job, report=report)
        result = skip_existing(job, overwrite) or anonymize_job(anonymizer, job, report, watch)
        blocked = unwritable(job.dst.parent, result.error) if result.status == "failed" else None
        if not blocked:
            yield result
            continue
        yield replace(result, stopped=blocked)
        reason = f"not attempted: the run stopped ({blocked})"
        for later in jobs[position + 1 :]:
            yield JobResult.skipped(later, reason)
        return


def unwritable(folder: Path, error: str) -> str | None:
    """Why no more outputs can be written in ``folder`` (disk full, read-only), or None.

    Asked after a file fails with ``error``, so that a run into a full or read-only folder
    stops at the first failure instead of failing every remaining file the same way.
    """
    for cause in _NO_SPACE:
        if cause in error:
            return cause
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent  # the folder could not even be created: ask its parent
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        return err.strerror or str(err)
    return None
