"""The ``anonymize`` command's entry point: start the process with huge pages, then the CLI.

The face model's large passes allocate a few hundred MB of activations and free them again,
per pass, on every keyframe. glibc serves such blocks with fresh ``mmap`` calls, so the
kernel faults in and zeroes every 4 KiB page anew, and much of the CPU time goes to the
kernel. With ``glibc.malloc.hugetlb=1`` malloc asks for transparent huge pages and those
faults mostly disappear, for a little more peak memory (figures: docs/tuning.md, Start-up).
glibc reads its tunables only when a process starts, so the command re-executes itself once
with the tunable set; elsewhere (not Linux, or a libc that does not know the tunable) it is
ignored and nothing changes.
"""

from __future__ import annotations

import os
import sys

_TUNABLE = "glibc.malloc.hugetlb=1"


def entry() -> None:
    """Run the CLI, re-executing the interpreter first if the tunable is not yet set."""
    current = os.environ.get("GLIBC_TUNABLES", "")
    if sys.platform == "linux" and _TUNABLE not in current.split(":"):
        os.environ["GLIBC_TUNABLES"] = f"{current}:{_TUNABLE}" if current else _TUNABLE
        try:
            os.execv(sys.executable, sys.orig_argv)
        except OSError:
            pass  # cannot re-execute (an unusual interpreter): run as we are, only slower
    from anonymize.cli import main

    main()
