"""Missing translations: the policy, holding subscribers, releasing them when a translation arrives or the wait ends."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from mailer.campaigns.audience import choose_version, email_locale, missing_language
from mailer.campaigns.languages import sendable_group
from mailer.errors import InputError
from mailer.ledger import CampaignState, DeliveryState, deliveries
from mailer.org import OrgProfile
from mailer.store.db import Database
from mailer.store.models import Campaign, Delivery, Subscriber, utcnow

__all__ = ["parse_missing", "release_held", "wait_seconds"]

_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_missing(text: str, *, field: str = "--missing") -> str:
    """`fallback` or `wait=DURATION` (30m, 48h, 2d) into the stored form (`fallback`, `wait:SECONDS`)."""
    value = text.strip().lower()
    if value == "fallback":
        return "fallback"
    if value.startswith("wait="):
        match = _DURATION.match(value[5:].strip())
        if match and int(match.group(1)) > 0:
            return f"wait:{int(match.group(1)) * _UNITS[match.group(2)]}"
    raise InputError(
        f"expected 'fallback' or 'wait=DURATION' (e.g. wait=48h), got {text!r}", field=field
    )


def wait_seconds(policy: str) -> int | None:
    """The hold duration of a stored policy, or None for 'fallback'."""
    return int(policy.split(":", 1)[1]) if policy.startswith("wait:") else None


def release_held(
    db: Database,
    org: OrgProfile,
    *,
    translation_key: str | None = None,
    now: dt.datetime | None = None,
) -> list[int]:
    """Turn held rows into pending ones: those whose translation now exists, and those whose wait
    is over (they get the fallback). Returns the campaigns that have new pending rows."""
    moment = now or utcnow()
    touched: list[int] = []
    with db.session() as session:
        query = select(Campaign).where(Campaign.state == CampaignState.RUNNING)
        if translation_key is not None:
            query = query.where(Campaign.translation_key == translation_key)
        for campaign in session.scalars(query).all():
            versions = sendable_group(session, campaign.translation_key, org)
            if not versions:
                continue  # nothing of the group may be sent: its rows stay held
            rows = session.execute(
                select(Delivery, Subscriber.locale)
                .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
                .where(Delivery.campaign_id == campaign.id, Delivery.status == DeliveryState.HELD)
            ).all()
            released = 0
            for delivery, locale in rows:
                expired = delivery.hold_until is not None and delivery.hold_until <= moment
                if missing_language(locale, versions, org) is not None and not expired:
                    continue
                version = choose_version(locale, versions, org)
                deliveries.release(
                    session,
                    delivery.id,
                    statement_id=version.id,
                    version_lang=version.lang,
                    locale=email_locale(locale, version),
                )
                released += 1
            if released:
                touched.append(campaign.id)
    return touched
