"""The recorded events as the CLI shows them: the list, one person's, one campaign's counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, distinct, func, or_, select
from sqlalchemy.orm import Session

from mailer.store.models import BounceEvent, Delivery, InboundReport, Subscriber

__all__ = [
    "COUNTED",
    "bounce_counts",
    "bounce_counts_by",
    "describe_event",
    "events_for",
    "list_events",
]

# The counts `campaigns status` adds, per locale and in total.
COUNTED = ("bounced", "complained", "soft_bounced", "refused")


def describe_event(event: BounceEvent, email: str | None, source: str | None) -> dict[str, Any]:
    """One event as the JSON outputs show it."""
    return {
        "id": event.id,
        "at": event.created_at.isoformat(),
        "kind": event.kind,
        "effect": event.effect,
        "email": email,
        "matched": email is not None,
        "matched_by": event.matched_by,
        "recipient": event.recipient,  # the address an unmatched report names
        "campaign": event.campaign_id,
        "status": event.status,
        "code": event.code,
        "diagnostic": event.diagnostic,
        "reason": event.reason,
        "blame": event.blame,
        "source": source,
    }


def list_events(
    session: Session, *, limit: int = 100, unmatched: bool = False
) -> list[dict[str, Any]]:
    """The newest events first (only those that matched nobody, with `unmatched`)."""
    query = (
        select(BounceEvent, Subscriber.email, InboundReport.source)
        .outerjoin(Subscriber, Subscriber.id == BounceEvent.subscriber_id)
        .outerjoin(InboundReport, InboundReport.digest == BounceEvent.report_digest)
        .order_by(BounceEvent.created_at.desc(), BounceEvent.id.desc())
        .limit(limit)
    )
    if unmatched:
        query = query.where(BounceEvent.subscriber_id.is_(None))
    return [describe_event(e, email, source) for e, email, source in session.execute(query)]


def events_for(
    session: Session, subscriber_id: int, *, campaign_id: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """One person's events, newest first (of one campaign, when given)."""
    query = (
        select(BounceEvent, Subscriber.email, InboundReport.source)
        .join(Subscriber, Subscriber.id == BounceEvent.subscriber_id)
        .outerjoin(InboundReport, InboundReport.digest == BounceEvent.report_digest)
        .where(BounceEvent.subscriber_id == subscriber_id)
        .order_by(BounceEvent.created_at.desc(), BounceEvent.id.desc())
        .limit(limit)
    )
    if campaign_id is not None:
        query = query.where(BounceEvent.campaign_id == campaign_id)
    return [describe_event(e, email, source) for e, email, source in session.execute(query)]


def bounce_counts(session: Session, campaign_id: int) -> dict[str, dict[str, int]]:
    """People per locale whose mail of this campaign bounced (hard, or soft bounces that
    added up), who complained, who soft-bounced, and whose mail was refused by policy."""
    return {
        key[0]: counts
        for key, counts in bounce_counts_by(session, campaign_id, Delivery.locale).items()
    }


def bounce_counts_by(
    session: Session, campaign_id: int, *keys: Any
) -> dict[tuple[str, ...], dict[str, int]]:
    """`bounce_counts` grouped by the given columns (of deliveries or subscribers)."""
    category = case(
        (or_(BounceEvent.kind == "hard", BounceEvent.effect == "bounced"), "bounced"),
        (BounceEvent.kind == "complaint", "complained"),
        (BounceEvent.kind == "soft", "soft_bounced"),
        (BounceEvent.kind == "policy", "refused"),
        else_="",
    )
    rows = session.execute(
        select(*keys, category, func.count(distinct(BounceEvent.subscriber_id)))
        .join(
            Delivery,
            (Delivery.campaign_id == BounceEvent.campaign_id)
            & (Delivery.subscriber_id == BounceEvent.subscriber_id),
        )
        .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(BounceEvent.campaign_id == campaign_id, BounceEvent.effect != "unverified")
        .group_by(*keys, category)
    ).all()
    counts: dict[tuple[str, ...], dict[str, int]] = {}
    for *values, name, count in rows:
        if name:
            key = tuple(v or "" for v in values)
            counts.setdefault(key, dict.fromkeys(COUNTED, 0))[name] += count
    return counts
