"""Transports and reply classification, against a real aiosmtpd server."""

from __future__ import annotations

import mailbox
import socket
from pathlib import Path

import pytest

from mailer.config import load_settings
from mailer.errors import ConfigError, PermanentFailure, TemporaryFailure
from mailer.transport import Outcome, classify, open_transport
from mailer.transport.factory import parse_smtp_url
from mailer.transport.maildir import MaildirTransport
from mailer.transport.smtp import SMTPTransport
from tests.servers import SMTPServer

MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n"


@pytest.mark.parametrize(
    ("code", "text", "outcome"),
    [
        (250, "2.0.0 OK", Outcome.SENT),
        (451, "4.3.0 try later", Outcome.TEMPORARY),
        (450, "4.2.1 mailbox busy", Outcome.TEMPORARY),
        (421, "4.7.0 too many connections", Outcome.THROTTLED),
        (451, "4.7.1 rate limited", Outcome.THROTTLED),
        (454, "4.7.0 TLS not available", Outcome.THROTTLED),
        (452, "4.5.3 too many recipients, slow down", Outcome.THROTTLED),
        (552, "5.2.2 mailbox full", Outcome.TEMPORARY),
        (550, "5.1.1 no such user", Outcome.PERMANENT),
        (554, "5.7.1 rejected", Outcome.PERMANENT),
        (None, "", Outcome.TEMPORARY),
    ],
)
def test_classify(code: int | None, text: str, outcome: Outcome) -> None:
    assert classify(code, text) is outcome


def test_smtp_keeps_one_connection_for_many_messages(smtp_server: SMTPServer) -> None:
    transport = SMTPTransport(parse_smtp_url(smtp_server.url))
    for index in range(25):
        result = transport.send(
            envelope_from="bounces@example.org", recipient=f"r{index}@example.org", message=MESSAGE
        )
        assert result.code == 250
    transport.close()
    assert len(smtp_server.handler.received) == 25
    assert smtp_server.handler.connections == 1


def test_smtp_reconnects_after_the_server_drops_the_connection(smtp_server: SMTPServer) -> None:
    transport = SMTPTransport(parse_smtp_url(smtp_server.url))
    transport.send(envelope_from="a@example.org", recipient="one@example.org", message=MESSAGE)
    assert transport._conn is not None
    transport._conn.sock.shutdown(socket.SHUT_RDWR)  # the line drops, as when a relay restarts
    transport.send(envelope_from="a@example.org", recipient="two@example.org", message=MESSAGE)
    transport.close()
    assert [r.rcpt_tos for r in smtp_server.handler.received] == [
        ["one@example.org"],
        ["two@example.org"],
    ]
    assert smtp_server.handler.connections == 2


def test_smtp_rotates_connections_after_the_maximum(smtp_server: SMTPServer) -> None:
    transport = SMTPTransport(parse_smtp_url(smtp_server.url + "&max_per_connection=4"))
    for index in range(10):
        transport.send(
            envelope_from="a@example.org", recipient=f"r{index}@example.org", message=MESSAGE
        )
    transport.close()
    assert smtp_server.handler.connections == 3


def test_smtp_replies_are_classified(smtp_server: SMTPServer) -> None:
    replies = iter(["451 4.3.0 try again later", "550 5.1.1 no such user"])
    smtp_server.handler.reply = lambda envelope: next(replies, None)
    transport = SMTPTransport(parse_smtp_url(smtp_server.url))
    with pytest.raises(TemporaryFailure) as temporary:
        transport.send(envelope_from="a@example.org", recipient="x@example.org", message=MESSAGE)
    assert temporary.value.code == 451
    with pytest.raises(PermanentFailure) as permanent:
        transport.send(envelope_from="a@example.org", recipient="y@example.org", message=MESSAGE)
    assert permanent.value.code == 550 and permanent.value.recipient == "y@example.org"
    assert (
        transport.send(
            envelope_from="a@example.org", recipient="z@example.org", message=MESSAGE
        ).code
        == 250
    )
    transport.close()
    assert smtp_server.handler.connections == 1


def test_unreachable_server_is_a_temporary_failure() -> None:
    from tests.servers import free_port

    transport = SMTPTransport(parse_smtp_url(f"smtp://127.0.0.1:{free_port()}?timeout=2"))
    with pytest.raises(TemporaryFailure):
        transport.send(envelope_from="a@example.org", recipient="x@example.org", message=MESSAGE)


def test_maildir_writes_readable_messages(tmp_path: Path) -> None:
    transport = open_transport(f"maildir:{tmp_path}/box")
    assert isinstance(transport, MaildirTransport)
    transport.send(envelope_from="a@example.org", recipient="b@example.org", message=MESSAGE)
    box = mailbox.Maildir(tmp_path / "box", create=False)
    (key,) = box.keys()
    assert box[key]["Subject"] == "hi" and box[key]["Delivered-To"] == "b@example.org"
    assert not list((tmp_path / "box" / "tmp").iterdir())


def test_transport_urls() -> None:
    settings = parse_smtp_url("smtp+starttls://user%40x:p%3Ass@relay.example.org?timeout=5")
    assert (settings.host, settings.port, settings.security) == (
        "relay.example.org",
        587,
        "starttls",
    )
    assert (settings.username, settings.password, settings.timeout) == ("user@x", "p:ss", 5.0)
    assert parse_smtp_url("smtps://relay.example.org").port == 465
    with pytest.raises(ConfigError, match="MAILER_TRANSPORT_URL"):
        open_transport("maildir:")
    with pytest.raises(ConfigError, match="MAILER_TRANSPORT_URL"):
        load_settings({"MAILER_TRANSPORT_URL": "ftp://x"})


def test_pipelining_when_the_server_offers_it() -> None:
    from aiosmtpd.controller import Controller

    from tests.servers import RecordingHandler, free_port

    class Pipelining(RecordingHandler):
        async def handle_EHLO(self, server, session, envelope, hostname, responses):  # type: ignore[no-untyped-def]
            session.host_name = hostname
            return [*responses[:-1], "250-PIPELINING", responses[-1]]

        async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
            if address.startswith("nobody"):
                return "550 5.1.1 no such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    handler = Pipelining()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        transport = SMTPTransport(parse_smtp_url(f"smtp://127.0.0.1:{port}?timeout=5"))
        dotted = MESSAGE.replace(b"hello\r\n", b"hello\r\n.leading dot\r\n")
        for index in range(20):
            transport.send(
                envelope_from="a@example.org", recipient=f"r{index}@example.org", message=dotted
            )
        with pytest.raises(PermanentFailure) as refused:
            transport.send(
                envelope_from="a@example.org", recipient="nobody@example.org", message=MESSAGE
            )
        assert refused.value.code == 550
        transport.send(envelope_from="a@example.org", recipient="last@example.org", message=MESSAGE)
        assert transport._conn is not None and transport._conn.has_extn("pipelining")
        transport.close()
    finally:
        controller.stop()
    assert len(handler.received) == 21
    assert b"\r\n.leading dot\r\n" in handler.received[0].data  # dot-stuffing undone by the server
