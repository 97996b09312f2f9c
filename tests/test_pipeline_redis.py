"""End to end through Redis and a `mailer worker` process into a real SMTP server."""

from __future__ import annotations

import re

import pytest

from mailer.config import SMTP_CONNECTIONS
from mailer.quality import REQUIRED_HEADERS
from tests.conftest import EXAMPLES, Workdir
from tests.expectations import eligible_for_nso, language_of
from tests.processes import configure_for, worker_process
from tests.servers import RedisServer, SMTPServer

pytestmark = pytest.mark.redis


def only_media_queries_left(html: str) -> bool:
    """Every <style> block holds @media rules only (what cannot be inlined)."""
    for block in re.findall(r"<style[^>]*>(.*?)</style>", html, flags=re.S):
        outside = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", block)
        if "{" in outside:
            return False
    return True


def test_publish_through_redis_and_a_worker_into_smtp(
    workdir: Workdir, redis_server: RedisServer, smtp_server: SMTPServer
) -> None:
    configure_for(workdir, redis_server, smtp_server, db=1)
    workdir.run("statements", "import", str(EXAMPLES / "statements"))
    workdir.run("subscribers", "import", str(EXAMPLES / "subscribers.csv"), "--consented")
    expected = eligible_for_nso()
    with worker_process(workdir):
        # End to end: a new interpreter publishes through Redis to worker processes.
        workdir.run("statements", "publish", "nso-export-licence-nl", timeout=180, fresh=True)
        received = smtp_server.wait_for(len(expected), timeout=60)
    assert len(received) == len(expected)
    assert sorted(r.rcpt_tos[0] for r in received) == sorted(expected)
    # VERP: one envelope sender per message (issue #16), all at the bounce address.
    senders = {r.mail_from for r in received}
    assert len(senders) == len(received)
    assert all(re.fullmatch(r"bounces\+[a-z2-7]{26}@example\.org", s) for s in senders)
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
    # Persistent connections: MAILER_SMTP_CONNECTIONS per worker process (two here), each
    # busy with one message at a time, never one per message.
    assert smtp_server.handler.connections <= 2 * SMTP_CONNECTIONS < len(expected)
