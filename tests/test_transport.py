"""Transports against a real aiosmtpd server: one connection's stream, the pool, replies as values."""

from __future__ import annotations

import mailbox
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from mailer.config import load_settings
from mailer.errors import ConfigError
from mailer.transport import open_transport
from mailer.transport.base import Outgoing, deliver_one
from mailer.transport.classify import Reply, Stage
from mailer.transport.factory import parse_smtp_url
from mailer.transport.maildir import MaildirTransport
from mailer.transport.memory import MemoryTransport
from mailer.transport.smtp import SMTPConnection
from tests.servers import SMTPServer

MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n"


def _one(index: int, message: bytes = MESSAGE) -> Outgoing:
    return Outgoing(index, "a@example.org", f"r{index}@example.org", lambda: message)


def accepted(reply: object) -> bool:
    return isinstance(reply, Reply) and reply.code == 250


def test_smtp_keeps_one_connection_for_many_messages(smtp_server: SMTPServer) -> None:
    transport = SMTPConnection(parse_smtp_url(smtp_server.url))
    for index in range(25):
        assert accepted(transport.send(_one(index)))
    transport.close()
    assert len(smtp_server.handler.received) == 25
    assert smtp_server.handler.connections == 1


def test_smtp_reconnects_after_the_server_drops_the_connection(smtp_server: SMTPServer) -> None:
    transport = SMTPConnection(parse_smtp_url(smtp_server.url))
    transport.send(_one(1))
    assert transport._conn is not None
    transport._conn.sock.shutdown(socket.SHUT_RDWR)  # the line drops, as when a relay restarts
    transport.send(_one(2))
    transport.close()
    assert [r.rcpt_tos for r in smtp_server.handler.received] == [
        ["r1@example.org"],
        ["r2@example.org"],
    ]
    assert smtp_server.handler.connections == 2


def test_smtp_rotates_connections_after_the_maximum(smtp_server: SMTPServer) -> None:
    transport = SMTPConnection(parse_smtp_url(smtp_server.url + "&max_per_connection=4"))
    for index in range(10):
        transport.send(_one(index))
    transport.close()
    assert smtp_server.handler.connections == 3


def test_smtp_replies_are_values_with_their_stage(smtp_server: SMTPServer) -> None:
    replies = iter(["451 4.3.0 try again later", "554 5.7.1 rejected as spam"])
    smtp_server.handler.reply = lambda envelope: next(replies, None)
    smtp_server.handler.refuse_rcpt = lambda a: (
        "550 5.1.1 no such user" if a == "r4@example.org" else None
    )
    transport = SMTPConnection(parse_smtp_url(smtp_server.url))
    got = [transport.send(_one(index)) for index in (1, 2, 3, 4)]
    transport.close()
    assert [(r.stage, r.code) for r in got] == [
        (Stage.DATA, 451),
        (Stage.DATA, 554),
        (Stage.DATA, 250),
        (Stage.RCPT, 550),
    ]
    assert got[1].status() == "5.7.1" and "spam" in got[1].text
    assert smtp_server.handler.connections == 1


def test_unreachable_server_is_a_reply_without_a_code() -> None:
    from tests.servers import free_port

    transport = SMTPConnection(parse_smtp_url(f"smtp://127.0.0.1:{free_port()}?timeout=2"))
    reply = transport.send(_one(1))
    assert reply.stage is Stage.CONNECT and reply.code is None and "cannot connect" in reply.text


def test_maildir_writes_readable_messages(tmp_path: Path) -> None:
    transport = open_transport(f"maildir:{tmp_path}/box")
    assert isinstance(transport, MaildirTransport)
    item = Outgoing(1, "a@example.org", "b@example.org", lambda: MESSAGE)
    assert accepted(deliver_one(transport, item))
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
    transport = SMTPConnection(parse_smtp_url(smtp_server.url))
    dotted = MESSAGE.replace(b"hello\r\n", b"hello\r\n.leading dot\r\n")
    built: list[int] = []
    outcomes: dict[int, object] = {}
    for item, outcome in transport.send_many(_items(20, dotted, built)):
        outcomes[item.key] = outcome
        done = sum(accepted(o) for o in outcomes.values())
        assert len(smtp_server.handler.received) == done
        assert built[-1] <= item.key + 1  # built no further ahead than the next message
    transport.close()
    assert list(outcomes) == list(range(20)) and built == list(range(20))
    assert (outcomes[3].stage, outcomes[3].code) == (Stage.RCPT, 550)  # type: ignore[attr-defined]
    assert (outcomes[11].stage, outcomes[11].code) == (Stage.RCPT, 550)  # type: ignore[attr-defined]
    assert (outcomes[7].stage, outcomes[7].code) == (Stage.DATA, 451)  # type: ignore[attr-defined]
    assert sum(accepted(o) for o in outcomes.values()) == 17
    assert len(smtp_server.handler.received) == 17
    assert smtp_server.handler.connections == 1
    assert b"\r\n.leading dot\r\n" in smtp_server.handler.received[0].data  # unstuffed


