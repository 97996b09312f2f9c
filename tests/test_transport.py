"""Transports and reply classification, against a real aiosmtpd server."""

from __future__ import annotations

import mailbox
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from mailer.config import load_settings
from mailer.errors import ConfigError, PermanentFailure, TemporaryFailure
from mailer.transport import Outcome, classify, open_transport
from mailer.transport.base import Outgoing, SendResult
from mailer.transport.factory import parse_smtp_url
from mailer.transport.maildir import MaildirTransport
from mailer.transport.memory import MemoryTransport
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


def _items(count: int, body: bytes = MESSAGE, built: list[int] | None = None) -> list[Outgoing]:
    def build(index: int) -> Callable[[], bytes]:
        def message() -> bytes:
            if built is not None:
                built.append(index)
            return body

        return message

    return [
        Outgoing(index, "a@example.org", f"r{index}@example.org", build(index))
        for index in range(count)
    ]


def test_stream_records_each_message_before_the_next_is_sent(smtp_server: SMTPServer) -> None:
    # The ledger's promise: when the stream says "accepted", the next message's data has not
    # left yet, so recording before reading on means at most one duplicate per crash.
    refused = {"r3@example.org", "r11@example.org"}
    smtp_server.handler.refuse_rcpt = lambda a: "550 5.1.1 no such user" if a in refused else None
    smtp_server.handler.reply = lambda e: (
        "451 4.3.0 later" if e.rcpt_tos == ["r7@example.org"] else None
    )
    transport = SMTPTransport(parse_smtp_url(smtp_server.url))
    dotted = MESSAGE.replace(b"hello\r\n", b"hello\r\n.leading dot\r\n")
    built: list[int] = []
    outcomes: dict[int, object] = {}
    for item, outcome in transport.send_many(_items(20, dotted, built)):
        outcomes[item.key] = outcome
        accepted = sum(isinstance(o, SendResult) for o in outcomes.values())
        assert len(smtp_server.handler.received) == accepted
        assert built[-1] <= item.key + 1  # built no further ahead than the next message
    transport.close()
    assert list(outcomes) == list(range(20)) and built == list(range(20))
    assert isinstance(outcomes[3], PermanentFailure) and outcomes[3].code == 550
    assert isinstance(outcomes[11], PermanentFailure)
    assert isinstance(outcomes[7], TemporaryFailure) and outcomes[7].code == 451
    assert sum(isinstance(o, SendResult) for o in outcomes.values()) == 17
    assert len(smtp_server.handler.received) == 17
    assert smtp_server.handler.connections == 1
    assert b"\r\n.leading dot\r\n" in smtp_server.handler.received[0].data  # unstuffed


@pytest.mark.parametrize("pipelining", [True, False])
def test_stream_survives_a_dropped_connection(smtp_server: SMTPServer, pipelining: bool) -> None:
    smtp_server.handler.pipelining = pipelining
    smtp_server.handler.fault = lambda e: "DROP" if e.rcpt_tos == ["r5@example.org"] else None
    transport = SMTPTransport(parse_smtp_url(smtp_server.url))
    outcomes = dict((item.key, outcome) for item, outcome in transport.send_many(_items(12)))
    transport.close()
    assert list(outcomes) == list(range(12))
    lost = outcomes.pop(5)
    assert isinstance(lost, TemporaryFailure) and "connection lost" in str(lost)
    assert all(isinstance(o, SendResult) for o in outcomes.values())
    assert sorted(r.rcpt_tos[0] for r in smtp_server.handler.received) == sorted(
        f"r{i}@example.org" for i in range(12) if i != 5
    )
    assert smtp_server.handler.connections == 2


