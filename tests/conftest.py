"""Fixtures: a private working directory, the CLI as a user runs it, real SMTP and Redis servers."""

from __future__ import annotations

import locale
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.forkserver import ForkServer, as_text
from tests.servers import RedisServer, SMTPServer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SEED = EXAMPLES / "statements" / "nso-export-licence.fr.txt"


@dataclass
class Workdir:
    """A directory with its own database, outbox and environment, and a way to run `mailer` there."""

    path: Path
    env: dict[str, str]
    forks: ForkServer | None = None

    def run(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 120,
        input: str | bytes | None = None,
        fresh: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run `mailer ARGS` as a user would, in a process of its own; fail the test on an
        unexpected exit code. The process is a fork of one that imported mailer already
        (tests/forkserver.py); `fresh` starts a new interpreter, for what start-up does."""
        data = input.encode(locale.getpreferredencoding(False)) if isinstance(input, str) else input
        if fresh or self.forks is None or not self.forks.serves(self.env):
            raw = subprocess.run(
                [sys.executable, "-m", "mailer", *args],
                cwd=self.path,
                env=self.env,
                input=data,
                capture_output=True,
                timeout=timeout,
            )
        else:
            raw = self.forks.run(
                list(args), cwd=self.path, env=self.env, input=data, timeout=timeout
            )
        result = subprocess.CompletedProcess(
            raw.args, raw.returncode, as_text(raw.stdout), as_text(raw.stderr)
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"mailer {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    @property
    def outbox(self) -> Path:
        """The Maildir 'new' folder of the default transport."""
        return self.path / "outbox" / "new"


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture(scope="session")
def fork_server() -> ForkServer:
    """The process that `Workdir.run` forks: one for the whole run, shared by the xdist
    workers (children of the pytest process it ends with)."""
    if "PYTEST_XDIST_WORKER" in os.environ:
        return ForkServer(
            _clean_env(), ROOT, run=os.environ["PYTEST_XDIST_TESTRUNUID"], owner=os.getppid()
        )
    return ForkServer(_clean_env(), ROOT, run=uuid.uuid4().hex, owner=os.getpid())


@pytest.fixture
def workdir(tmp_path: Path, fork_server: ForkServer) -> Workdir:
    """A fresh working directory using the example organisation's profile."""
    env = _clean_env()
    env["MAILER_ORG_FILE"] = str(EXAMPLES / "mailer.toml")
    return Workdir(tmp_path, env, fork_server)


@pytest.fixture
def bare_workdir(tmp_path: Path, fork_server: ForkServer) -> Workdir:
    """A fresh working directory on pure defaults (no profile)."""
    return Workdir(tmp_path, _clean_env(), fork_server)


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """An aiosmtpd server on 127.0.0.1 that records what it accepts."""
    server = SMTPServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server for the whole session (skipped when the binary is missing)."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must have redis-server: .ci/run installs Debian's package")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


POSTGRES_URL = os.environ.get(
    "MAILER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_schema() -> Iterator[str]:
    """A private schema on the local PostgreSQL server, dropped afterwards."""
    import uuid

    import psycopg

    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        admin = psycopg.connect(plain, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and unreachable at {plain}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {plain}")
    schema = f"mailer_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            separator = "&" if "?" in POSTGRES_URL else "?"
            yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _postgres_database() -> Iterator[str]:
    """A private database on the local PostgreSQL server, dropped afterwards: for tests whose
    outcome other sessions' open transactions could change (VACUUM keeps the row versions
    any snapshot of the same database may still see)."""
    import uuid

    import psycopg

    plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        admin = psycopg.connect(plain, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and unreachable at {plain}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {plain}")
    name = f"mailer_test_{uuid.uuid4().hex[:12]}"
    base = POSTGRES_URL.rsplit("/", 1)[0]
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{base}/{name}"
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same tests on SQLite and on PostgreSQL (own schema, cleaned after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/mailer.db"
    else:
        yield from _postgres_schema()


# The longest tests (a minute or more on a loaded machine) start first: xdist's workers then
# fill the time they take with the short ones instead of waiting for one of them at the end.
LONGEST_FIRST = (
    "tests/test_followups.py::test_follow_up_counts_on_100000",
    "tests/faults/",
    "tests/test_bounces_mail_systems.py",
    "tests/test_browser_public.py",
    "tests/test_quality.py::test_spamassassin",
    "tests/test_secret_key.py::test_concurrent",
    "tests/test_international.py",
    "tests/test_statements.py::test_language_is_detected",
)


def _rank(item: pytest.Item) -> int:
    starts = [i for i, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)]
    return starts[0] if starts else len(LONGEST_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order: the longest first, the rest as collected."""
    items.sort(key=_rank)
