"""A recording transport for tests and dry runs: keeps every message in a list."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from mailer.transport.base import Delivered, Outgoing, SendResult, send_each

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
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, *, envelope_from: str, recipient: str, message: bytes) -> SendResult:
        """Record the message."""
        with self._lock:
            self.outbox.append(Sent(envelope_from, recipient, message))
        return SendResult(250, "recorded")

    def send_many(
        self, items: Iterable[Outgoing], meanwhile: Callable[[], None] | None = None
    ) -> Iterator[tuple[Outgoing, Delivered]]:
        """One `send` per item."""
        return send_each(self, items, meanwhile)

    def close(self) -> None:
        """Nothing to release."""
