"""`forget` leaves no copy of the address or the name in the database's files (SQLite, PostgreSQL)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from mailer.store import open_database
from mailer.subscribers.actions import erase
from mailer.subscribers.importer import import_csv
from mailer.subscribers.store import get_by_email
from tests.conftest import Workdir, _postgres_database

ADDRESS = b"erased.person@example.org"
NAME = b"Zorba Erasmus"


def _people(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    first = "".join(f"p{i}@example.org,Person {i}\n" for i in range(2000))
    last = "".join(f"q{i}@example.org,Person {i}\n" for i in range(2000))
    path.write_text(
        f"email,name\n{first}{ADDRESS.decode()},{NAME.decode()}\n{last}", encoding="utf-8"
    )
    return path


def _holding(folder: Path, needle: bytes) -> set[str]:
    """The database files that contain `needle` (any case), read by grep in its own process:
    a read here would close a descriptor of the file, and POSIX drops every lock this
    process holds on it then (SQLite's own warning), telling others we are gone."""
    found = set()
    for path in folder.glob("mailer.db*"):
        grep = subprocess.run(["grep", "-q", "-a", "-i", "-F", needle.decode(), str(path)])
        if grep.returncode == 0:
            found.add(path.name)
    return found


def test_forget_on_sqlite_leaves_nothing_in_the_db_wal_or_shm(workdir: Workdir) -> None:
    workdir.run("subscribers", "import", str(_people(workdir.path)), "--consented")
    # Changes that rewrite the row, as preferences and bounces do.
    # This process keeps its connection open (as the web app and workers do), so the WAL
    # and shm files stay: the erasure must empty them, not count on the last close.
    db = open_database(f"sqlite:///{workdir.path}/mailer.db")
    try:
        with db.session() as session:
            person = get_by_email(session, ADDRESS.decode())
            person.name = NAME.decode() + " Junior"
            person.topics = ["surveillance"]
        assert "mailer.db-wal" in _holding(workdir.path, ADDRESS)
        result = workdir.run("subscribers", "forget", ADDRESS.decode())
        files = {p.name: p.stat().st_size for p in workdir.path.glob("mailer.db*")}
        left = _holding(workdir.path, ADDRESS) | _holding(workdir.path, NAME)
    finally:
        db.dispose()
    assert "erased" in result.stdout and "warning" not in result.stderr
    assert {"mailer.db", "mailer.db-wal", "mailer.db-shm"} <= set(files)
    assert left == set()
    assert files["mailer.db-wal"] == 0
    # Nothing else was lost, and the address cannot come back.
    listed = workdir.run("subscribers", "list", "--json").stdout
    assert listed.count("@example.org") == 4000
    again = workdir.run("subscribers", "add", ADDRESS.decode(), "--consented", check=False)
    assert again.returncode == 1 and "suppression list" in again.stderr


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_database()


def test_forget_on_postgresql_leaves_no_row_version_behind(
    postgres_url: str, tmp_path: Path
) -> None:
    db = open_database(postgres_url)
    try:
        import_csv(db, _people(tmp_path), consented=True)
        with db.session() as session:
            get_by_email(session, ADDRESS.decode()).name = NAME.decode() + " Junior"
        with db.engine.connect() as connection:
            schema = connection.execute(text("SELECT current_schema()")).scalar()
            connection.execute(
                text(f'CREATE EXTENSION IF NOT EXISTS pageinspect SCHEMA "{schema}"')
            )
            connection.commit()
            where = connection.execute(
                text(
                    "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pageinspect'"
                )
            ).scalar()

        def versions(table: str) -> int:
            # Every tuple of every page, live or dead, that holds the address.
            with db.engine.connect() as connection:
                return int(
                    connection.execute(
                        text(
                            f"SELECT count(*) FROM generate_series(0, "
                            f"(pg_relation_size('{table}') / 8192)::int - 1) AS page, "
                            f"{where}.heap_page_items({where}.get_raw_page('{table}', page)) AS item "
                            "WHERE position(:needle IN item.t_data) > 0"
                        ),
                        {"needle": ADDRESS},
                    ).scalar()
                )

        assert versions("subscribers") >= 2  # the row and its older version
        assert erase(db, ADDRESS.decode()) is None
        assert versions("subscribers") == 0
        with db.engine.connect() as connection:
            count = connection.execute(text("SELECT count(*) FROM subscribers")).scalar()
        assert count == 4000
    finally:
        db.dispose()
