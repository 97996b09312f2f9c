"""Double opt-in's second step: the confirm link turns a pending subscriber into a subscribed one."""

from __future__ import annotations

from mailer.runtime import Runtime
from mailer.store.models import Subscriber, utcnow
from mailer.subscribers.signup import come_back
from mailer.subscribers.suppression import is_suppressed

__all__ = ["CONFIRM_MAX_AGE", "confirm"]

CONFIRM_MAX_AGE = 14 * 24 * 3600  # a confirmation link works for two weeks


def confirm(rt: Runtime, token: str) -> Subscriber | None:
    """Turn a pending subscriber into a subscribed one; None for a bad or expired token."""
    subscriber_id = rt.signer.verify_expiring(token, CONFIRM_MAX_AGE)
    if subscriber_id is None:
        return None
    with rt.db.session() as session:
        row = session.get(Subscriber, subscriber_id)
        if row is None:
            return None
        if row.status == "unsubscribed" or (
            row.status == "pending" and is_suppressed(session, row.email_key)
        ):
            # Who left or was erased, and signed up again: only their confirmation lifts it.
            return row if come_back(session, row) or row.status == "subscribed" else None
        if row.status == "pending":
            row.status = "subscribed"
            row.consent_at = utcnow()
            row.consent_method = "double-opt-in"
            row.consent_source = row.consent_source or "confirmation email"
        return row
