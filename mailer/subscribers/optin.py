"""Double opt-in's second step: the confirm link turns a pending subscriber into a subscribed one."""

from __future__ import annotations

import datetime as dt

from mailer.runtime import Runtime
from mailer.store.models import Subscriber, utcnow
from mailer.subscribers.signup import REOPT_IN, come_back
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
            # Who left or was erased, and signed up again: only their confirmation lifts it,
            # the link of that signup's email, never an older one (from a gateway's log, a
            # forwarded email, a seized phone) after a stranger filled in the form.
            if not _issued_since_signup(rt, token, row):
                return None
            return row if come_back(session, row) or row.status == "subscribed" else None
        if row.status == "pending":
            row.status = "subscribed"
            row.consent_at = utcnow()
            row.consent_method = "double-opt-in"
            row.consent_source = row.consent_source or "confirmation email"
        return row


def _issued_since_signup(rt: Runtime, token: str, row: Subscriber) -> bool:
    """True when the confirmation token was made after the row's latest signup (its re-opt-in
    request, else the row's creation: an erased person's id may be given again)."""
    issued = rt.signer.issued_at(token, CONFIRM_MAX_AGE)
    if issued is None:
        return False
    asked = row.attributes.get(REOPT_IN)
    since = dt.datetime.fromisoformat(asked) if isinstance(asked, str) else row.created_at
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    # Tokens count whole seconds: one made in the second of the request is after it.
    return issued >= int(since.timestamp())
