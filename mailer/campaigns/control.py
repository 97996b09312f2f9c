"""Pause, resume and cancel campaigns; the error-rate brake that pauses one by itself."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.ledger import DeliveryState, campaigns, deliveries
from mailer.store.models import Delivery

__all__ = ["cancel", "check_error_rate", "pause", "resume"]

_MIN_SAMPLE = 50


def pause(session: Session, campaign_id: int, *, note: str | None = None) -> None:
    """Stop sending; workers notice within a quarter of a second and give their rows back."""
    campaigns.pause(session, campaign_id, note=note)


def resume(session: Session, campaign_id: int) -> None:
    """Back to running (from paused or missed); the caller queues the pending rows again."""
    campaigns.resume(session, campaign_id)


def cancel(session: Session, campaign_id: int) -> int:
    """Never send the rest: pending and held rows become cancelled; returns how many."""
    campaigns.cancel(session, campaign_id)
    return deliveries.cancel_open(session, campaign_id)


def check_error_rate(session: Session, campaign_id: int, threshold: float) -> bool:
    """Pause a running campaign whose failures pass the threshold; True when it did."""
    sent, failed = DeliveryState.SENT, DeliveryState.FAILED
    counts = dict(
        session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.campaign_id == campaign_id, Delivery.status.in_((sent, failed)))
            .group_by(Delivery.status)
        ).all()
    )
    done = counts.get(sent, 0) + counts.get(failed, 0)
    if done < _MIN_SAMPLE or counts.get(failed, 0) / done <= threshold:
        return False
    ratio = counts.get(failed, 0) / done
    return campaigns.pause_running(
        session,
        campaign_id,
        f"paused itself: {ratio:.0%} of {done} messages failed (threshold {threshold:.0%}); "
        "check the relay and `mailer campaigns status`, then resume",
    )
