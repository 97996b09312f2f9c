"""The transport protocol: hand messages to the next hop, say what it answered for each."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from mailer.errors import DeliveryError

__all__ = [
    "DATA_END",
    "Delivered",
    "Outgoing",
    "SendResult",
    "Transport",
    "dot_stuffed",
    "send_each",
]

DATA_END = b".\r\n"  # the line that ends SMTP DATA, after a message ending with a line break


@dataclass(frozen=True, slots=True)
class SendResult:
    """The accepting hop's reply (250 and its text for SMTP)."""

    code: int
    reply: str


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message of a stream. Its bytes are built when the transport is ready for them, so
    that building overlaps with the server's work on the message before."""

    key: int
    envelope_from: str
    recipient: str
    build: Callable[[], bytes]
    # The same message as SMTP DATA sends it (dot-stuffed, ended by DATA_END), when the
    # composer can make it cheaper than stuffing `build`'s 20 KB per message.
    data: Callable[[], bytes] | None = None


def dot_stuffed(piece: bytes) -> bytes:
    """RFC 5321 4.5.2 for bytes that begin a line: each line starting with "." gets one more
    (what smtplib.data does, with a regular expression ten times slower)."""
    if b"\n." in piece:
        piece = piece.replace(b"\n.", b"\n..")
    return b"." + piece if piece.startswith(b".") else piece


# What the hop said about one message: accepted, or the failure (never raised in a stream).
Delivered = SendResult | DeliveryError


class Transport(Protocol):
    """Delivers message bytes; raises TemporaryFailure or PermanentFailure when not accepted."""

    def send(self, *, envelope_from: str, recipient: str, message: bytes) -> SendResult:
        """Deliver one message to one recipient."""
        ...

    def send_many(
        self, items: Iterable[Outgoing], meanwhile: Callable[[], None] | None = None
    ) -> Iterator[tuple[Outgoing, Delivered]]:
        """Deliver each item, yielding its outcome before the next message's data leaves, so
        that the caller can record an accepted message before sending another; `meanwhile`
        runs once per message while the server works on it (the caller's bulk writes)."""
        ...

    def close(self) -> None:
        """Release connections; the transport may be used again afterwards."""
        ...


def send_each(
    transport: Transport, items: Iterable[Outgoing], meanwhile: Callable[[], None] | None = None
) -> Iterator[tuple[Outgoing, Delivered]]:
    """`send_many` for transports with nothing to overlap: one `send` per item (`meanwhile`
    before each)."""
    for item in items:
        if meanwhile is not None:
            meanwhile()
        try:
            yield (
                item,
                transport.send(
                    envelope_from=item.envelope_from, recipient=item.recipient, message=item.build()
                ),
            )
        except DeliveryError as exc:
            yield item, exc
