"""Soft bounces that add up: N soft-bounced messages spread over D days, with no delivery
between them, make an address bounced (N and D from `mailer.toml`, 3 and 7 by default).

Counted per message, not per report: a relay that writes "delayed" twice and "failed" once
about the same message gives one soft bounce. Each is dated by when its message was sent
(the ledger's `sent_at`; the report's arrival when the ledger has no row), so that reports
arriving out of order count in the order of the mail. What resets the count is a
delivery after the soft bounce: a report that says delivered, an automatic reply (it came
from the mailbox), or a message sent at least QUIET_DAYS ago that brought no report back
(relays give up on a message after five days, Postfix's `maximal_queue_lifetime`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.store.models import BounceEvent, Delivery

__all__ = ["QUIET_DAYS", "SoftBounces", "soft_bounces"]

QUIET_DAYS = 7
_FAILURES = frozenset({"soft", "hard", "policy"})
_SUCCESSES = frozenset({"delivered", "auto-reply"})


@dataclass(frozen=True, slots=True)
class SoftBounces:
    """The soft bounces that count now, and the days between the first and the last."""

    count: int
    days: float

    def reached(self, limit: int, days: int) -> bool:
        """True when they make the address bounced."""
        return self.count >= limit and self.days >= days


def soft_bounces(
    session: Session,
    subscriber_id: int,
    now: dt.datetime,
    *,
    pending: Iterable[tuple[str, int | None, dt.datetime]] = (),
) -> SoftBounces:
    """The subscriber's soft bounces since their last delivery; `pending`: (kind, campaign,
    when) of events not written yet."""
    stored = session.execute(
        select(BounceEvent.id, BounceEvent.kind, BounceEvent.campaign_id, BounceEvent.created_at)
        .where(BounceEvent.subscriber_id == subscriber_id)
        .where(BounceEvent.kind.in_(_FAILURES | _SUCCESSES))
        .where(BounceEvent.effect != "unverified")  # reports that prove nothing add nothing
    ).all()
    events: list[tuple[object, str, int | None, dt.datetime]] = [
        (event_id, kind, campaign, at) for event_id, kind, campaign, at in stored
    ]
    events += [(f"pending {n}", kind, c, at) for n, (kind, c, at) in enumerate(pending)]
    sent = {
        campaign: at
        for campaign, at in session.execute(
            select(Delivery.campaign_id, Delivery.sent_at).where(
                Delivery.subscriber_id == subscriber_id, Delivery.status == "sent"
            )
        )
        if at is not None
    }

    def dated(campaign: int | None, arrived: dt.datetime) -> dt.datetime:
        return sent.get(campaign, arrived) if campaign is not None else arrived

    reported = {campaign for _, kind, campaign, _ in events if kind in _FAILURES}
    quiet_before = now - dt.timedelta(days=QUIET_DAYS)
    successes = [dated(c, at) for _, kind, c, at in events if kind in _SUCCESSES] + [
        at for campaign, at in sent.items() if campaign not in reported and at <= quiet_before
    ]
    reset = max(successes, default=None)
    messages: dict[object, dt.datetime] = {}
    for event_id, kind, campaign, arrived in events:
        when = dated(campaign, arrived)
        if kind == "soft" and (reset is None or when > reset):
            key = campaign if campaign is not None else f"event {event_id}"
            messages[key] = min(when, messages.get(key, when))
    if not messages:
        return SoftBounces(0, 0.0)
    first, last = min(messages.values()), max(messages.values())
    return SoftBounces(len(messages), (last - first).total_seconds() / 86400)
