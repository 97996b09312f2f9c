"""Create a campaign for an announcement and write its ledger: one row per subscriber, in one go."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import case, exists, func, insert, literal, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from mailer.campaigns.audience import Decision, decide, digest_decision, routing_conditions
from mailer.campaigns.missing import wait_seconds
from mailer.errors import CampaignError, NotFound
from mailer.org import OrgProfile
from mailer.statements.repository import group_of, load
from mailer.store.db import Database
from mailer.store.models import Campaign, Delivery, Subscriber, Suppression, utcnow
from mailer.subscribers.segment_parse import Empty, Flag, Node, Or
from mailer.subscribers.segment_sql import compile_segment, segment_condition

__all__ = ["PlanResult", "announce", "create_campaign", "pending_batches", "plan"]

_PAGE = 5000


@dataclass(frozen=True, slots=True)
class PlanResult:
    """How many rows the plan wrote and how many of them will be sent."""

    campaign_id: int
    total: int
    pending: int


def create_campaign(
    session: Session,
    *,
    statement_id: str,
    kind: str = "manual",
    segment: str | None = None,
    missing: str = "fallback",
) -> Campaign:
    """A new campaign in state 'planning' for the statement's translation group."""
    statement = load(session, statement_id)
    campaign = Campaign(
        kind=kind,
        statement_id=statement.id,
        translation_key=statement.translation_key,
        segment=segment,
        missing=missing,
        state="planning",
    )
    session.add(campaign)
    session.flush()
    return campaign


def announce(db: Database, statement_id: str, *, missing: str = "fallback") -> tuple[int, bool]:
    """The alert campaign of a statement's group: created once, found again on redelivery."""
    with db.session() as session:
        statement = load(session, statement_id)
        dedupe = f"alert:{statement.translation_key}"
        existing = session.scalars(select(Campaign.id).where(Campaign.dedupe_key == dedupe)).first()
        if existing is not None:
            return existing, False
    try:
        with db.session() as session:
            campaign = create_campaign(
                session, statement_id=statement_id, kind="alert", missing=missing
            )
            campaign.dedupe_key = dedupe
            return campaign.id, True
    except IntegrityError:
        # Another worker announced the same group between our check and insert.
        with db.session() as session:
            found = session.scalars(select(Campaign.id).where(Campaign.dedupe_key == dedupe)).one()
            return found, False


def audience(
    session: Session, campaign: Campaign, org: OrgProfile, *, now: dt.datetime
) -> Iterator[list[tuple[int, Decision]]]:
    """Every subscriber's decision for a campaign, page by page (pure reads: dry runs use it)."""
    digest = campaign.kind == "digest"
    versions = [] if digest else group_of(session, campaign.translation_key)
    if not digest and not versions:
        raise CampaignError(f"campaign {campaign.id}: its statements are gone")
    if digest:
        wants: Node = Flag("digest", 0)  # alerts or weekly digest: both get the digest
        matches: Node = Or((Empty("topics", False, 0), Empty("topics", True, 0)))
    else:
        wants, matches = routing_conditions(versions)
    segment = segment_condition(campaign.segment) if campaign.segment else true()
    routed = campaign.segment is None  # a segment overrides the statement's own routing
    urgent = any(v.urgent for v in versions)
    cap = org.max_alerts_per_day if campaign.kind == "alert" and routed and not urgent else 0
    recent = (
        select(func.count(Delivery.id))
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(
            Delivery.subscriber_id == Subscriber.id,
            Campaign.kind == "alert",
            Campaign.id != campaign.id,
            Campaign.created_at > now - dt.timedelta(days=1),
            Delivery.status.in_(("sent", "sending", "pending")),
        )
        .scalar_subquery()
        if cap
        else literal(0)
    )
    columns = (
        Subscriber.id,
        Subscriber.status,
        Subscriber.locale,
        exists().where(Suppression.email_hash == Subscriber.email_hash).label("suppressed"),
        _flag(segment, "in_segment"),
        _flag(compile_segment(wants), "wants"),
        _flag(compile_segment(matches), "topic_match"),
        recent.label("recent"),
    )
    wait = wait_seconds(campaign.missing) is not None
    last_id = 0
    while True:
        # Keyset pagination: constant cost per page, whatever the table size.
        page = session.execute(
            select(*columns).where(Subscriber.id > last_id).order_by(Subscriber.id).limit(_PAGE)
        ).all()
        if not page:
            return
        decisions = []
        for sub_id, status, locale, suppressed, in_segment, wanted, topic_match, count in page:
            if digest:
                decision = digest_decision(
                    status=status,
                    suppressed=bool(suppressed),
                    in_segment=bool(in_segment),
                    wants=bool(wanted),
                    locale=locale,
                    org=org,
                )
            else:
                decision = decide(
                    status=status,
                    suppressed=bool(suppressed),
                    in_segment=bool(in_segment),
                    wants_alerts=bool(wanted),
                    topic_match=bool(topic_match),
                    locale=locale,
                    versions=versions,
                    org=org,
                    routed=routed,
                    wait=wait,
                )
                if cap and decision.send and int(count) >= cap:
                    decision = replace(decision, send=False, reason="frequency cap")
            decisions.append((int(sub_id), decision))
        yield decisions
        last_id = page[-1][0]


