"""What a report may do to a subscriber, each a small named function: bounce, complain."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailer.store.models import Subscriber
from mailer.subscribers.suppression import suppress

__all__ = ["mark_bounced", "mark_complained"]

# Statuses a bounce replaces: an unsubscribed or complained person keeps the status that
# says what they asked for (the address is suppressed all the same).
_BOUNCEABLE = frozenset({"subscribed", "pending"})


def mark_bounced(session: Session, row: Subscriber) -> bool:
    """The address is dead: bounced and suppressed for every campaign; True when the status
    changed (idempotent)."""
    suppress(session, row.email_key, "bounced")
    if row.status not in _BOUNCEABLE:
        return False
    row.status = "bounced"
    return True


def mark_complained(session: Session, row: Subscriber) -> bool:
    """The person reported our mail as spam: complained (so unsubscribed) and suppressed at
    once; True when the status changed (idempotent)."""
    suppress(session, row.email_key, "complained")
    if row.status == "complained":
        return False
    row.status = "complained"
    row.attributes = {**row.attributes, "unsubscribed_via": "complaint"}
    return True
