"""End to end through Redis and a `mailer worker` process into a real SMTP server."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import EXAMPLES, Workdir
from tests.expectations import eligible_for_nso, language_of
from tests.servers import RedisServer, SMTPServer

pytestmark = pytest.mark.redis

REQUIRED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Content-Language",
    "X-Mailer-Campaign",
)


@contextmanager
def worker_process(workdir: Workdir, concurrency: int = 2) -> Iterator[subprocess.Popen[str]]:
    """`mailer worker` as an operator starts it; stopped with SIGTERM (warm shutdown)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mailer",
            "worker",
            f"--concurrency={concurrency}",
            "--loglevel=WARNING",
        ],
        cwd=workdir.path,
        env=workdir.env,
        stdout=subprocess.PIPE,
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


def only_media_queries_left(html: str) -> bool:
    """Every <style> block holds @media rules only (what cannot be inlined)."""
    for block in re.findall(r"<style[^>]*>(.*?)</style>", html, flags=re.S):
        outside = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", block)
        if "{" in outside:
            return False
    return True


def configure_for(
    workdir: Workdir, redis_server: RedisServer, smtp_server: SMTPServer, db: int
) -> None:
    """Point the working directory at the private Redis (own db number) and the SMTP server."""
    workdir.env.update(
        {
            "MAILER_BROKER_URL": f"redis://127.0.0.1:{redis_server.port}/{db}",
            "MAILER_TRANSPORT_URL": smtp_server.url,
            "MAILER_SECRET_KEY": "test-secret-key-for-the-suite",
            "MAILER_PUBLIC_URL": "https://mail.example.org",
        }
    )


def test_publish_through_redis_and_a_worker_into_smtp(
    workdir: Workdir, redis_server: RedisServer, smtp_server: SMTPServer
) -> None:
    configure_for(workdir, redis_server, smtp_server, db=1)
    workdir.run("statements", "import", str(EXAMPLES / "statements"))
    workdir.run("subscribers", "import", str(EXAMPLES / "subscribers.csv"), "--consented")
    expected = eligible_for_nso()
    with worker_process(workdir):
        workdir.run("statements", "publish", "nso-export-licence-nl", timeout=180)
        received = smtp_server.wait_for(len(expected), timeout=60)
    assert len(received) == len(expected)
    assert sorted(r.rcpt_tos[0] for r in received) == sorted(expected)
    assert {r.mail_from for r in received} == {"bounces@example.org"}
    message_ids = set()
    for item in received:
        message = item.message()
        for header in REQUIRED_HEADERS:
            assert message[header], header
        lang = language_of(expected[item.rcpt_tos[0]])
        assert message["Content-Language"].split("-")[0] == lang
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert re.fullmatch(
            r"<https://mail\.example\.org/u/[\w.-]+>, <mailto:unsubscribe@example\.org\?subject=[^>]+>",
            str(message["List-Unsubscribe"]),
        )
        assert message.get_content_type() == "multipart/alternative"
        parts = [p.get_content_type() for p in message.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert "https://mail.example.org/u/" in text
        assert re.search(rf'<html[^>]* lang="{lang}[^"]*" dir="ltr"', html)
        # CSS inlined: styled elements carry style attributes; no class rule left in a style block.
        assert re.search(r'<h1[^>]*style="[^"]*font-size', html)
        assert only_media_queries_left(html)
        assert "Chaussée de Wavre" in html or "Kolonel Begaultlaan" in html
        message_ids.add(str(message["Message-ID"]))
    assert len(message_ids) == len(expected)
    # Persistent connections: a handful per worker process, not one per message.
    assert smtp_server.handler.connections <= 8
