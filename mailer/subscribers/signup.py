"""A person subscribing themselves (the public signup form): always double opt-in. Who
unsubscribed or was erased may come back this way, once they confirm from their own mailbox;
who bounced or complained never does."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.org import OrgProfile
from mailer.store.models import StatementRow, Subscriber, utcnow
from mailer.subscribers.store import email_key, upsert
from mailer.subscribers.suppression import is_suppressed, lift
from mailer.subscribers.validate import SubscriberData

__all__ = ["REOPT_IN", "SIGNUP_SOURCE", "come_back", "offered_topics", "sign_up"]

SIGNUP_SOURCE = "signup form"
# Set on an unsubscribed person who signed up again: their confirmation lifts the unsubscribe.
REOPT_IN = "signup_again_at"
_RETURNING = ("unsubscribed", "erased")  # suppression reasons a confirmed signup may lift
_STATEMENTS_READ = 500  # the newest published statements whose topics are offered


def offered_topics(session: Session, org: OrgProfile) -> list[str]:
    """What a person may follow: the organisation's list (`topics` in mailer.toml), else the
    topics of published statements (never of drafts or embargoed ones)."""
    if org.topics:
        return list(org.topics)
    rows = session.scalars(
        select(StatementRow.topics)
        .where(StatementRow.published_at.is_not(None))
        .order_by(StatementRow.published_at.desc())
        .limit(_STATEMENTS_READ)
    )
    seen: dict[str, str] = {}
    for topics in rows:
        for topic in topics:
            seen.setdefault(str(topic).casefold(), str(topic))
    return sorted(seen.values(), key=str.casefold)


def sign_up(session: Session, data: SubscriberData) -> int | None:
    """Record a signup; the id of the person to send a confirmation to, or None when nothing
    may be sent (already subscribed, bounced, complained).

    What a stranger types never changes a subscribed or unsubscribed person; an unsubscribed
    one is only asked (by the confirmation email) whether they want to come back. A pending
    one (who has not confirmed yet, so has no consent to protect) gets the new choices and a
    new link; an erased address is a new pending person, kept off every campaign by its
    suppression entry until they confirm.
    """
    key = email_key(data.email)
    row = session.scalars(select(Subscriber).where(Subscriber.email_key == key)).one_or_none()
    if row is not None and row.status == "unsubscribed":
        if is_suppressed(session, key) not in (None, *_RETURNING):
            return None  # also bounced or complained since: never again
        row.attributes = {**row.attributes, REOPT_IN: utcnow().isoformat()}
        return row.id
    if row is not None and row.status != "pending":
        return None
    if row is None:
        reason = is_suppressed(session, key)
        if reason is not None and reason not in _RETURNING:
            return None
    result = upsert(
        session,
        data,
        consented=False,
        source=SIGNUP_SOURCE,
        method="signup",
        despite_suppression=True,
    )
    person = result.subscriber
    if person.status != "pending":
        return None
    person.consent_source = SIGNUP_SOURCE  # what the confirmation will record consent from
    return person.id


def come_back(session: Session, row: Subscriber) -> bool:
    """A confirmed signup of someone who unsubscribed or was erased: their suppression entry
    (for those reasons only) is lifted and their consent recorded as the signup's, now.
    False when the person has no signup to confirm (or bounced or complained since)."""
    if row.status == "unsubscribed" and REOPT_IN not in row.attributes:
        return False
    reason = is_suppressed(session, row.email_key)
    if reason is not None and reason not in _RETURNING:
        return False
    if reason is not None:
        lift(session, row.email_key)
    row.attributes = {k: v for k, v in row.attributes.items() if k != REOPT_IN}
    row.status = "subscribed"
    row.consent_at = utcnow()
    row.consent_method = "double-opt-in"
    row.consent_source = SIGNUP_SOURCE
    return True
