"""`mailer web` as an operator runs it: a signup's confirmation leaves from the embedded worker
(memory://) or from `mailer worker` processes (redis://)."""

from __future__ import annotations

import json
import mailbox
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy

import httpx
import pytest

from tests.conftest import Workdir
from tests.processes import configure_for, worker_process
from tests.servers import RedisServer, SMTPServer, free_port


@contextmanager
def web_process(workdir: Workdir, port: int) -> Iterator[str]:
    """`mailer web` on 127.0.0.1:port until the block ends (SIGTERM)."""
    log = (workdir.path / "web.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "mailer", "web", "--port", str(port)],
        cwd=workdir.path,
        env=workdir.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).text == "ok":
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError((workdir.path / "web.log").read_text())
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


def _sign_up(base: str, email: str, lang: str) -> None:
    with httpx.Client(base_url=base) as client:
        page = client.get(f"/subscribe/{lang}")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token
        answer = client.post(
            "/subscribe",
            data={"csrf": token.group(1), "email": email, "language": lang, "ui": lang},
        )
    assert answer.status_code == 200


def _status(workdir: Workdir, email: str) -> str:
    shown = json.loads(workdir.run("subscribers", "show", email, "--json").stdout)
    return str(shown["status"])


def test_on_the_embedded_default_mailer_web_sends_the_confirmation(workdir: Workdir) -> None:
    port = free_port()
    workdir.env["MAILER_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    workdir.run("init")
    with web_process(workdir, port) as base:
        _sign_up(base, "nina@example.org", "nl")
        deadline = time.monotonic() + 60
        messages: list = []  # type: ignore[type-arg]
        while not messages and time.monotonic() < deadline:
            if (workdir.path / "outbox").is_dir():
                box = mailbox.Maildir(workdir.path / "outbox", create=False)
                messages = [
                    message_from_bytes(box.get_bytes(k), policy=policy.default)
                    for k in list(box.keys())
                ]
            time.sleep(0.2)
    assert len(messages) == 1 and messages[0]["To"] == "nina@example.org"
    assert messages[0]["Content-Language"] == "nl"
    assert f"http://127.0.0.1:{port}/confirm/" in messages[0].get_body(("plain",)).get_content()
    assert _status(workdir, "nina@example.org") == "pending"


@pytest.mark.redis
def test_with_redis_the_worker_processes_send_it(
    workdir: Workdir, redis_server: RedisServer, smtp_server: SMTPServer
) -> None:
    configure_for(workdir, redis_server, smtp_server, db=7)
    port = free_port()
    workdir.env["MAILER_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    workdir.run("init")
    with worker_process(workdir, concurrency=1), web_process(workdir, port) as base:
        _sign_up(base, "omar@example.org", "ar")
        smtp_server.wait_for(1, timeout=60)
    [received] = smtp_server.handler.received
    assert received.rcpt_tos == ["omar@example.org"]
    assert received.message()["Content-Language"] == "ar"
    assert _status(workdir, "omar@example.org") == "pending"
