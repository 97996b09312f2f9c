"""Every transition of a delivery row, one named function each (one statement where it can)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import case, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from mailer.bounces.standing import mark_bounced
from mailer.ledger.states import OPEN, DeliveryState
from mailer.store.among import among, dialect_of
from mailer.store.db import Database
from mailer.store.models import Delivery, Subscriber, utcnow

__all__ = [
    "bounce",
    "cancel_open",
    "claim",
    "claim_fresh",
    "claimable",
    "expire_leases",
    "fail",
    "give_back",
    "mark_queued",
    "record_plan",
    "release",
    "renew_leases",
    "retry_later",
    "skip",
    "throttled",
]

S = DeliveryState
_REPLY = 500  # characters of a server's reply kept on the row


def _status_of_these_rows() -> ColumnElement[str]:
    # The status as an expression no index can serve: a query for listed subscribers must
    # find them by (campaign, subscriber), 250 lookups. Offered `status = ?`, SQLite picks
    # the (campaign, status) index instead and scans every pending row of the campaign for
    # each batch: quadratic in the audience.
    return Delivery.status.concat("")


def _rows(
    campaign_id: int, ids: Sequence[int], status: DeliveryState, dialect: str
) -> tuple[Any, ...]:
    return (
        Delivery.campaign_id == campaign_id,
        among(Delivery.subscriber_id, ids, dialect),
        _status_of_these_rows() == status,
    )


def claimable(campaign_id: int, ids: Sequence[int], dialect: str) -> tuple[Any, ...]:
    """The listed subscribers' rows of a campaign that are still pending (found by index)."""
    return _rows(campaign_id, ids, S.PENDING, dialect)


def _row(campaign_id: int, subscriber_id: int, status: DeliveryState) -> tuple[Any, ...]:
    return (
        Delivery.campaign_id == campaign_id,
        Delivery.subscriber_id == subscriber_id,
        Delivery.status == status,
    )


def record_plan(
    session: Session,
    campaign_id: int,
    rows: Iterable[tuple[int, Any]],
    *,
    hold_until: dt.datetime | None,
    moment: dt.datetime,
) -> list[int]:
    """plan -> pending | held | skipped: insert a page of decisions; returns the ids to send."""
    values = [
        {
            "campaign_id": campaign_id,
            "subscriber_id": sub_id,
            "locale": decision.locale,
            "version_lang": decision.version_lang,
            "statement_id": decision.statement_id,
            "status": S.PENDING if decision.send else (S.HELD if decision.hold else S.SKIPPED),
            "reason": decision.reason,
            "hold_until": hold_until if decision.hold else None,
            "attempts": 0,
            # The caller queues the page once committed; if it dies first, the sweep
            # re-queues these rows when this time is stale.
            "queued_at": moment if decision.send else None,
        }
        for sub_id, decision in rows
    ]
    if values:
        session.execute(insert(Delivery), values)
    return [v["subscriber_id"] for v in values if v["status"] == S.PENDING]


def claim(
    db: Database, campaign_id: int, ids: list[int], *, lease_seconds: float
) -> list[tuple[int, str, str]]:
    """pending -> sending, under a lease: (subscriber, statement version, locale) claimed.

    Atomic: a second delivery of the same batch (acks_late redelivery, the sweep) finds
    nothing left to claim. On PostgreSQL, SKIP LOCKED lets two workers claim disjoint rows
    without waiting on each other."""
    lease = utcnow() + dt.timedelta(seconds=lease_seconds)
    wanted = _rows(campaign_id, ids, S.PENDING, db.engine.dialect.name)
    statement = update(Delivery).values(status=S.SENDING, lease_until=lease)
    if db.is_sqlite:
        statement = statement.where(*wanted)
    else:
        locked = select(Delivery.id).where(*wanted).with_for_update(skip_locked=True)
        statement = statement.where(Delivery.id.in_(locked.scalar_subquery()))
    with db.session() as session:
        rows = session.execute(
            statement.returning(Delivery.subscriber_id, Delivery.statement_id, Delivery.locale)
        ).all()
    return sorted((int(r[0]), str(r[1]), str(r[2])) for r in rows)


def claim_fresh(
    db: Database, campaign_id: int, count: int, *, lease_seconds: float
) -> list[tuple[int, str, str]]:
    """pending -> sending for up to `count` rows of the campaign never tried yet (a batch that
    keeps its connections busy takes its next rows itself; their own batch then finds them
    taken). Rows waiting for a retry (an attempt or a reply recorded) keep their backoff."""
    fresh = (
        select(Delivery.id)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.status == S.PENDING,
            Delivery.attempts == 0,
            Delivery.last_reply.is_(None),
        )
        .limit(count)
    )
    if not db.is_sqlite:
        fresh = fresh.with_for_update(skip_locked=True)
    lease = utcnow() + dt.timedelta(seconds=lease_seconds)
    with db.session() as session:
        rows = session.execute(
            update(Delivery)
            .where(Delivery.id.in_(fresh.scalar_subquery()), Delivery.status == S.PENDING)
            .values(status=S.SENDING, lease_until=lease)
            .returning(Delivery.subscriber_id, Delivery.statement_id, Delivery.locale)
            .execution_options(synchronize_session=False)
        ).all()
    return sorted((int(r[0]), str(r[1]), str(r[2])) for r in rows)


