"""Transports: the only network step. smtp (a pool of persistent connections), maildir (embedded default), memory (tests)."""

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
