"""Maildir outbox: each message a file in PATH/new, written atomically through PATH/tmp."""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from mailer.errors import TemporaryFailure
from mailer.transport.base import Delivered, Outgoing, SendResult, send_each

__all__ = ["MaildirTransport"]


class MaildirTransport:
    """The embedded default: no server, every message a file a mail client can open."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._counter = itertools.count()
        self._host = socket.gethostname().replace("/", "_").replace(":", "_")

    def _ensure(self) -> None:
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)

    def send(self, *, envelope_from: str, recipient: str, message: bytes) -> SendResult:
        """Write the message (with Return-Path and Delivered-To, as a local MTA would)."""
        # Unique per Maildir convention: time, microseconds, pid, counter, host.
        now = time.time()
        name = f"{int(now)}.M{int(now * 1e6) % 1_000_000}P{os.getpid()}Q{next(self._counter)}.{self._host}"
        data = (
            f"Return-Path: <{envelope_from}>\r\nDelivered-To: {recipient}\r\n".encode() + message
        ).replace(b"\r\n", b"\n")
        try:
            self._ensure()
            tmp = self.path / "tmp" / name
            tmp.write_bytes(data)
            os.replace(tmp, self.path / "new" / name)
        except OSError as exc:
            raise TemporaryFailure(
                f"maildir {self.path}: {exc.strerror}", recipient=recipient
            ) from exc
        return SendResult(250, f"stored as {name}")

    def send_many(
        self, items: Iterable[Outgoing], meanwhile: Callable[[], None] | None = None
    ) -> Iterator[tuple[Outgoing, Delivered]]:
        """One `send` per item."""
        return send_each(self, items, meanwhile)

    def close(self) -> None:
        """Nothing to release."""
