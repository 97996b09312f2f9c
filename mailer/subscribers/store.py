"""Upsert, find and list subscribers; an import never resubscribes someone who said no."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.errors import NotFound, SubscriberRowError
from mailer.store.models import Subscriber, utcnow
from mailer.subscribers.segment_sql import keys_of
from mailer.subscribers.suppression import address_hash, hasher, is_suppressed
from mailer.subscribers.validate import SubscriberData, email_key, normalise_email

__all__ = [
    "FINAL_STATUSES",
    "MERGED_COLUMNS",
    "UpsertResult",
    "email_key",
    "find_by_email",
    "get_by_email",
    "merge",
    "status_counts",
    "upsert",
]

# Statuses only the person (or their mail server) can leave: imports never override them.
FINAL_STATUSES = frozenset({"unsubscribed", "bounced", "complained"})
MERGED_COLUMNS = (
    "name",
    "locale",
    "country",
    "topics",
    "topic_keys",
    "alert_pref",
    "lists",
    "list_keys",
    "status",
    "consent_at",
    "consent_source",
    "consent_method",
    "attributes",
)


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What an upsert did: 'created' or 'updated'."""

    action: str
    subscriber: Subscriber


def merge(
    existing: Mapping[str, Any] | None,
    data: SubscriberData,
    *,
    consented: bool,
    source: str,
    method: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """The stored values after applying a record: pure, shared by `add` and bulk imports.

    A record never lifts a final status (unsubscribed, bounced, complained); a newer
    "no" always wins; `consented` turns new and pending people into subscribers, and only
    it does: a record saying "subscribed" without it is read as "not said" (double opt-in).
    """
    old = (
        dict(existing)
        if existing
        else {
            "name": "",
            "locale": None,
            "country": None,
            "topics": [],
            "alert_pref": "alerts",
            "lists": [],
            "status": None,
            "consent_at": None,
            "consent_source": None,
            "consent_method": None,
            "attributes": {},
        }
    )
    requested = data.status
    if requested == "subscribed" and not consented:
        requested = None
    status = old["status"]
    if status is None:
        status = requested or ("subscribed" if consented else "pending")
    elif requested in FINAL_STATUSES or (requested and status not in FINAL_STATUSES):
        status = requested
    if consented and status == "pending":
        status = "subscribed"
    values = {
        "name": data.name if data.name is not None else old["name"],
        "locale": data.locale if data.locale is not None else old["locale"],
        "country": data.country if data.country is not None else old["country"],
        "topics": list(data.topics) if data.topics is not None else old["topics"],
        "alert_pref": data.alert_pref or old["alert_pref"],
        "lists": sorted({*old["lists"], *(data.lists or ())}),
        "status": status,
        "consent_at": old["consent_at"],
        "consent_source": old["consent_source"],
        "consent_method": old["consent_method"],
        "attributes": {**old["attributes"], **dict(data.attributes)},
    }
    if status == "subscribed" and old["consent_at"] is None:
        # A file that carries its consent record (an export) keeps it; otherwise: now, here.
        values.update(
            consent_at=data.consent_at or now,
            consent_source=data.consent_source or source,
            consent_method=data.consent_method or method,
        )
    elif status in FINAL_STATUSES and old["consent_at"] is None and data.consent_at:
        # The history of someone who has left: it lets no mail through.
        values.update(
            consent_at=data.consent_at,
            consent_source=data.consent_source,
            consent_method=data.consent_method,
        )
    values["topic_keys"] = keys_of(values["topics"])
    values["list_keys"] = keys_of(values["lists"])
    return values


def upsert(
    session: Session,
    data: SubscriberData,
    *,
    consented: bool,
    source: str,
    method: str = "cli",
    despite_suppression: bool = False,
) -> UpsertResult:
    """Create or update one subscriber by address; a suppressed address cannot come back
    (`despite_suppression`: a signup, made pending and kept suppressed until confirmed)."""
    key = email_key(data.email)
    row = session.scalars(select(Subscriber).where(Subscriber.email_key == key)).one_or_none()
    now = utcnow()
    if row is None:
        reason = None if despite_suppression else is_suppressed(session, key)
        if reason:
            raise SubscriberRowError(
                f"on the suppression list ({reason}): not added", field="email"
            )
        values = merge(None, data, consented=consented, source=source, method=method, now=now)
        row = Subscriber(
            email=data.email, email_key=key, email_hash=address_hash(hasher(session), key), **values
        )
        session.add(row)
        session.flush()
        return UpsertResult("created", row)
    current = {column: getattr(row, column) for column in MERGED_COLUMNS}
    for column, value in merge(
        current, data, consented=consented, source=source, method=method, now=now
    ).items():
        setattr(row, column, value)
    session.flush()
    return UpsertResult("updated", row)


def find_by_email(session: Session, email: str) -> Subscriber | None:
    """The subscriber with this address (normalised first), or None."""
    address = normalise_email(email)
    return session.scalars(
        select(Subscriber).where(Subscriber.email_key == email_key(address))
    ).one_or_none()


def get_by_email(session: Session, email: str) -> Subscriber:
    """The subscriber with this address (normalised first), or NotFound."""
    address = normalise_email(email)
    row = session.scalars(
        select(Subscriber).where(Subscriber.email_key == email_key(address))
    ).one_or_none()
    if row is None:
        raise NotFound("subscriber", address)
    return row


def status_counts(session: Session) -> dict[str, int]:
    """How many subscribers per status."""
    rows = session.execute(select(Subscriber.status, func.count()).group_by(Subscriber.status))
    return {status: count for status, count in rows}
