"""A recording transport for tests and dry runs: keeps every message in a list."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mailer.transport.base import Outgoing, Report, stream_each
from mailer.transport.classify import Reply, Stage

__all__ = ["MemoryTransport", "Sent"]


@dataclass(frozen=True, slots=True)
class Sent:
    """One message handed to the memory transport."""

    envelope_from: str
    recipient: str
    message: bytes


@dataclass
class MemoryTransport:
    """Accepts everything and remembers it."""

    outbox: list[Sent] = field(default_factory=list)
    connections: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, item: Outgoing) -> Reply:
        """Record the message."""
        message = item.build()
        with self._lock:
            self.outbox.append(Sent(item.envelope_from, item.recipient, message))
        return Reply(Stage.DATA, 250, "recorded")

    def stream(
        self,
        items: Iterable[Outgoing],
        report: Report,
        meanwhile: Callable[[], None] | None = None,
    ) -> None:
        """One `send` per item."""
        stream_each(self.send, items, report, meanwhile)

    def close(self) -> None:
        """Nothing to release."""
