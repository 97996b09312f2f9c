"""A person subscribing themselves (the public signup form): always double opt-in, and nobody
who left, bounced, complained or was erased comes back this way."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.org import OrgProfile
from mailer.store.models import StatementRow, Subscriber
from mailer.subscribers.store import email_key, upsert
from mailer.subscribers.suppression import is_suppressed
from mailer.subscribers.validate import SubscriberData

__all__ = ["SIGNUP_SOURCE", "offered_topics", "sign_up"]

SIGNUP_SOURCE = "signup form"
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
    """Record a signup; the id of the pending person to send a confirmation to, or None when
    nothing may be sent (already subscribed, unsubscribed, bounced, complained, erased).

    What a stranger types never changes a subscribed person; a pending one (who has not
    confirmed yet, so has no consent to protect) gets the new choices and a new link.
    """
    key = email_key(data.email)
    row = session.scalars(select(Subscriber).where(Subscriber.email_key == key)).one_or_none()
    if row is None and is_suppressed(session, key):
        return None
    if row is not None and row.status != "pending":
        return None
    result = upsert(session, data, consented=False, source=SIGNUP_SOURCE, method="signup")
    person = result.subscriber
    if person.status != "pending":
        return None
    person.consent_source = SIGNUP_SOURCE  # what the confirmation will record consent from
    return person.id
