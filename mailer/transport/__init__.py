"""Transports: the only network step. smtp (a pool of persistent connections), maildir (embedded default), memory (tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailer.exports import load_export

if TYPE_CHECKING:
    from mailer.transport.base import Outgoing, Transport
    from mailer.transport.classify import Blame, Outcome, Reply, Stage, Verdict, judge
    from mailer.transport.factory import open_transport

__all__ = [
    "Blame",
    "Outcome",
    "Outgoing",
    "Reply",
    "Stage",
    "Transport",
    "Verdict",
    "judge",
    "open_transport",
]

_EXPORTS = {
    "Outgoing": "mailer.transport.base",
    "Transport": "mailer.transport.base",
    "Blame": "mailer.transport.classify",
    "Outcome": "mailer.transport.classify",
    "Reply": "mailer.transport.classify",
    "Stage": "mailer.transport.classify",
    "Verdict": "mailer.transport.classify",
    "judge": "mailer.transport.classify",
    "open_transport": "mailer.transport.factory",
}


def __getattr__(name: str) -> object:
    return load_export(__name__, _EXPORTS, name)
