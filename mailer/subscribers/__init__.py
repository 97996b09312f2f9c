"""Subscribers: who gets what, in which language, with what consent."""

from mailer.subscribers.validate import STATUSES, SubscriberData, normalise_email, validate_row

__all__ = ["STATUSES", "SubscriberData", "normalise_email", "validate_row"]
