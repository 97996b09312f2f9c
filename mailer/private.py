"""Files of people's data, created readable by their owner only (0600, folders 0700)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["create_private", "private_dir", "private_text", "write_private"]

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> None:
    """Make a folder (and its parents) that only its owner may enter; an existing one is
    left as the admin set it."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


def write_private(path: Path, data: bytes) -> None:
    """Write a new file (a name nobody has used: O_EXCL), 0600 from its creation whatever
    the umask (no moment where another local user could open it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@contextmanager
def private_text(path: Path) -> Iterator[IO[str]]:
    """A text file to write (CSV: newline=""), that replaces `path` once complete.

    Written under a new name in the same folder (O_EXCL, 0600) and renamed over the target:
    a file someone else made there beforehand (world-readable, another owner's, a link)
    is replaced, never written into; an interrupted write leaves the old file as it was."""
    absolute = path.absolute()
    if absolute.is_relative_to("/dev") or absolute.is_relative_to("/proc"):
        # /dev/stdout, a terminal, a pipe: nothing on disk to protect, nothing to rename.
        with path.open("w", encoding="utf-8", newline="") as stream:
            yield stream
        return
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise


def create_private(path: Path) -> None:
    """Create an empty file 0600 if it does not exist yet (a SQLite database before SQLite
    opens it: its -wal and -shm files then take the same mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)