@pytest.mark.parametrize("pipelining", [True, False])
def test_stream_rotates_connections(smtp_server: SMTPServer, pipelining: bool) -> None:
    smtp_server.handler.pipelining = pipelining
    transport = SMTPTransport(parse_smtp_url(smtp_server.url + "&max_per_connection=4"))
    outcomes = [outcome for _, outcome in transport.send_many(_items(10))]
    transport.close()
    assert all(isinstance(o, SendResult) for o in outcomes) and len(outcomes) == 10
    assert len(smtp_server.handler.received) == 10
    assert smtp_server.handler.connections == 3


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_message_cut_before_its_data_is_retried_once_even_after_a_rotation(
    smtp_server: SMTPServer, pipelining: bool
) -> None:
    smtp_server.handler.pipelining = pipelining
    drops = {"r2@example.org": 1, "r4@example.org": 2}

    def drop(address: str) -> str | None:
        if drops.get(address, 0) > 0:
            drops[address] -= 1
            return "DROP"
        return None

    smtp_server.handler.refuse_rcpt = drop
    # r2 comes right after a rotation: a new connection, not a retry.
    transport = SMTPTransport(parse_smtp_url(smtp_server.url + "&max_per_connection=2"))
    outcomes = dict((item.key, outcome) for item, outcome in transport.send_many(_items(6)))
    transport.close()
    assert isinstance(outcomes.pop(4), TemporaryFailure)  # cut twice: left for later
    assert all(isinstance(o, SendResult) for o in outcomes.values())
    assert sorted(r.rcpt_tos[0] for r in smtp_server.handler.received) == [
        f"r{i}@example.org" for i in (0, 1, 2, 3, 5)
    ]


def test_stream_left_early_does_not_reuse_the_connection(smtp_server: SMTPServer) -> None:
    transport = SMTPTransport(parse_smtp_url(smtp_server.url))
    stream = transport.send_many(_items(10))
    next(stream)
    next(stream)
    stream.close()  # the caller stopped (paused campaign): the next envelope was in flight
    assert transport._conn is None
    transport.send(envelope_from="a@example.org", recipient="z@example.org", message=MESSAGE)
    transport.close()
    assert [r.rcpt_tos[0] for r in smtp_server.handler.received] == [
        "r0@example.org",
        "r1@example.org",
        "z@example.org",
    ]


def test_stream_to_an_unreachable_server_fails_every_item_at_once() -> None:
    from tests.servers import free_port

    transport = SMTPTransport(parse_smtp_url(f"smtp://127.0.0.1:{free_port()}?timeout=2"))
    outcomes = [outcome for _, outcome in transport.send_many(_items(5))]
    assert len(outcomes) == 5 and all(isinstance(o, TemporaryFailure) for o in outcomes)


def test_without_pipelining_commands_go_one_at_a_time(smtp_server: SMTPServer) -> None:
    smtp_server.handler.pipelining = False
    smtp_server.handler.refuse_rcpt = lambda a: (
        "550 5.1.1 no such user" if a.startswith("r2@") else None
    )
    transport = SMTPTransport(parse_smtp_url(smtp_server.url))
    outcomes = [outcome for _, outcome in transport.send_many(_items(5))]
    assert transport._conn is not None and not transport._conn.has_extn("pipelining")
    transport.close()
    assert [type(o).__name__ for o in outcomes] == [
        "SendResult",
        "SendResult",
        "PermanentFailure",
        "SendResult",
        "SendResult",
    ]
    assert len(smtp_server.handler.received) == 4 and smtp_server.handler.connections == 1


@pytest.mark.parametrize("pipelining", [True, False])
def test_meanwhile_runs_once_per_message_before_its_outcome(
    smtp_server: SMTPServer, pipelining: bool
) -> None:
    # The caller's bulk writes (the journal fold) run while a message is with the server: in
    # a stream, after its data left and before its reply is read, so they cost no round trip.
    smtp_server.handler.pipelining = pipelining
    transport = SMTPTransport(parse_smtp_url(smtp_server.url))
    yielded: list[int] = []
    seen: list[tuple[int, int]] = []  # (outcomes yielded, messages stored) at each call
    stream = transport.send_many(
        _items(6),
        lambda: seen.append((len(yielded), len(smtp_server.handler.received))),
    )
    for item, _ in stream:
        yielded.append(item.key)
    transport.close()
    assert len(seen) == 6 and yielded == list(range(6))
    # Call k comes before outcome k is yielded, after the k messages before it were stored.
    assert [calls for calls, _ in seen] == list(range(6))
    assert all(stored >= calls for calls, stored in seen)


def test_memory_and_maildir_run_meanwhile_too(tmp_path: Path) -> None:
    calls: list[int] = []
    for transport in (MemoryTransport(), MaildirTransport(tmp_path / "outbox")):
        outcomes = list(transport.send_many(_items(3), lambda: calls.append(1)))
        assert all(isinstance(o, SendResult) for _, o in outcomes)
    assert len(calls) == 6
