"""The end of a command: what Python's own exit does that anyone could notice, then out."""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

__all__ = ["finish"]

_FLUSH_FAILED = 120  # the code Python exits with when it cannot flush stdout


def finish(code: object) -> NoReturn:
    """Join the threads, run the exit handlers, flush the output, and end the process with
    `code` (as `SystemExit` takes it) without tearing the interpreter down: freeing every
    object of every module one by one costs a send command a third of a second, after its
    work is done. Files, journals and databases are closed by the code that opened them;
    pooled database connections by `open_database`'s exit hook."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    threading._shutdown()  # type: ignore[attr-defined]  # non-daemon threads, as at exit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or _FLUSH_FAILED
    os._exit(status & 0xFF)
