"""The secret key: what makes one acceptable, and the generated key file of the embedded default."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

__all__ = [
    "MIN_SECRET_LENGTH",
    "RECOMMENDED_SECRET_LENGTH",
    "SecretKeyFileError",
    "key_file_problem",
    "load_or_create",
    "secret_key_problem",
]

# Anyone who holds one link can try keys offline against it: 32 characters of a random
# string (`openssl rand -base64 32`) is out of reach; a word or a short phrase is not.
# Below 16 characters a key is refused; below 32 `mailer doctor` says to make a longer one
# (refusing a key an installation already signs with would break every link it sent).
MIN_SECRET_LENGTH = 16
RECOMMENDED_SECRET_LENGTH = 32
_MIN_DISTINCT = 8


class SecretKeyFileError(Exception):
    """The key file cannot be read, written or used; says which file and why, and which
    setting to change (`SECRET_KEY` for the key, `DATA_DIR` for where it is kept)."""

    def __init__(self, problem: str, *, setting: str = "SECRET_KEY") -> None:
        self.setting = setting
        super().__init__(problem)


def secret_key_problem(key: str) -> str | None:
    """What makes `key` unfit to sign links, or None when it is fit."""
    if not key.strip():
        return "is empty"
    if len(key.strip()) < MIN_SECRET_LENGTH:
        return (
            f"is {len(key.strip())} characters long; at least {MIN_SECRET_LENGTH} are needed "
            "(for example `openssl rand -base64 32`)"
        )
    if len(set(key)) < _MIN_DISTINCT:
        return (
            f"has fewer than {_MIN_DISTINCT} different characters "
            "(for example `openssl rand -base64 32`)"
        )
    return None


def key_file_problem(path: Path) -> str | None:
    """What is wrong with an existing key file's permissions, or None."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"{path} is readable by other users (mode {stat.S_IMODE(mode):o}): chmod 600 it"
    return None


def _read(path: Path) -> str:
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretKeyFileError(f"cannot read {path}: {exc}") from exc
    problem = secret_key_problem(key)
    if problem is not None:
        # Never replaced silently: links already sent were signed with whatever it held.
        raise SecretKeyFileError(
            f"the key in {path} {problem}: delete the file to generate a new key "
            "(links in mail already sent stop working), or set MAILER_SECRET_KEY"
        )
    return key


def load_or_create(path: Path) -> str:
    """The key in `path`, generated there first when there is none.

    The file appears whole or not at all: the key is written to a temporary file made
    exclusively with mode 0600, synced, then linked to its name, which fails when another
    process linked its key first; that key is then read. So processes starting together on a
    fresh installation all end with the same key, and none ever reads an empty file.
    """
    if path.exists():
        return _read(path)
    directory = path.parent
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SecretKeyFileError(
            f"cannot create {directory}: {exc.strerror}", setting="DATA_DIR"
        ) from exc
    temporary = directory / f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp"
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(descriptor, (secrets.token_urlsafe(48) + "\n").encode("ascii"))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        # Unlike rename, link never replaces a key another process made first.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
        _sync_directory(directory)
    except OSError as exc:
        raise SecretKeyFileError(
            f"cannot write {path}: {exc.strerror}", setting="DATA_DIR"
        ) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return _read(path)


def _sync_directory(directory: Path) -> None:
    # The new name survives a power cut only once the directory itself is synced.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
