"""Every transition of a campaign, one named function each (one statement where it can)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from mailer.errors import CampaignError, NotFound
from mailer.ledger.states import BUSY, CampaignState
from mailer.store.models import Campaign, Delivery, utcnow

__all__ = [
    "begin",
    "cancel",
    "create",
    "finish",
    "mark_planned",
    "miss",
    "pause",
    "pause_running",
    "resume",
    "schedule",
    "start_now",
    "state_of",
]

C = CampaignState


def create(session: Session, **fields: Any) -> Campaign:
    """-> planning: a new campaign (its id assigned)."""
    campaign = Campaign(state=C.PLANNING, **fields)
    session.add(campaign)
    session.flush()
    return campaign


def state_of(session: Session, campaign_id: int) -> tuple[CampaignState, dt.datetime | None]:
    """The campaign's state and when it started (NotFound when there is none)."""
    row = session.execute(
        select(Campaign.state, Campaign.started_at).where(Campaign.id == campaign_id)
    ).first()
    if row is None:
        raise NotFound("campaign", campaign_id)
    return C(row[0]), row[1]


def _move(
    session: Session,
    campaign_id: int,
    allowed: tuple[CampaignState, ...],
    values: dict[str, Any],
) -> bool:
    result = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.state.in_(allowed))
        .values(**values)
        .execution_options(synchronize_session="fetch")
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _refuse(session: Session, campaign_id: int, wanted: str) -> CampaignError:
    state, _ = state_of(session, campaign_id)
    return CampaignError(f"campaign {campaign_id} is {state}: {wanted}")


def schedule(session: Session, campaign_id: int, send_at: dt.datetime) -> None:
    """planning -> scheduled: wait for `send_at` (the beat's tick starts it)."""
    if not _move(session, campaign_id, (C.PLANNING,), {"state": C.SCHEDULED, "send_at": send_at}):
        raise _refuse(session, campaign_id, "only a new campaign can be scheduled")


def start_now(session: Session, campaign_id: int) -> None:
    """scheduled -> planning (`campaigns send`); planning and running stay as they are."""
    if _move(session, campaign_id, (C.SCHEDULED,), {"state": C.PLANNING}):
        return
    state, _ = state_of(session, campaign_id)
    if state in (C.CANCELLED, C.DONE):
        raise CampaignError(f"campaign {campaign_id} is {state}")
    if state in (C.PAUSED, C.MISSED):
        raise CampaignError(
            f"campaign {campaign_id} is {state}: use `mailer campaigns resume {campaign_id}`"
        )


def miss(session: Session, campaign_id: int, note: str) -> bool:
    """scheduled -> missed: its time passed by more than the grace."""
    return _move(session, campaign_id, (C.SCHEDULED,), {"state": C.MISSED, "note": note})


def begin(session: Session, campaign: Campaign, moment: dt.datetime) -> None:
    """planning -> running as its first page is planned (a paused campaign stays paused)."""
    if campaign.state == C.PLANNING:
        campaign.state = C.RUNNING
    campaign.started_at = campaign.started_at or moment


def mark_planned(session: Session, campaign: Campaign, moment: dt.datetime) -> None:
    """Every subscriber has a ledger row: the campaign may now be done."""
    campaign.planned_at = moment
    session.flush()


def finish(session: Session, campaign_id: int) -> bool:
    """running -> done, once fully planned and no row is pending, sending or held."""
    busy = exists().where(Delivery.campaign_id == campaign_id, Delivery.status.in_(BUSY))
    result = session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.state == C.RUNNING,
            Campaign.planned_at.is_not(None),  # rows of pages not planned yet are not counted
            ~busy,
        )
        .values(state=C.DONE, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def pause(session: Session, campaign_id: int, *, note: str | None = None) -> None:
    """planning | scheduled | running -> paused, by an operator."""
    values = {"state": C.PAUSED, "note": note or "paused by an operator"}
    if not _move(session, campaign_id, (C.RUNNING, C.PLANNING, C.SCHEDULED), values):
        raise _refuse(session, campaign_id, "only a running campaign can be paused")


def pause_running(session: Session, campaign_id: int, note: str) -> bool:
    """running -> paused by the engine itself (the error brake, a relay refusing our sender),
    with the reason in `note`; False when it was not running any more."""
    return _move(session, campaign_id, (C.RUNNING, C.PLANNING), {"state": C.PAUSED, "note": note})


def resume(session: Session, campaign_id: int) -> None:
    """paused | missed -> running (or planning when it never started); the caller queues the
    pending rows again."""
    state, started = state_of(session, campaign_id)
    target = C.RUNNING if started else C.PLANNING
    if not _move(session, campaign_id, (C.PAUSED, C.MISSED), {"state": target, "note": None}):
        raise CampaignError(
            f"campaign {campaign_id} is {state}: only a paused or missed campaign can be resumed"
        )


def cancel(session: Session, campaign_id: int) -> None:
    """any state but done and cancelled -> cancelled (its open rows: see deliveries)."""
    final = (C.DONE, C.CANCELLED)
    allowed = tuple(s for s in C if s not in final)
    if not _move(session, campaign_id, allowed, {"state": C.CANCELLED, "finished_at": utcnow()}):
        state, _ = state_of(session, campaign_id)
        raise CampaignError(f"campaign {campaign_id} is already {state}")
