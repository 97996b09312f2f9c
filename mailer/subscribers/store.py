"""Upsert, find and list subscribers; an import never resubscribes someone who said no."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.errors import NotFound
from mailer.store.models import Subscriber, utcnow
from mailer.subscribers.validate import SubscriberData, normalise_email

__all__ = [
    "FINAL_STATUSES",
    "UpsertResult",
    "email_key",
    "find",
    "get_by_email",
    "status_counts",
    "upsert",
]

# Statuses only the person (or their mail server) can leave: imports never override them.
FINAL_STATUSES = frozenset({"unsubscribed", "bounced", "complained"})


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What an upsert did: 'created', 'updated' or 'kept' (a final status was protected)."""

    action: str
    subscriber: Subscriber


def upsert(session: Session, data: SubscriberData, *, consented: bool, source: str) -> UpsertResult:
    """Create or update a subscriber by normalised email."""
    row = session.scalars(
        select(Subscriber).where(Subscriber.email_key == email_key(data.email))
    ).one_or_none()
    created = row is None
    if row is None:
        row = Subscriber(
            email=data.email,
            email_key=email_key(data.email),
            name="",
            topics=[],
            lists=[],
            attributes={},
        )
        session.add(row)
        row.status = data.status or ("subscribed" if consented else "pending")
        if row.status == "subscribed":
            row.consent_at = utcnow()
            row.consent_source = source
    else:
        protected = row.status in FINAL_STATUSES
        if data.status and not protected and data.status != row.status:
            row.status = data.status
        elif data.status in FINAL_STATUSES and row.status != data.status:
            row.status = data.status  # a newer "no" always wins
        if consented and row.status == "pending":
            row.status = "subscribed"
            row.consent_at = utcnow()
            row.consent_source = source
    if data.name is not None:
        row.name = data.name
    if data.locale is not None:
        row.locale = data.locale
    if data.country is not None:
        row.country = data.country
    if data.topics is not None:
        row.topics = list(data.topics)
    if data.alert_pref is not None:
        row.alert_pref = data.alert_pref
    elif created:
        row.alert_pref = "alerts"
    if data.lists is not None:
        row.lists = sorted({*row.lists, *data.lists})
    session.flush()
    return UpsertResult("created" if created else "updated", row)


def email_key(address: str) -> str:
    """The lookup key of an address: case-folded whole (mail systems ignore local-part case)."""
    return address.casefold()


def get_by_email(session: Session, email: str) -> Subscriber:
    """The subscriber with this address (normalised first), or NotFound."""
    address = normalise_email(email)
    row = session.scalars(
        select(Subscriber).where(Subscriber.email_key == email_key(address))
    ).one_or_none()
    if row is None:
        raise NotFound("subscriber", address)
    return row


def find(
    session: Session, *, status: str | None = None, limit: int | None = None
) -> list[Subscriber]:
    """Subscribers in id order, optionally of one status."""
    query = select(Subscriber).order_by(Subscriber.id)
    if status:
        query = query.where(Subscriber.status == status)
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def status_counts(session: Session) -> dict[str, int]:
    """How many subscribers per status."""
    rows = session.execute(select(Subscriber.status, func.count()).group_by(Subscriber.status))
    return {status: count for status, count in rows}
