"""Maildir outbox: each message a file in PATH/new, written atomically through PATH/tmp."""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from mailer.private import private_dir, write_private
from mailer.transport.base import Outgoing, Report, stream_each
from mailer.transport.classify import Reply, Stage

__all__ = ["MaildirTransport"]


class MaildirTransport:
    """The embedded default: no server, every message a file a mail client can open."""

    connections = 1

    def __init__(self, path: Path) -> None:
        self.path = path
        self._counter = itertools.count()
        self._host = socket.gethostname().replace("/", "_").replace(":", "_")

    def _ensure(self) -> None:
        # Each message holds a person's address and working personal links: the owner's only.
        for sub in ("tmp", "new", "cur"):
            private_dir(self.path / sub)

    def send(self, item: Outgoing) -> Reply:
        """Write the message (with Return-Path and Delivered-To, as a local MTA would)."""
        message = item.build()
        # Unique per Maildir convention: time, microseconds, pid, counter, host.
        now = time.time()
        name = f"{int(now)}.M{int(now * 1e6) % 1_000_000}P{os.getpid()}Q{next(self._counter)}.{self._host}"
        data = (
            f"Return-Path: <{item.envelope_from}>\r\nDelivered-To: {item.recipient}\r\n".encode()
            + message
        ).replace(b"\r\n", b"\n")
        try:
            self._ensure()
            tmp = self.path / "tmp" / name
            write_private(tmp, data)
            os.replace(tmp, self.path / "new" / name)
        except OSError as exc:
            return Reply(Stage.CONNECT, None, f"maildir {self.path}: {exc.strerror}")
        return Reply(Stage.DATA, 250, f"stored as {name}")

    def stream(
        self,
        items: Iterable[Outgoing],
        report: Report,
        meanwhile: Callable[[], None] | None = None,
    ) -> None:
        """One file per item."""
        stream_each(self.send, items, report, meanwhile)

    def close(self) -> None:
        """Nothing to release."""
