"""The SMTP pool: many messages in flight per process, a relay's connection cap, SMTPUTF8 and
IDNA, one bad message never stopping the others; against real aiosmtpd servers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from mailer.transport.base import Outgoing
from mailer.transport.classify import Reply, Stage
from mailer.transport.factory import parse_smtp_url
from mailer.transport.pool import SMTPTransport
from tests.servers import SMTPServer, free_port

MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n"


def _items(addresses: list[str], build: Callable[[int], bytes] | None = None) -> list[Outgoing]:
    return [
        Outgoing(i, "bounces@example.org", a, (lambda i=i: build(i)) if build else lambda: MESSAGE)
        for i, a in enumerate(addresses)
    ]


def _stream(transport: SMTPTransport, items: list[Outgoing]) -> dict[int, Reply]:
    replies: dict[int, Reply] = {}
    lock = threading.Lock()

    def report(item: Outgoing, reply: Reply) -> None:
        with lock:
            assert item.key not in replies  # one reply per item
            replies[item.key] = reply

    transport.stream(items, report)
    return replies


def test_many_messages_in_flight_over_many_connections(smtp_server: SMTPServer) -> None:
    smtp_server.handler.delay = 0.05  # a relay that takes its time with each message
    transport = SMTPTransport(parse_smtp_url(smtp_server.url, connections=8))
    _stream(transport, _items([f"warm{i}@example.org" for i in range(40)]))  # finds its level
    smtp_server.handler.received.clear()
    smtp_server.handler.most_in_data = 0
    addresses = [f"r{i}@example.org" for i in range(80)]
    started = time.monotonic()
    replies = _stream(transport, _items(addresses))
    elapsed = time.monotonic() - started
    transport.close()
    assert sorted(replies) == list(range(80)) and all(r.code == 250 for r in replies.values())
    assert sorted(r.rcpt_tos[0] for r in smtp_server.handler.received) == sorted(addresses)
    assert smtp_server.handler.connections == 8
    assert smtp_server.handler.most_in_data == 8  # eight messages with the server at once
    assert elapsed < 80 * 0.05 / 3  # one connection would take 4 s


def test_connections_stay_open_across_streams(smtp_server: SMTPServer) -> None:
    smtp_server.handler.delay = 0.02
    transport = SMTPTransport(parse_smtp_url(smtp_server.url, connections=4))
    opened = []
    for round_ in range(3):
        _stream(transport, _items([f"r{round_}-{i}@example.org" for i in range(40)]))
        opened.append(smtp_server.handler.connections)
    transport.close()
    assert len(smtp_server.handler.received) == 120
    assert opened == [4, 4, 4]  # the level found is kept, and so are its connections


def test_a_relay_capping_connections_gets_what_it_accepts(smtp_server: SMTPServer) -> None:
    smtp_server.handler.max_connections = 3
    smtp_server.handler.delay = 0.05  # a distant relay: the pool wants many connections
    transport = SMTPTransport(parse_smtp_url(smtp_server.url, connections=10))
    replies = _stream(transport, _items([f"r{i}@example.org" for i in range(100)]))
    assert all(r.code == 250 for r in replies.values()) and len(replies) == 100
    assert smtp_server.handler.most_active <= 3
    assert smtp_server.handler.connections > 3  # it asked for more and was refused
    assert 1 <= transport.connections <= 3  # it keeps to the cap for a while
    _stream(transport, _items([f"s{i}@example.org" for i in range(10)]))
    transport.close()
    assert len(smtp_server.handler.received) == 110


def test_an_unreachable_relay_answers_every_item_at_once() -> None:
    transport = SMTPTransport(
        parse_smtp_url(f"smtp://127.0.0.1:{free_port()}?timeout=2", connections=6)
    )
    started = time.monotonic()
    replies = _stream(transport, _items([f"r{i}@example.org" for i in range(30)]))
    assert len(replies) == 30
    assert all(r.stage is Stage.CONNECT and r.code is None for r in replies.values())
    assert time.monotonic() - started < 5


def test_a_message_that_cannot_be_built_fails_alone(smtp_server: SMTPServer) -> None:
    def build(index: int) -> bytes:
        if index == 3:
            raise ValueError("a template bug")
        return MESSAGE

    transport = SMTPTransport(parse_smtp_url(smtp_server.url, connections=2))
    replies = _stream(transport, _items([f"r{i}@example.org" for i in range(8)], build))
    transport.close()
    assert replies[3].stage is Stage.BUILD and "a template bug" in replies[3].text
    assert all(replies[i].code == 250 for i in range(8) if i != 3)
    assert len(smtp_server.handler.received) == 7


INTERNATIONAL = ["zoë@exämple.org", "ana@exämple.org", "plain@example.org"]


@pytest.mark.parametrize("connections", [1, 3])
def test_smtputf8_where_the_server_offers_it(connections: int) -> None:
    server = SMTPServer(smtputf8=True).start()
    try:
        transport = SMTPTransport(parse_smtp_url(server.url, connections=connections))
        replies = _stream(transport, _items(INTERNATIONAL))
        transport.close()
    finally:
        server.stop()
    assert all(r.code == 250 for r in replies.values()), replies
    recipients = sorted(r.rcpt_tos[0] for r in server.handler.received)
    # The UTF-8 local part travels as UTF-8; an IDN domain with an ASCII local part as its
    # A-label, which every server takes.
    assert recipients == sorted(["zoë@exämple.org", "ana@xn--exmple-cua.org", "plain@example.org"])


@pytest.mark.parametrize("connections", [1, 3])
def test_without_smtputf8_idn_domains_go_as_a_labels_and_utf8_local_parts_fail_alone(
    smtp_server: SMTPServer, connections: int
) -> None:
    transport = SMTPTransport(parse_smtp_url(smtp_server.url, connections=connections))
    replies = _stream(transport, _items(INTERNATIONAL * 2))
    transport.close()
    assert len(replies) == 6
    for key in (0, 3):
        assert replies[key].stage is Stage.BUILD and "SMTPUTF8" in replies[key].text
    assert all(replies[k].code == 250 for k in (1, 2, 4, 5))
    assert sorted(r.rcpt_tos[0] for r in smtp_server.handler.received) == sorted(
        ["ana@xn--exmple-cua.org", "plain@example.org"] * 2
    )
