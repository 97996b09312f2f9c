"""The weekly digest: what was published since the last one, once per locale, when it is due."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select

from mailer.campaigns.audience import DIGEST
from mailer.ledger import campaigns
from mailer.org import OrgProfile
from mailer.store.db import Database
from mailer.store.models import Campaign, Meta, StatementRow, utcnow

__all__ = ["create_digest", "digest_due", "digest_period", "last_digest"]

_LAST = "digest_last_run"
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def last_digest(db: Database) -> dt.datetime | None:
    """When the last digest was cut (its statements were published before this)."""
    with db.session() as session:
        row = session.get(Meta, _LAST)
    return dt.datetime.fromisoformat(row.value) if row else None


def digest_due(org: OrgProfile, *, last: dt.datetime | None, now: dt.datetime) -> bool:
    """True when the most recent scheduled digest time (in the organisation's time zone) has
    passed since the last run. A first run waits for its first scheduled time."""
    if org.digest is None:
        return False
    day, clock = org.digest.split()
    hour, minute = (int(p) for p in clock.split(":"))
    local = now.astimezone(ZoneInfo(org.timezone))
    slot = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if day != "daily":
        slot -= dt.timedelta(days=(local.weekday() - _WEEKDAYS.index(day)) % 7)
    if slot > local:
        slot -= dt.timedelta(days=1 if day == "daily" else 7)
    return last is None or last < slot.astimezone(dt.UTC) <= now


def create_digest(db: Database, *, now: dt.datetime | None = None) -> int | None:
    """A digest campaign of the groups published since the last digest (or the last week);
    None, and nothing recorded as sent, when there is nothing new."""
    moment = now or utcnow()
    since = last_digest(db) or moment - dt.timedelta(days=7)
    with db.session() as session:
        rows = session.execute(
            select(StatementRow.translation_key, StatementRow.id, StatementRow.published_at)
            .where(
                StatementRow.published_at.is_not(None),
                StatementRow.published_at > since,
                StatementRow.published_at <= moment,
            )
            .order_by(StatementRow.published_at.desc())
        ).all()
        keys = list(dict.fromkeys(r[0] for r in rows))
        meta = session.get(Meta, _LAST)
        if meta is None:
            session.add(Meta(key=_LAST, value=moment.isoformat()))
        else:
            meta.value = moment.isoformat()
        if not keys:
            return None
        campaign = campaigns.create(
            session,
            kind="digest",
            statement_id=rows[0][1],
            translation_key=f"{DIGEST}-{moment:%Y-%m-%d-%H%M}",
            items=keys,
            period_start=since,
            period_end=moment,
            note=f"statements published {since:%Y-%m-%d %H:%M} to {moment:%Y-%m-%d %H:%M} UTC",
        )
        return campaign.id


def digest_period(campaign: Campaign, timezone: str) -> tuple[dt.date, dt.date]:
    """The days a digest covers, in the organisation's time zone: the period stored on the
    campaign (the last digest to this one, however long ago), else (a digest made before
    the period was stored) the seven days before it."""
    end = campaign.period_end or campaign.created_at
    start = campaign.period_start or end - dt.timedelta(days=7)
    zone = ZoneInfo(timezone)
    return start.astimezone(zone).date(), end.astimezone(zone).date()
