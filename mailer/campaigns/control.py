"""Pause, resume and cancel campaigns; the error-rate brake that pauses one by itself."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mailer.errors import CampaignError, NotFound
from mailer.store.models import Campaign, Delivery, utcnow

__all__ = ["cancel", "check_error_rate", "pause", "resume"]

_MIN_SAMPLE = 50


def _campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("campaign", campaign_id)
    return campaign


def pause(session: Session, campaign_id: int, *, note: str | None = None) -> None:
    """Stop sending; workers notice within one batch and give their rows back."""
    campaign = _campaign(session, campaign_id)
    if campaign.state not in {"running", "planning", "scheduled"}:
        raise CampaignError(
            f"campaign {campaign_id} is {campaign.state}: only a running campaign can be paused"
        )
    campaign.state = "paused"
    campaign.note = note or "paused by an operator"


def resume(session: Session, campaign_id: int) -> None:
    """Back to running (from paused or missed); the caller queues the pending rows again."""
    campaign = _campaign(session, campaign_id)
    if campaign.state not in {"paused", "missed"}:
        raise CampaignError(
            f"campaign {campaign_id} is {campaign.state}: only a paused or missed campaign can be resumed"
        )
    campaign.state = "running" if campaign.started_at else "planning"
    campaign.note = None


def cancel(session: Session, campaign_id: int) -> int:
    """Never send the rest: pending and held rows become cancelled; returns how many."""
    campaign = _campaign(session, campaign_id)
    if campaign.state in {"done", "cancelled"}:
        raise CampaignError(f"campaign {campaign_id} is already {campaign.state}")
    campaign.state = "cancelled"
    campaign.finished_at = utcnow()
    result = session.execute(
        update(Delivery)
        .where(Delivery.campaign_id == campaign_id, Delivery.status.in_(("pending", "held")))
        .values(status="cancelled", reason="campaign cancelled", hold_until=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def check_error_rate(session: Session, campaign_id: int, threshold: float) -> bool:
    """Pause a running campaign whose failures pass the threshold; True when it did."""
    counts = dict(
        session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.campaign_id == campaign_id, Delivery.status.in_(("sent", "failed")))
            .group_by(Delivery.status)
        ).all()
    )
    done = counts.get("sent", 0) + counts.get("failed", 0)
    if done < _MIN_SAMPLE or counts.get("failed", 0) / done <= threshold:
        return False
    ratio = counts.get("failed", 0) / done
    result = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.state == "running")
        .values(
            state="paused",
            note=f"paused itself: {ratio:.0%} of {done} messages failed (threshold {threshold:.0%}); "
            "check the relay and `mailer campaigns status`, then resume",
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
