"""Campaign progress as CONTRACT.md shapes it: totals, per-locale counts, skip reasons."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.bounces.listing import COUNTED, bounce_counts, bounce_counts_by
from mailer.errors import NotFound
from mailer.ledger import CampaignState, DeliveryState
from mailer.store.models import Campaign, Delivery, Subscriber

__all__ = ["STATES", "campaign_status", "campaign_summary"]

STATES = tuple(state.value for state in CampaignState)
_COUNTED = ("sent", "failed", "pending", "skipped", "cancelled")
_NOT_YET = (DeliveryState.SENDING, DeliveryState.HELD)


def campaign_summary(campaign: Campaign) -> dict[str, Any]:
    """The campaign's own fields, as `campaigns list --json` prints them."""
    return {
        "id": campaign.id,
        "kind": campaign.kind,
        "statement": campaign.statement_id,
        "translation_key": campaign.translation_key,
        # What tables call it: the group, never whichever version was named or sorts first.
        "label": campaign.translation_key,
        # CONTRACT.md knows no "planning": a campaign not started yet is reported as scheduled.
        "state": CampaignState.SCHEDULED.value
        if campaign.state == CampaignState.PLANNING
        else str(campaign.state),
        "segment": campaign.segment,
        "created_at": campaign.created_at.isoformat(),
        "send_at": campaign.send_at.isoformat() if campaign.send_at else None,
        "started_at": campaign.started_at.isoformat() if campaign.started_at else None,
        "finished_at": campaign.finished_at.isoformat() if campaign.finished_at else None,
        "note": campaign.note,
        # Why it is paused or missed (the operator, the error brake, a relay refusing us).
        "reason": campaign.note
        if campaign.state in (CampaignState.PAUSED, CampaignState.MISSED)
        else None,
    }


def campaign_status(session: Session, campaign_id: int) -> dict[str, Any]:
    """Counts by status overall and per locale; 'sending' rows count as pending."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("campaign", campaign_id)
    # One query, so that the counts and the reasons describe the same moment.
    rows = session.execute(
        select(Delivery.locale, Delivery.status, Delivery.reason, func.count())
        .where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.locale, Delivery.status, Delivery.reason)
    ).all()
    totals = dict.fromkeys(("total", *_COUNTED), 0)
    by_locale: dict[str, dict[str, Any]] = {}
    skipped_reasons: dict[str, int] = {}
    held = 0
    for locale, status, reason, count in rows:
        # Rows being sent, or held for a translation, are not sent yet: they count as pending.
        key = DeliveryState.PENDING.value if status in _NOT_YET else str(status)
        held += count if status == DeliveryState.HELD else 0
        entry = by_locale.setdefault(
            locale or "",
            {
                "total": 0,
                "sent": 0,
                "failed": 0,
                "pending": 0,
                "skipped": 0,
                "cancelled": 0,
                "skipped_reasons": {},
            },
        )
        entry["total"] += count
        totals["total"] += count
        if key in _COUNTED:
            entry[key] += count
            totals[key] += count
        if status == DeliveryState.SKIPPED:
            label = reason or "skipped"
            entry["skipped_reasons"][label] = entry["skipped_reasons"].get(label, 0) + count
            skipped_reasons[label] = skipped_reasons.get(label, 0) + count
    # What reports said after the relay accepted the mail (bounces, complaints).
    reported = bounce_counts(session, campaign_id)
    for locale, entry in by_locale.items():
        entry.update(reported.get(locale, dict.fromkeys(COUNTED, 0)))
    return {
        **campaign_summary(campaign),
        **totals,
        **{name: sum(counts[name] for counts in reported.values()) for name in COUNTED},
        "held": held,
        "skipped_reasons": skipped_reasons,
        "by_locale": dict(sorted(by_locale.items())),
        "by_language": by_language(session, campaign_id),
    }


def by_language(session: Session, campaign_id: int) -> list[dict[str, Any]]:
    """Counts per subscriber language and version sent: a fallback shows (an nl subscriber who
    got the French version is under nl, version fr)."""
    language = Subscriber.locale
    rows = session.execute(
        select(language, Delivery.version_lang, Delivery.status, Delivery.reason, func.count())
        .outerjoin(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.campaign_id == campaign_id)
        .group_by(language, Delivery.version_lang, Delivery.status, Delivery.reason)
    ).all()
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for locale, version, status, reason, count in rows:
        key = DeliveryState.PENDING.value if status in _NOT_YET else str(status)
        # A skipped row's version is the one it would have had: shown as none.
        shown = "" if status == DeliveryState.SKIPPED else (version or "")
        entry = groups.setdefault(
            (locale or "", shown),
            {
                "language": locale or "",
                "version": shown,
                "total": 0,
                **dict.fromkeys(_COUNTED, 0),
                "skipped_reasons": {},
            },
        )
        entry["total"] += count
        if key in _COUNTED:
            entry[key] += count
        if status == DeliveryState.SKIPPED:
            label = reason or "skipped"
            entry["skipped_reasons"][label] = entry["skipped_reasons"].get(label, 0) + count
    reported = bounce_counts_by(session, campaign_id, language, Delivery.version_lang)
    for (locale, version), entry in groups.items():
        if version:
            entry.update(reported.get((locale, version), dict.fromkeys(COUNTED, 0)))
        else:
            entry.update(dict.fromkeys(COUNTED, 0))
    return [groups[key] for key in sorted(groups)]
