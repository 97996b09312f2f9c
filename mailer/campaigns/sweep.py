"""The periodic sweep: recover rows of dead workers and lost batches, finish what is complete."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from mailer.campaigns.missing import release_held
from mailer.campaigns.plan import pending_batches
from mailer.ledger import CampaignState, DeliveryState, campaigns, deliveries, replay_orphans
from mailer.org import OrgProfile
from mailer.store.db import Database
from mailer.store.models import Campaign, Delivery, utcnow

__all__ = ["SweepResult", "mark_queued", "sweep", "unfinished_plans", "unqueued_batches"]

mark_queued = deliveries.mark_queued


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What the sweep recovered."""

    expired_leases: int
    released_holds: int
    finished: int


def _running(db: Database) -> list[int]:
    with db.session() as session:
        return list(
            session.scalars(select(Campaign.id).where(Campaign.state == CampaignState.RUNNING))
        )


def sweep(
    db: Database,
    org: OrgProfile,
    *,
    now: dt.datetime | None = None,
    journals: Path | None = None,
) -> SweepResult:
    """Rows whose lease ran out (their worker died: its heartbeat stopped renewing them) go
    back to pending: at most one duplicate per connection that was in flight, never a loss.
    Then finish complete campaigns. Dead workers' journals in `journals` are folded into the
    ledger first. Only running and paused campaigns' rows are looked at (an index serves)."""
    moment = now or utcnow()
    if journals is not None:
        replay_orphans(db, journals)
    with db.session() as session:
        live = list(
            session.scalars(
                select(Campaign.id).where(
                    Campaign.state.in_(
                        (CampaignState.RUNNING, CampaignState.PAUSED, CampaignState.CANCELLED)
                    )
                )
            )
        )
        expired = deliveries.expire_leases(session, live, now=moment)
    released = len(release_held(db, org, now=moment))
    finished = 0
    for campaign_id in _running(db):
        with db.session() as session:
            finished += campaigns.finish(session, campaign_id)
    return SweepResult(expired, released, finished)


def unfinished_plans(
    db: Database, *, stale_after: dt.timedelta, now: dt.datetime | None = None
) -> list[int]:
    """Running campaigns whose plan is not complete, started long ago, with nothing left to
    send of what is planned: the task planning the rest was lost (a killed worker, Redis)."""
    cutoff = (now or utcnow()) - stale_after
    waiting = (
        select(Delivery.id)
        .where(
            Delivery.campaign_id == Campaign.id,
            Delivery.status.in_((DeliveryState.PENDING, DeliveryState.SENDING)),
        )
        .exists()
    )
    with db.session() as session:
        return list(
            session.scalars(
                select(Campaign.id).where(
                    Campaign.state == CampaignState.RUNNING,
                    Campaign.planned_at.is_(None),
                    Campaign.started_at < cutoff,
                    ~waiting,
                )
            )
        )


def unqueued_batches(
    db: Database, *, size: int, stale_after: dt.timedelta, now: dt.datetime | None = None
) -> Iterator[tuple[int, list[int]]]:
    """(campaign, ids) of pending rows of running campaigns never queued, or queued before
    `now - stale_after` (the broker lost the batch: Redis restarted, a worker died holding it)."""
    cutoff = (now or utcnow()) - stale_after
    for campaign_id in _running(db):
        for ids in pending_batches(db, campaign_id, size, queued_before=cutoff):
            yield campaign_id, ids
