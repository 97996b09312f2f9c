"""Subscribers: who gets what, in which language, with what consent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailer.exports import load_export

if TYPE_CHECKING:
    from mailer.subscribers.validate import STATUSES, SubscriberData, normalise_email, validate_row

__all__ = [
    "STATUSES",
    "SubscriberData",
    "normalise_email",
    "validate_row",
]

_EXPORTS = {
    "STATUSES": "mailer.subscribers.validate",
    "SubscriberData": "mailer.subscribers.validate",
    "normalise_email": "mailer.subscribers.validate",
    "validate_row": "mailer.subscribers.validate",
}


def __getattr__(name: str) -> object:
    return load_export(__name__, _EXPORTS, name)
