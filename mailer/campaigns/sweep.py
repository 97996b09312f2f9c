"""The periodic sweep: recover rows of dead workers and lost batches, finish what is complete."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update

from mailer.campaigns.journal import replay_orphans
from mailer.campaigns.missing import release_held
from mailer.campaigns.plan import finish_if_complete, pending_batches
from mailer.org import OrgProfile
from mailer.store.db import Database
from mailer.store.models import Campaign, Delivery, utcnow

__all__ = ["SweepResult", "mark_queued", "sweep", "unfinished_plans", "unqueued_batches"]


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What the sweep recovered."""

    expired_leases: int
    released_holds: int
    finished: int


def sweep(
    db: Database,
    org: OrgProfile,
    *,
    now: dt.datetime | None = None,
    journals: Path | None = None,
) -> SweepResult:
    """Expired leases (a worker died mid-batch) go back to pending: at most one duplicate per
    crash (the message being sent when it died), never a loss. Then finish complete campaigns.
    Dead workers' journals in `journals` are folded into the ledger first."""
    moment = now or utcnow()
    if journals is not None:
        replay_orphans(db, journals)
    with db.session() as session:
        expired = session.execute(
            update(Delivery)
            .where(Delivery.status == "sending", Delivery.lease_until < moment)
            .values(status="pending", lease_until=None, queued_at=None)
        ).rowcount  # type: ignore[attr-defined]
    released = len(release_held(db, org, now=moment))
    finished = 0
    with db.session() as session:
        for campaign_id in session.scalars(
            select(Campaign.id).where(Campaign.state == "running")
        ).all():
            finished += finish_if_complete(session, campaign_id)
    return SweepResult(int(expired), released, finished)


def unfinished_plans(
    db: Database, *, stale_after: dt.timedelta, now: dt.datetime | None = None
) -> list[int]:
    """Running campaigns whose plan is not complete, started long ago, with nothing left to
    send of what is planned: the task planning the rest was lost (a killed worker, Redis)."""
    cutoff = (now or utcnow()) - stale_after
    waiting = (
        select(Delivery.id)
        .where(Delivery.campaign_id == Campaign.id, Delivery.status.in_(("pending", "sending")))
        .exists()
    )
    with db.session() as session:
        return list(
            session.scalars(
                select(Campaign.id).where(
                    Campaign.state == "running",
                    Campaign.planned_at.is_(None),
                    Campaign.started_at < cutoff,
                    ~waiting,
                )
            )
        )


def unqueued_batches(
    db: Database, *, size: int, stale_after: dt.timedelta, now: dt.datetime | None = None
) -> Iterator[tuple[int, list[int]]]:
    """(campaign, ids) of pending rows of running campaigns never queued, or queued long ago
    (the broker lost the batch: Redis restarted, a worker died holding it)."""
    cutoff = (now or utcnow()) - stale_after
    with db.session() as session:
        campaigns = session.scalars(select(Campaign.id).where(Campaign.state == "running")).all()
    for campaign_id in campaigns:
        for ids in pending_batches(db, campaign_id, size, queued_before=cutoff):
            yield campaign_id, ids


def mark_queued(
    db: Database, campaign_id: int, ids: list[int], *, now: dt.datetime | None = None
) -> None:
    """Remember when rows were put on the broker."""
    with db.session() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.campaign_id == campaign_id, Delivery.subscriber_id.in_(ids))
            .values(queued_at=now or utcnow())
        )