@pytest.mark.parametrize("pipelining", [True, False])
def test_stream_survives_a_dropped_connection(smtp_server: SMTPServer, pipelining: bool) -> None:
    smtp_server.handler.pipelining = pipelining
    smtp_server.handler.fault = lambda e: "DROP" if e.rcpt_tos == ["r5@example.org"] else None
    transport = SMTPConnection(parse_smtp_url(smtp_server.url))
    outcomes = dict((item.key, outcome) for item, outcome in transport.send_many(_items(12)))
    transport.close()
    assert list(outcomes) == list(range(12))
    lost = outcomes.pop(5)
    assert lost.code is None and "connection lost" in lost.text
    assert all(accepted(o) for o in outcomes.values())
    assert sorted(r.rcpt_tos[0] for r in smtp_server.handler.received) == sorted(
        f"r{i}@example.org" for i in range(12) if i != 5
    )
    assert smtp_server.handler.connections == 2


@pytest.mark.parametrize("pipelining", [True, False])
def test_stream_rotates_connections(smtp_server: SMTPServer, pipelining: bool) -> None:
    smtp_server.handler.pipelining = pipelining
    transport = SMTPConnection(parse_smtp_url(smtp_server.url + "&max_per_connection=4"))
    outcomes = [outcome for _, outcome in transport.send_many(_items(10))]
    transport.close()
    assert all(accepted(o) for o in outcomes) and len(outcomes) == 10
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
    transport = SMTPConnection(parse_smtp_url(smtp_server.url + "&max_per_connection=2"))
    outcomes = dict((item.key, outcome) for item, outcome in transport.send_many(_items(6)))
    transport.close()
    assert outcomes.pop(4).code is None  # cut twice: left for later
    assert all(accepted(o) for o in outcomes.values())
    assert sorted(r.rcpt_tos[0] for r in smtp_server.handler.received) == [
        f"r{i}@example.org" for i in (0, 1, 2, 3, 5)
    ]


def test_stream_left_early_does_not_reuse_the_connection(smtp_server: SMTPServer) -> None:
    transport = SMTPConnection(parse_smtp_url(smtp_server.url))
    stream = transport.send_many(_items(10))
    next(stream)
    next(stream)
    stream.close()  # the caller stopped (paused campaign): the next envelope was in flight
    assert transport._conn is None
    transport.send(_one(9))
    transport.close()
    assert [r.rcpt_tos[0] for r in smtp_server.handler.received] == [
        "r0@example.org",
        "r1@example.org",
        "r9@example.org",
    ]


def test_stream_to_an_unreachable_server_fails_every_item_at_once() -> None:
    from tests.servers import free_port

    transport = SMTPConnection(parse_smtp_url(f"smtp://127.0.0.1:{free_port()}?timeout=2"))
    outcomes = [outcome for _, outcome in transport.send_many(_items(5))]
    assert len(outcomes) == 5 and all(o.code is None for o in outcomes)


def test_without_pipelining_commands_go_one_at_a_time(smtp_server: SMTPServer) -> None:
    smtp_server.handler.pipelining = False
    smtp_server.handler.refuse_rcpt = lambda a: (
        "550 5.1.1 no such user" if a.startswith("r2@") else None
    )
    transport = SMTPConnection(parse_smtp_url(smtp_server.url))
    outcomes = [outcome for _, outcome in transport.send_many(_items(5))]
    assert transport._conn is not None and not transport._conn.has_extn("pipelining")
    transport.close()
    assert [(o.stage, o.code) for o in outcomes] == [
        (Stage.DATA, 250),
        (Stage.DATA, 250),
        (Stage.RCPT, 550),
        (Stage.DATA, 250),
        (Stage.DATA, 250),
    ]
    assert len(smtp_server.handler.received) == 4 and smtp_server.handler.connections == 1


@pytest.mark.parametrize("pipelining", [True, False])
def test_meanwhile_runs_once_per_message_before_its_outcome(
    smtp_server: SMTPServer, pipelining: bool
) -> None:
    # The caller's bulk writes (the journal fold) run while a message is with the server: in
    # a stream, after its data left and before its reply is read, so they cost no round trip.
    smtp_server.handler.pipelining = pipelining
    transport = SMTPConnection(parse_smtp_url(smtp_server.url))
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
        replies: list[Reply] = []
        transport.stream(
            _items(3), lambda _, r, got=replies: got.append(r), lambda: calls.append(1)
        )
        assert len(replies) == 3 and all(accepted(r) for r in replies)
    assert len(calls) == 6
