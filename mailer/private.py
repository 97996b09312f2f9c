"""Files of people's data, created readable by their owner only (0600, folders 0700)."""

from __future__ import annotations

import os
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
    """Write a new file, 0600 from its creation whatever the umask (no moment where another
    local user could open it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def private_text(path: Path) -> IO[str]:
    """Open a text file for writing (CSV: newline=""), 0600 when it is created; an existing
    file keeps its mode, and loses its content."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def create_private(path: Path) -> None:
    """Create an empty file 0600 if it does not exist yet (a SQLite database before SQLite
    opens it: its -wal and -shm files then take the same mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)
