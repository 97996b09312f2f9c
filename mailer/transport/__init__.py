"""Transports: the only network step. smtp (pooled, persistent), maildir (embedded default), memory (tests)."""

from mailer.transport.base import SendResult, Transport
from mailer.transport.classify import Outcome, classify
from mailer.transport.factory import open_transport

__all__ = ["Outcome", "SendResult", "Transport", "classify", "open_transport"]
