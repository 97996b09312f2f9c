"""Processes the tests start as an operator would: `mailer worker` (optionally with beat)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import Workdir
from tests.servers import RedisServer, SMTPServer


@contextmanager
def worker_process(
    workdir: Workdir, concurrency: int = 2, *, beat: bool = False, loglevel: str = "WARNING"
) -> Iterator[subprocess.Popen[str]]:
    """`mailer worker` as an operator starts it; stopped with SIGTERM (warm shutdown)."""
    extra = ["--beat"] if beat else []
    log = (workdir.path / "worker.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mailer",
            "worker",
            f"--concurrency={concurrency}",
            f"--loglevel={loglevel}",
            *extra,
        ],
        cwd=workdir.path,
        env=workdir.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (the worker's pool), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 of /proc/PID/stat is the parent pid; the command name (field 2) may hold spaces.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _talks_to(pid: int, port: int) -> bool:
    """True when the process holds a TCP connection to 127.0.0.1:port."""
    try:
        inodes = {
            os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1]
            for fd in os.listdir(f"/proc/{pid}/fd")
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")
        }
    except OSError:
        return False
    wanted = f":{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[2].endswith(wanted) and fields[9] in inodes:
            return True
    return False


def kill_a_pool_process(
    worker: subprocess.Popen[str], timeout: float = 20, *, sending_to: int | None = None
) -> int:
    """SIGKILL one of the worker's pool processes (the parent forks a new one); with
    `sending_to`, one that has a connection to that SMTP port open: a process in the middle
    of a batch, never the embedded beat (which nothing would restart)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pool = children(worker.pid)
        if sending_to is not None:
            pool = [pid for pid in pool if _talks_to(pid, sending_to)]
        if pool:
            os.kill(pool[0], signal.SIGKILL)
            return pool[0]
        time.sleep(0.05)
    raise AssertionError("the worker has no pool process to kill")


def configure_for(
    workdir: Workdir, redis_server: RedisServer, smtp_server: SMTPServer, db: int
) -> None:
    """Point the working directory at the private Redis (own db number) and the SMTP server."""
    workdir.env.update(
        {
            "MAILER_BROKER_URL": f"redis://127.0.0.1:{redis_server.port}/{db}",
            "MAILER_TRANSPORT_URL": smtp_server.url,
            "MAILER_SECRET_KEY": "test-secret-key-for-the-whole-suite-0123456789",
            "MAILER_PUBLIC_URL": "https://mail.example.org",
        }
    )


def wait_for_state(
    workdir: Workdir, campaign: int, states: set[str], timeout: float = 60
) -> dict[str, Any]:
    """Wait until the campaign is in one of `states`, then return `campaigns status --json`.
    The waiting reads the campaign's row in the working directory's SQLite file (a command
    per poll would take the CPU the workers need); the answer is the CLI's."""
    database = workdir.path / "mailer.db"
    assert "MAILER_DATABASE_URL" not in workdir.env, "reads the default SQLite file only"
    deadline = time.monotonic() + timeout
    state = None
    while state not in states:
        if time.monotonic() > deadline:
            raise AssertionError(f"campaign {campaign} never reached {states} (last: {state})")
        time.sleep(0.05)
        if database.exists():
            with sqlite3.connect(database, timeout=30) as connection:
                row = connection.execute(
                    "SELECT state FROM campaigns WHERE id = ?", (campaign,)
                ).fetchone()
            connection.close()
            state = row[0] if row else None
    status = json.loads(workdir.run("campaigns", "status", str(campaign), "--json").stdout)
    assert status["state"] in states, status
    return status  # type: ignore[no-any-return]
