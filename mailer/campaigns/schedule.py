"""Scheduled campaigns: start what is due; what is overdue past the grace becomes `missed`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select

from mailer.ledger import CampaignState, campaigns
from mailer.org import OrgProfile
from mailer.store.db import Database
from mailer.store.models import Campaign, utcnow

__all__ = ["Due", "start_due", "start_or_miss"]


@dataclass(frozen=True, slots=True)
class Due:
    """What one look at the schedule did: campaigns started, and those marked missed (id, note)."""

    started: list[int] = field(default_factory=list)
    missed: list[tuple[int, str]] = field(default_factory=list)


def start_due(db: Database, org: OrgProfile, *, now: dt.datetime | None = None) -> list[int]:
    """Move due scheduled campaigns to planning (returned, to be dispatched)."""
    return start_or_miss(db, org, now=now).started


def start_or_miss(db: Database, org: OrgProfile, *, now: dt.datetime | None = None) -> Due:
    """Move due scheduled campaigns to planning. One overdue by more than the grace is not
    sent late silently: it becomes `missed` until `campaigns resume`."""
    moment = now or utcnow()
    grace = dt.timedelta(seconds=org.missed_grace_seconds)
    result = Due()
    with db.session() as session:
        due = session.scalars(
            select(Campaign).where(
                Campaign.state == CampaignState.SCHEDULED, Campaign.send_at <= moment
            )
        ).all()
        for campaign in due:
            assert campaign.send_at is not None
            if moment - campaign.send_at > grace:
                note = (
                    f"missed: due {campaign.send_at:%Y-%m-%d %H:%M} UTC, not started within "
                    f"{org.missed_grace_seconds // 60} min; `mailer campaigns resume {campaign.id}` sends it now"
                )
                if campaigns.miss(session, campaign.id, note):
                    result.missed.append((campaign.id, note))
            else:
                campaigns.start_now(session, campaign.id)
                result.started.append(campaign.id)
    return result
