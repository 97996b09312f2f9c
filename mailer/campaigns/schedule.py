"""Scheduled campaigns: start what is due; what is overdue past the grace becomes `missed`."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from mailer.ledger import CampaignState, campaigns
from mailer.org import OrgProfile
from mailer.store.db import Database
from mailer.store.models import Campaign, utcnow

__all__ = ["start_due"]


def start_due(db: Database, org: OrgProfile, *, now: dt.datetime | None = None) -> list[int]:
    """Move due scheduled campaigns to planning (returned, to be dispatched). One overdue by more
    than the grace is not sent late silently: it becomes `missed` until `campaigns resume`."""
    moment = now or utcnow()
    grace = dt.timedelta(seconds=org.missed_grace_seconds)
    started: list[int] = []
    with db.session() as session:
        due = session.scalars(
            select(Campaign).where(
                Campaign.state == CampaignState.SCHEDULED, Campaign.send_at <= moment
            )
        ).all()
        for campaign in due:
            assert campaign.send_at is not None
            if moment - campaign.send_at > grace:
                campaigns.miss(
                    session,
                    campaign.id,
                    f"missed: due {campaign.send_at:%Y-%m-%d %H:%M} UTC, not started within "
                    f"{org.missed_grace_seconds // 60} min; `mailer campaigns resume {campaign.id}` sends it now",
                )
            else:
                campaigns.start_now(session, campaign.id)
                started.append(campaign.id)
    return started