def plan(
    db: Database, org: OrgProfile, campaign_id: int, *, now: dt.datetime | None = None
) -> PlanResult:
    """Decide for every subscriber and write the ledger; a campaign is planned once."""
    moment = now or utcnow()
    with db.session() as session:
        campaign = session.get(Campaign, campaign_id, with_for_update=not db.is_sqlite)
        if campaign is None:
            raise NotFound("campaign", campaign_id)
        if campaign.state != "planning":
            total = session.query(Delivery).filter(Delivery.campaign_id == campaign_id).count()
            pending = (
                session.query(Delivery)
                .filter(Delivery.campaign_id == campaign_id, Delivery.status == "pending")
                .count()
            )
            return PlanResult(campaign_id, total, pending)
        hold = wait_seconds(campaign.missing)
        hold_until = moment + dt.timedelta(seconds=hold) if hold else None
        total = pending = held = 0
        for page in audience(session, campaign, org, now=moment):
            rows = [
                {
                    "campaign_id": campaign_id,
                    "subscriber_id": sub_id,
                    "locale": decision.locale,
                    "version_lang": decision.version_lang,
                    "statement_id": decision.statement_id,
                    "status": "pending"
                    if decision.send
                    else ("held" if decision.hold else "skipped"),
                    "reason": decision.reason,
                    "hold_until": hold_until if decision.hold else None,
                    "attempts": 0,
                }
                for sub_id, decision in page
            ]
            pending += sum(1 for _, d in page if d.send)
            held += sum(1 for _, d in page if d.hold)
            session.execute(insert(Delivery), rows)
            total += len(rows)
        campaign.state = "running" if pending or held else "done"
        campaign.started_at = moment
        if not (pending or held):
            campaign.finished_at = moment
        return PlanResult(campaign_id, total, pending)


def _flag(condition: ColumnElement[bool], name: str) -> Any:
    # A boolean column computed by the database, read as 0/1 on every dialect.
    return case((condition, 1), else_=0).label(name)


def pending_batches(
    db: Database, campaign_id: int, size: int, *, queued_before: dt.datetime | None = None
) -> Iterator[list[int]]:
    """Subscriber ids of the campaign's pending rows, in batches, by keyset pagination.

    With `queued_before`, only rows never queued or queued before that time (their batch
    was lost: a worker died holding it, Redis restarted).
    """
    wanted = [Delivery.campaign_id == campaign_id, Delivery.status == "pending"]
    if queued_before is not None:
        wanted.append(or_(Delivery.queued_at.is_(None), Delivery.queued_at < queued_before))
    last_id = 0
    while True:
        with db.session() as session:
            ids = list(
                session.scalars(
                    select(Delivery.subscriber_id)
                    .where(*wanted, Delivery.subscriber_id > last_id)
                    .order_by(Delivery.subscriber_id)
                    .limit(size)
                )
            )
        if not ids:
            return
        yield ids
        last_id = ids[-1]


def finish_if_complete(session: Session, campaign_id: int) -> bool:
    """Mark a running campaign done when no row is pending or sending; True when it did."""
    busy = session.scalars(
        select(Delivery.id)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.status.in_(("pending", "sending", "held")),
        )
        .limit(1)
    ).first()
    if busy is not None:
        return False
    result = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.state == "running")
        .values(state="done", finished_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
