"""Real servers for the tests: a private redis-server and an aiosmtpd SMTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    def message(self) -> EmailMessage:
        """Parsed with the modern policy."""
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class RecordingHandler:
    """Accepts every message (or answers what `reply` says) and keeps it."""

    received: list[Received] = field(default_factory=list)
    connections: int = 0
    reply: Callable[[Any], str | None] | None = None
    delay: float = 0.0
    # (envelope) -> None (accept), an SMTP reply, or "DROP" to cut the connection mid-DATA.
    fault: Callable[[Any], str | None] | None = None
    attempts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Offer PIPELINING, as Postfix and most relays do (aiosmtpd reads pipelined commands
    # in order but does not say so); False tests the one-command-at-a-time path.
    pipelining: bool = True

    # (address) -> None (accept), the reply refusing that recipient at RCPT, or "DROP".
    refuse_rcpt: Callable[[str], str | None] | None = None
    # (address) -> None (accept) or the reply refusing that sender at MAIL FROM.
    refuse_mail: Callable[[str], str | None] | None = None
    # Connections at once beyond which a new one is refused at the greeting (421), as relays do.
    max_connections: int | None = None
    active: int = 0
    most_active: int = 0  # the most connections open at once
    in_data: int = 0
    most_in_data: int = 0  # the most messages the server was storing at once

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        answer = self.refuse_mail(address) if self.refuse_mail is not None else None
        if answer is not None:
            return answer
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        answer = self.refuse_rcpt(address) if self.refuse_rcpt is not None else None
        if answer == "DROP":
            server.transport.close()  # the line drops before the data
            return "421 4.4.2 connection dropped"
        if answer is not None:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if not self.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.in_data += 1
            self.most_in_data = max(self.most_in_data, self.in_data)
        try:
            return await self._data(server, envelope)
        finally:
            with self.lock:
                self.in_data -= 1

    async def _data(self, server: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.attempts[rcpt] = self.attempts.get(rcpt, 0) + 1
        if self.fault is not None:
            answer = self.fault(envelope)
            if answer == "DROP":
                server.transport.close()
                return "421 4.4.2 connection dropped"
            if answer is not None:
                return answer
        if self.reply is not None:
            answer = self.reply(envelope)
            if answer is not None:
                return answer
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 2.0.0 OK queued"


class _CountingController(Controller):  # type: ignore[misc]
    """Counts the TCP connections clients open."""

    def factory(self) -> SMTP:
        handler = self.handler

        class CountingSMTP(SMTP):  # type: ignore[misc]
            refused = False

            def connection_made(self, transport: Any) -> None:
                with handler.lock:
                    handler.connections += 1
                    full = (
                        handler.max_connections is not None
                        and handler.active >= handler.max_connections
                    )
                    if not full:
                        handler.active += 1
                        handler.most_active = max(handler.most_active, handler.active)
                if full:
                    self.refused = True
                    transport.write(b"421 4.7.0 Too many concurrent SMTP connections\r\n")
                    transport.close()
                    return
                super().connection_made(transport)

            def connection_lost(self, exc: Exception | None) -> None:
                if not self.refused:
                    with handler.lock:
                        handler.active -= 1
                    super().connection_lost(exc)

        return CountingSMTP(self.handler, **self.SMTP_kwargs)


class SMTPServer:
    """aiosmtpd in a thread on 127.0.0.1 and a free port."""

    def __init__(self, *, smtputf8: bool = False) -> None:
        self.handler = RecordingHandler()
        self.port = free_port()
        self.controller = _CountingController(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            data_size_limit=None,
            enable_SMTPUTF8=smtputf8,
        )

    @property
    def url(self) -> str:
        """The MAILER_TRANSPORT_URL that reaches this server."""
        return f"smtp://127.0.0.1:{self.port}?timeout=10"

    def start(self) -> SMTPServer:
        """Listen (the controller's own readiness probe is not counted)."""
        self.controller.start()
        time.sleep(0.05)
        with self.handler.lock:
            self.handler.connections = 0
        return self

    def stop(self) -> None:
        """Stop listening."""
        self.controller.stop()

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Received]:
        """Block until `count` messages arrived; fail the test when the timeout passes first."""
        deadline = time.monotonic() + timeout
        while len(self.handler.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(self.handler.received)} of {count} messages arrived in {timeout} s"
                )
            time.sleep(0.02)
        return list(self.handler.received)


class RedisServer:
    """A private redis-server on a free port, keeping nothing on disk."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="mailer-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """A redis:// URL for this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start and wait until it answers PING."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        """Stop the server now, keeping its port for a restart (it keeps nothing on disk)."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        """Terminate the server."""
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
