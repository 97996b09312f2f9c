"""The transport protocol: hand messages to the next hop and report what it said of each.

A transport never raises for a refused message: it reports a `Reply` (the stage, the code,
the enhanced status, the text) and `classify.judge` says what it means. One message type,
`Outgoing`, carries campaign sends, test sends and confirmations alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from mailer.transport.classify import Reply, Stage
from mailer.transport.wire import wire_form

__all__ = ["Outgoing", "Report", "Transport", "build_failure", "deliver_one", "stream_each"]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to one recipient. Its bytes are built when the transport is ready for them,
    so that building overlaps with the server's work on the message before."""

    key: int
    envelope_from: str
    recipient: str
    build: Callable[[], bytes]
    # The same message as SMTP DATA sends it (dot-stuffed, ended by the final dot), when the
    # composer can make it cheaper than stuffing `build`'s 20 KB per message.
    data: Callable[[], bytes] | None = None

    def wire(self) -> bytes:
        """The message as DATA sends it."""
        return self.data() if self.data is not None else wire_form(self.build())


# Called once per item with the next hop's reply, from the thread of the connection that
# sent it, before that connection sends another message: the caller records an accepted
# message there, so that a crash costs at most one duplicate per connection.
Report = Callable[[Outgoing, Reply], None]


def build_failure(exc: BaseException) -> Reply:
    """The reply standing for a message that could not be built or addressed here."""
    return Reply(Stage.BUILD, None, f"cannot build the message: {type(exc).__name__}: {exc}"[:300])


class Transport(Protocol):
    """Delivers messages and reports each reply."""

    @property
    def connections(self) -> int:
        """How many messages it keeps in flight at once."""
        ...

    def stream(
        self,
        items: Iterable[Outgoing],
        report: Report,
        meanwhile: Callable[[], None] | None = None,
    ) -> None:
        """Deliver every item (the iterable may be read from several threads, one item at a
        time), calling `report` once per item; `meanwhile` runs in the caller's thread while
        messages are with the server (the caller's bulk writes). Returns when all are done."""
        ...

    def close(self) -> None:
        """Release connections; the transport may be used again afterwards."""
        ...


def stream_each(
    send_one: Callable[[Outgoing], Reply],
    items: Iterable[Outgoing],
    report: Report,
    meanwhile: Callable[[], None] | None = None,
) -> None:
    """`stream` for transports with nothing to overlap: one message at a time, `meanwhile`
    before each; a message that cannot be built fails alone."""
    for item in items:
        if meanwhile is not None:
            meanwhile()
        try:
            reply = send_one(item)
        except Exception as exc:  # a bad message fails alone, never the stream
            reply = build_failure(exc)
        report(item, reply)


def deliver_one(transport: Transport, item: Outgoing) -> Reply:
    """Send one message (a test send, a confirmation) and return the hop's reply."""
    replies: list[Reply] = []
    transport.stream((item,), lambda _, reply: replies.append(reply))
    return replies[0] if replies else Reply(Stage.CONNECT, None, "nothing was sent")