def renew_leases(
    connection: Connection, campaign_id: int, ids: list[int], *, lease_seconds: float
) -> int:
    """sending -> sending, the lease moved on (the batch's heartbeat); returns the rows held."""
    statement = update(Delivery).values(lease_until=utcnow() + dt.timedelta(seconds=lease_seconds))
    wanted = _rows(campaign_id, ids, S.SENDING, connection.dialect.name)
    if connection.dialect.name == "sqlite":
        statement = statement.where(*wanted)
    else:
        # Rows locked by the batch's own fold (being marked sent) are skipped: waiting for
        # them while the fold waits for ours would deadlock two connections of one process.
        locked = select(Delivery.id).where(*wanted).with_for_update(skip_locked=True)
        statement = statement.where(Delivery.id.in_(locked.scalar_subquery()))
    result = connection.execute(statement)
    connection.commit()
    return int(result.rowcount)


def skip(session: Session, campaign_id: int, reasons: dict[int, str]) -> None:
    """sending -> skipped: the person is gone since planning (unsubscribed, bounced, erased)."""
    for reason in set(reasons.values()):
        ids = [i for i, r in reasons.items() if r == reason]
        session.execute(
            update(Delivery)
            .where(*_rows(campaign_id, ids, S.SENDING, dialect_of(session)))
            .values(status=S.SKIPPED, reason=reason, lease_until=None)
        )


def retry_later(
    session: Session,
    campaign_id: int,
    subscriber_id: int,
    reply: str,
    *,
    max_attempts: int,
    give_up: bool = False,
) -> bool:
    """sending -> pending, one attempt spent (a temporary failure), or -> failed when that was
    the last attempt allowed or `give_up` (the retry deadline passed). True when it failed."""
    row = Delivery.__table__.c
    final = row.attempts + 1 >= max_attempts
    result = session.execute(
        update(Delivery)
        .where(*_row(campaign_id, subscriber_id, S.SENDING))
        .values(
            status=S.FAILED if give_up else case((final, S.FAILED), else_=S.PENDING),
            attempts=row.attempts + 1,
            last_reply=reply[:_REPLY],
            reason="gave up after retries"
            if give_up
            else case((final, "gave up after retries"), else_=None),
            lease_until=None,
        )
        .returning(Delivery.status)
    ).first()
    return result is not None and result[0] == S.FAILED


def throttled(session: Session, campaign_id: int, subscriber_id: int, reply: str) -> None:
    """sending -> pending, no attempt spent: the server asked us to slow down."""
    session.execute(
        update(Delivery)
        .where(*_row(campaign_id, subscriber_id, S.SENDING))
        .values(status=S.PENDING, last_reply=reply[:_REPLY], lease_until=None)
    )


def fail(session: Session, campaign_id: int, subscriber_id: int, reply: str, reason: str) -> None:
    """sending -> failed: refused for good (the attempt counted)."""
    session.execute(
        update(Delivery)
        .where(*_row(campaign_id, subscriber_id, S.SENDING))
        .values(
            status=S.FAILED,
            reason=reason[:200],
            last_reply=reply[:_REPLY],
            attempts=Delivery.attempts + 1,
            lease_until=None,
        )
    )


def bounce(session: Session, subscriber_id: int) -> None:
    """The recipient's address is dead: the subscriber is bounced and suppressed everywhere."""
    person = session.get(Subscriber, subscriber_id)
    if person is not None:
        mark_bounced(session, person)  # an unsubscribed or complained person keeps that status


def give_back(
    session: Session,
    campaign_id: int,
    ids: list[int],
    *,
    cancelled: bool = False,
    reply: str | None = None,
) -> int:
    """sending -> pending (nobody's attempt spent: a pause, a relay refusing us), or
    -> cancelled when the campaign was cancelled. Returns the rows changed."""
    if not ids:
        return 0
    values: dict[str, Any] = (
        {"status": S.CANCELLED, "reason": "campaign cancelled"}
        if cancelled
        else {"status": S.PENDING, "reason": None, "queued_at": None}
    )
    if reply is not None:
        values["last_reply"] = reply[:_REPLY]
    result = session.execute(
        update(Delivery)
        .where(*_rows(campaign_id, ids, S.SENDING, dialect_of(session)))
        .values(lease_until=None, **values)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def expire_leases(session: Session, campaign_ids: Sequence[int], *, now: dt.datetime) -> int:
    """sending -> pending when its lease ran out (its worker died): the sweep."""
    if not campaign_ids:
        return 0
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.campaign_id.in_(campaign_ids),
            Delivery.status == S.SENDING,
            or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
        )
        .values(status=S.PENDING, lease_until=None, queued_at=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def cancel_open(session: Session, campaign_id: int) -> int:
    """pending | held -> cancelled; returns how many."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.campaign_id == campaign_id, Delivery.status.in_(OPEN))
        .values(status=S.CANCELLED, reason="campaign cancelled", hold_until=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def release(
    session: Session, delivery_id: int, *, statement_id: str, version_lang: str, locale: str
) -> None:
    """held -> pending, with the version the subscriber gets now."""
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == S.HELD)
        .values(
            status=S.PENDING,
            reason=None,
            hold_until=None,
            statement_id=statement_id,
            version_lang=version_lang,
            locale=locale,
        )
    )


def mark_queued(
    db: Database, campaign_id: int, ids: list[int], *, now: dt.datetime | None = None
) -> None:
    """Remember when rows were put on the broker (the sweep re-queues lost batches)."""
    with db.session() as session:
        session.execute(
            update(Delivery)
            .where(
                Delivery.campaign_id == campaign_id,
                among(Delivery.subscriber_id, ids, db.engine.dialect.name),
            )
            .values(queued_at=now or utcnow())
        )
