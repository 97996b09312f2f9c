"""People's data on disk is its owner's only, whatever the umask: database, outbox, exports."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, SEED, Workdir


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The umask most systems give a user: files 0644, folders 0755 by default."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_nothing_with_people_s_data_is_readable_by_other_users(
    workdir: Workdir, open_umask: None
) -> None:
    workdir.run("init")
    people = workdir.path / "people.csv"
    people.write_text(
        (EXAMPLES / "subscribers.csv").read_text(encoding="utf-8") + "not-an-address,X,fr\n",
        encoding="utf-8",
    )
    workdir.run("subscribers", "import", str(people), "--consented", check=False)
    workdir.run("statements", "import", str(SEED), "--publish")
    # A file someone else left there, open to all, is replaced, never written into.
    planted = workdir.path / "export.csv"
    planted.write_text("planted\n", encoding="utf-8")
    planted.chmod(0o666)
    workdir.run("subscribers", "export", str(planted))
    database = workdir.path / "mailer.db"
    files = [
        database,
        *(p for p in (Path(f"{database}-wal"), Path(f"{database}-shm")) if p.exists()),
        workdir.path / "export.csv",
        workdir.path / "people.rejected.csv",
        *workdir.outbox.iterdir(),
    ]
    assert len(files) > 5 and any(workdir.outbox.iterdir())
    assert {str(f.relative_to(workdir.path)): oct(_mode(f)) for f in files} == {
        str(f.relative_to(workdir.path)): oct(0o600) for f in files
    }
    for folder in (workdir.outbox, workdir.path / "outbox" / "tmp"):
        assert _mode(folder) == 0o700, folder
    # Doctor tells when an older installation left them open.
    assert "files" in workdir.run("doctor").stdout
    database.chmod(0o644)
    report = workdir.run("doctor", check=False).stdout
    line = next(line for line in report.splitlines() if "files" in line)
    assert "readable by other local users" in line and "mailer.db (644)" in line
