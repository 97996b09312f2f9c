"""Create a campaign for an announcement and write its ledger: one row per subscriber, page by page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import case, exists, func, literal, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from mailer.campaigns.audience import Decision, decide, digest_decision, routing_conditions
from mailer.campaigns.digest_items import digest_items, selection_id
from mailer.campaigns.languages import check_announcement, check_group
from mailer.campaigns.missing import wait_seconds
from mailer.errors import CampaignError, NotFound
from mailer.i18n import available_catalogs
from mailer.ledger import CampaignState, DeliveryState, campaigns, deliveries
from mailer.org import OrgProfile
from mailer.statements.repository import group_of, load
from mailer.store.db import Database
from mailer.store.models import Campaign, Delivery, Subscriber, Suppression, utcnow
from mailer.subscribers.segment_parse import Empty, Flag, Node, Or
from mailer.subscribers.segment_sql import compile_segment, segment_condition

__all__ = ["PlanResult", "announce", "create_campaign", "pending_batches", "plan", "plan_pages"]

S, C = DeliveryState, CampaignState

_PAGE = 5000
_FIRST_PAGE = 500  # small, so that the first messages leave at once


@dataclass(frozen=True, slots=True)
class PlanResult:
    """How many rows the plan wrote and how many of them will be sent."""

    campaign_id: int
    total: int
    pending: int


def create_campaign(
    session: Session,
    *,
    org: OrgProfile,
    statement_id: str,
    kind: str = "manual",
    segment: str | None = None,
    missing: str = "fallback",
    again: bool = False,
) -> Campaign:
    """A new campaign in state 'planning' for the statement's translation group; refused
    (CampaignError) when no version of the group is in a language that can be sent. With
    `again`, people who already received the group get it too."""
    statement = load(session, statement_id)
    refusal = check_announcement(session, statement.translation_key, org).refusal()
    if refusal is not None:
        raise CampaignError(refusal)
    return campaigns.create(
        session,
        kind=kind,
        statement_id=statement.id,
        translation_key=statement.translation_key,
        segment=segment,
        missing=missing,
        again=again,
    )


def announce(
    db: Database, org: OrgProfile, statement_id: str, *, missing: str = "fallback"
) -> tuple[int, bool]:
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
                session, org=org, statement_id=statement_id, kind="alert", missing=missing
            )
            campaign.dedupe_key = dedupe
            return campaign.id, True
    except IntegrityError:
        # Another worker announced the same group between our check and insert.
        with db.session() as session:
            found = session.scalars(select(Campaign.id).where(Campaign.dedupe_key == dedupe)).one()
            return found, False


def audience(
    session: Session,
    campaign: Campaign,
    org: OrgProfile,
    *,
    now: dt.datetime,
    after: int = 0,
    page_size: int = _PAGE,
) -> Iterator[list[tuple[int, Decision]]]:
    """Every subscriber's decision for a campaign (those with an id above `after`), page by
    page (pure reads: dry runs use it)."""
    digest = campaign.kind == "digest"
    versions = [] if digest else group_of(session, campaign.translation_key)
    if not digest and not versions:
        raise CampaignError(f"campaign {campaign.id}: its statements are gone")
    if not digest:
        # Only versions in a language the profile publishes in, with a catalog: the readers of
        # the others get the version their fallback chain leads to.
        check = check_group(versions, org, available_catalogs())
        refusal = check.refusal()
        if refusal is not None:
            raise CampaignError(f"campaign {campaign.id}: {refusal}")
        versions = check.sendable(versions)
    if digest:
        wants: Node = Flag("digest", 0)  # alerts or weekly digest: both get the digest
        # Topics are matched item by item (DigestItems.choose), not for the whole digest.
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
            Delivery.status.in_((S.SENT, S.SENDING, S.PENDING)),
        )
        .scalar_subquery()
        if cap
        else literal(0)
    )
    # Who already received a campaign of this group (by default they do not get it twice).
    received = (
        exists()
        .where(
            Delivery.subscriber_id == Subscriber.id,
            Delivery.status == S.SENT,
            Delivery.campaign_id == Campaign.id,
            Campaign.translation_key == campaign.translation_key,
            Campaign.id != campaign.id,
        )
        .correlate(Subscriber)
        if not digest and not campaign.again and _group_sent_before(session, campaign)
        else literal(False)
    )
    columns = (
        Subscriber.id,
        Subscriber.status,
        Subscriber.locale,
        Subscriber.alert_pref,
        _flag(received, "received"),
        exists().where(Suppression.email_hash == Subscriber.email_hash).label("suppressed"),
        _flag(segment, "in_segment"),
        _flag(compile_segment(wants), "wants"),
        _flag(compile_segment(matches), "topic_match"),
        recent.label("recent"),
    )
    wait = wait_seconds(campaign.missing) is not None
    items = digest_items(session, campaign) if digest else None
    last_id = after
    while True:
        # Keyset pagination: constant cost per page, whatever the table size.
        page = session.execute(
            select(*columns).where(Subscriber.id > last_id).order_by(Subscriber.id).limit(page_size)
        ).all()
        if not page:
            return
        decisions = []
        ids = [int(row[0]) for row in page]
        got_items = items.received(session, ids) if items else {}
        topics = items.topics_of(session, ids) if items else {}
        for row in page:
            (
                sub_id,
                status,
                locale,
                pref,
                got,
                suppressed,
                in_segment,
                wanted,
                topic_match,
                count,
            ) = row
            if digest:
                decision = digest_decision(
                    status=status,
                    suppressed=bool(suppressed),
                    in_segment=bool(in_segment),
                    wants=bool(wanted),
                    locale=locale,
                    org=org,
                )
                if decision.send and items is not None:
                    # Each person's own selection: their topics, minus what they received.
                    chosen, why = items.choose(
                        topics.get(int(sub_id), []), got_items.get(int(sub_id), set())
                    )
                    decision = replace(
                        decision,
                        send=why is None,
                        reason=why,
                        statement_id=selection_id(chosen, len(items.keys)),
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
                    alert_pref=pref,
                    received=bool(got),
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
    for _ in plan_pages(db, org, campaign_id, now=now):
        pass
    with db.session() as session:
        total, pending = session.execute(
            select(
                func.count(Delivery.id),
                func.coalesce(func.sum(case((Delivery.status == S.PENDING, 1), else_=0)), 0),
            ).where(Delivery.campaign_id == campaign_id)
        ).one()
    return PlanResult(campaign_id, int(total), int(pending))


def plan_pages(
    db: Database, org: OrgProfile, campaign_id: int, *, now: dt.datetime | None = None
) -> Iterator[list[int]]:
    """Write the ledger page by page, each page committed on its own, and yield the ids to
    send of each page as soon as it is committed: the first messages leave while the rest
    of a large audience is planned. Resumes where an interrupted plan stopped; two planners
    of one campaign interleave their pages safely; nothing happens once it is planned."""
    moment = now or utcnow()
    size = _FIRST_PAGE
    planned = 0  # rows this planner wrote
    analysed = 0  # rows written when the planner's statistics were last refreshed
    while True:
        try:
            with db.session() as session:
                page = _plan_page(session, org, campaign_id, moment, size)
        except IntegrityError:
            continue  # another planner wrote this page first: read where it stopped
        if page is None:
            if planned > analysed:
                db.refresh_statistics("deliveries")
            return
        planned += size
        # Before the batches of the first page run, then each time the campaign doubled: the
        # database's planner then finds each batch's rows by index (see refresh_statistics).
        if planned >= 2 * analysed:
            db.refresh_statistics("deliveries")
            analysed = planned
        yield page
        size = _PAGE


def _plan_page(
    session: Session, org: OrgProfile, campaign_id: int, moment: dt.datetime, size: int
) -> list[int] | None:
    """Plan the next page of a campaign; its ids to send, or None when there is nothing left."""
    # FOR UPDATE serialises two planners on PostgreSQL; SQLite has a single writer anyway.
    locking = session.get_bind().dialect.name != "sqlite"
    campaign = session.get(Campaign, campaign_id, with_for_update=locking)
    if campaign is None:
        raise NotFound("campaign", campaign_id)
    if campaign.state in (C.CANCELLED, C.MISSED, C.DONE):
        return None
    campaigns.begin(session, campaign, moment)
    if campaign.planned_at is not None:
        return None
    last = session.scalar(
        select(func.max(Delivery.subscriber_id)).where(Delivery.campaign_id == campaign_id)
    )
    page = next(audience(session, campaign, org, now=moment, after=last or 0, page_size=size), [])
    if not page:
        campaigns.mark_planned(session, campaign, moment)
        campaigns.finish(session, campaign_id)
        return None
    hold = wait_seconds(campaign.missing)
    return deliveries.record_plan(
        session,
        campaign_id,
        page,
        hold_until=moment + dt.timedelta(seconds=hold) if hold else None,
        moment=moment,
    )


def _group_sent_before(session: Session, campaign: Campaign) -> bool:
    """Whether another campaign of the group exists: the first one of a group (most) needs no
    per-person look at the ledger."""
    other = session.scalar(
        select(Campaign.id)
        .where(Campaign.translation_key == campaign.translation_key, Campaign.id != campaign.id)
        .limit(1)
    )
    return other is not None


def _flag(condition: ColumnElement[bool], name: str) -> Any:
    # A boolean column computed by the database, read as 0/1 on every dialect.
    return case((condition, 1), else_=0).label(name)


def pending_batches(
    db: Database,
    campaign_id: int,
    size: int,
    *,
    queued_before: dt.datetime | None = None,
    first: int | None = None,
) -> Iterator[list[int]]:
    """Subscriber ids of the campaign's pending rows, in batches, by keyset pagination; the
    first batch of `first` rows when given (a small one leaves at once).

    With `queued_before`, only rows never queued or queued before that time (their batch
    was lost: a worker died holding it, Redis restarted).
    """
    wanted = [Delivery.campaign_id == campaign_id, Delivery.status == S.PENDING]
    if queued_before is not None:
        wanted.append(or_(Delivery.queued_at.is_(None), Delivery.queued_at < queued_before))
    last_id, limit = 0, first or size
    while True:
        with db.session() as session:
            ids = list(
                session.scalars(
                    select(Delivery.subscriber_id)
                    .where(*wanted, Delivery.subscriber_id > last_id)
                    .order_by(Delivery.subscriber_id)
                    .limit(limit)
                )
            )
        if not ids:
            return
        yield ids
        last_id, limit = ids[-1], size
