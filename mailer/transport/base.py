"""The transport protocol: hand one message to the next hop, say what it answered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["SendResult", "Transport"]


@dataclass(frozen=True, slots=True)
class SendResult:
    """The accepting hop's reply (250 and its text for SMTP)."""

    code: int
    reply: str


class Transport(Protocol):
    """Delivers message bytes; raises TemporaryFailure or PermanentFailure when not accepted."""

    def send(self, *, envelope_from: str, recipient: str, message: bytes) -> SendResult:
        """Deliver one message to one recipient."""
        ...

    def close(self) -> None:
        """Release connections; the transport may be used again afterwards."""
        ...
