"""Send one batch of a campaign: claim the rows, build each message, send it, record it at once."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from mailer.campaigns.audience import DIGEST, choose_version
from mailer.campaigns.control import check_error_rate
from mailer.campaigns.links import recipient_for
from mailer.campaigns.plan import finish_if_complete
from mailer.compose import MessageTemplate, build_template
from mailer.errors import DeliveryError, NotFound, PermanentFailure, TemporaryFailure
from mailer.render.variant import render_digest, render_email
from mailer.runtime import Runtime
from mailer.statements.repository import group_of, load
from mailer.store.models import Campaign, Delivery, Subscriber, utcnow
from mailer.subscribers.suppression import suppress
from mailer.transport.classify import Outcome, classify

__all__ = ["MAX_ATTEMPTS", "BatchResult", "send_batch", "template_for"]

log = logging.getLogger("mailer.send")

MAX_ATTEMPTS = 8
_CHECK_EVERY = 20  # messages between two looks at the campaign's state (pause, cancel)


@dataclass
class BatchResult:
    """What one batch did; `retry` holds the ids to try again later."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retry: list[int] = field(default_factory=list)
    throttled: bool = False
    stopped: str | None = None


def template_for(rt: Runtime, campaign_id: int, statement_id: str, locale: str) -> MessageTemplate:
    """The message template of a variant, rendered and inlined once per process."""
    key = (campaign_id, statement_id, locale)
    cached = rt.templates.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    with rt.db.session() as session:
        if statement_id == DIGEST:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                raise NotFound("campaign", campaign_id)
            groups = [group_of(session, key) for key in campaign.items]
            items = [choose_version(locale, group, rt.org) for group in groups if group]
            since = (campaign.created_at - dt.timedelta(days=7)).date()
            variant = render_digest(
                items, locale=locale, org=rt.org, since=since, until=campaign.created_at.date()
            )
        else:
            variant = render_email("alert", load(session, statement_id), locale=locale, org=rt.org)
    template = build_template(
        variant,
        sender_name=rt.org.sender_name(locale),
        sender_address=rt.org.from_address,
        envelope_from=rt.org.envelope_from,
        list_name=rt.org.name,
        list_id=rt.org.list_id,
        campaign_id=campaign_id,
    )
    if len(rt.templates) > 256:
        rt.templates.clear()
    rt.templates[key] = template
    return template


def _claim(rt: Runtime, campaign_id: int, ids: list[int]) -> list[tuple[int, str, str]]:
    # Atomic pending -> sending with a lease: a second delivery of the same batch
    # (acks_late redelivery, the sweep) finds nothing left to claim. On PostgreSQL,
    # SKIP LOCKED lets two workers claim disjoint rows without waiting on each other.
    lease = utcnow() + dt.timedelta(seconds=rt.settings.lease_seconds)
    wanted = (
        Delivery.campaign_id == campaign_id,
        Delivery.subscriber_id.in_(ids),
        Delivery.status == "pending",
    )
    statement = update(Delivery).values(status="sending", lease_until=lease)
    if rt.db.is_sqlite:
        statement = statement.where(*wanted)
    else:
        locked = select(Delivery.id).where(*wanted).with_for_update(skip_locked=True)
        statement = statement.where(Delivery.id.in_(locked.scalar_subquery()))
    with rt.db.session() as session:
        rows = session.execute(
            statement.returning(Delivery.subscriber_id, Delivery.statement_id, Delivery.locale)
        ).all()
    return sorted((int(r[0]), str(r[1]), str(r[2])) for r in rows)


_TABLE: Any = Delivery.__table__
# Compiled once, run per accepted message on the batch's own connection: the ledger is
# written before the next message goes, at a fraction of an ORM session's cost.
_MARK_SENT = (
    update(_TABLE)
    .where(
        _TABLE.c.campaign_id == bindparam("campaign"),
        _TABLE.c.subscriber_id == bindparam("subscriber"),
    )
    .values(
        status="sent",
        sent_at=bindparam("sent_at"),
        message_id=bindparam("message_id"),
        last_reply=bindparam("reply"),
        attempts=_TABLE.c.attempts + 1,
        lease_until=None,
    )
)


_SQLITE_MARK_SENT = (
    "UPDATE deliveries SET status = 'sent', sent_at = ?, message_id = ?, last_reply = ?, "
    "attempts = attempts + 1, lease_until = NULL WHERE campaign_id = ? AND subscriber_id = ?"
)


def mark_sent(
    ledger: Connection, campaign_id: int, subscriber_id: int, message_id: str, reply: str
) -> None:
    """Record an accepted message and commit, before the next one is sent."""
    now = utcnow()
    if ledger.dialect.name == "sqlite":
        # Straight through the driver: this runs once per message, and SQLAlchemy's
        # statement machinery would cost more than SQLite itself. Same storage format
        # as the UTCDateTime column (naive UTC text).
        driver = ledger.connection.driver_connection
        assert driver is not None
        driver.execute(
            _SQLITE_MARK_SENT,
            (
                now.strftime("%Y-%m-%d %H:%M:%S.%f"),
                message_id,
                reply[:500],
                campaign_id,
                subscriber_id,
            ),
        )
        driver.commit()
        return
    ledger.execute(
        _MARK_SENT,
        {
            "campaign": campaign_id,
            "subscriber": subscriber_id,
            "sent_at": now,
            "message_id": message_id,
            "reply": reply[:500],
        },
    )
    ledger.commit()


def _record(rt: Runtime, campaign_id: int, subscriber_id: int, **values: object) -> None:
    with rt.db.session() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.campaign_id == campaign_id, Delivery.subscriber_id == subscriber_id)
            .values(lease_until=None, **values)
        )


def _give_back(rt: Runtime, campaign_id: int, ids: list[int], state: str) -> None:
    # The campaign was paused or cancelled mid-batch: rows not sent go back (or are cancelled).
    status, reason = (
        ("cancelled", "campaign cancelled") if state == "cancelled" else ("pending", None)
    )
    with rt.db.session() as session:
        session.execute(
            update(Delivery)
            .where(
                Delivery.campaign_id == campaign_id,
                Delivery.subscriber_id.in_(ids),
                Delivery.status == "sending",
            )
            .values(status=status, reason=reason, lease_until=None)
        )


def _state(rt: Runtime, campaign_id: int) -> tuple[str, dt.datetime | None]:
    with rt.db.session() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise NotFound("campaign", campaign_id)
        return campaign.state, campaign.started_at


def send_batch(rt: Runtime, campaign_id: int, subscriber_ids: list[int]) -> BatchResult:
    """Send to the batch's pending subscribers; progress is saved after each accepted message."""
    result = BatchResult()
    state, started = _state(rt, campaign_id)
    if state != "running":
        result.stopped = state
        return result
    deadline = (started or utcnow()) + dt.timedelta(seconds=rt.settings.retry_deadline)
    claimed = _claim(rt, campaign_id, subscriber_ids)
    if not claimed:
        return result
    with rt.db.session() as session:
        people = {
            row.id: (row.email, row.name, row.status)
            for row in session.scalars(
                select(Subscriber).where(Subscriber.id.in_([c[0] for c in claimed]))
            )
        }
    ledger = rt.db.engine.connect()
    try:
        return _send_claimed(rt, campaign_id, claimed, people, deadline, result, ledger)
    finally:
        ledger.close()


def _send_claimed(
    rt: Runtime,
    campaign_id: int,
    claimed: list[tuple[int, str, str]],
    people: dict[int, tuple[str, str, str]],
    deadline: dt.datetime,
    result: BatchResult,
    ledger: Connection,
) -> BatchResult:
    """Send each claimed row, recording each accepted message before the next."""
    for index, (subscriber_id, statement_id, locale) in enumerate(claimed):
        if index and index % _CHECK_EVERY == 0:
            state, _ = _state(rt, campaign_id)
            if state != "running":
                _give_back(rt, campaign_id, [c[0] for c in claimed[index:]], state)
                result.stopped = state
                return result
        person = people.get(subscriber_id)
        if person is None or person[2] != "subscribed":
            # Suppressed since planning (unsubscribed, bounced, erased): nothing more.
            _record(
                rt,
                campaign_id,
                subscriber_id,
                status="skipped",
                reason=person[2] if person else "forgotten",
            )
            result.skipped += 1
            continue
        email, name, _ = person
        template = template_for(rt, campaign_id, statement_id, locale)
        recipient = recipient_for(
            signer=rt.signer,
            org=rt.org,
            public_url=rt.settings.public_url,
            campaign_id=campaign_id,
            subscriber_id=subscriber_id,
            email=email,
            name=name,
        )
        message = template.build(recipient)
        if rt.dkim is not None:
            message = rt.dkim.sign(message)
        rt.limiter.acquire(email.rpartition("@")[2])
        try:
            reply = rt.transport.send(
                envelope_from=template.envelope_from, recipient=email, message=message
            )
        except TemporaryFailure as exc:
            _temporary(rt, campaign_id, subscriber_id, exc, result, deadline)
            continue
        except PermanentFailure as exc:
            _permanent(rt, campaign_id, subscriber_id, exc)
            result.failed += 1
            continue
        mark_sent(
            ledger, campaign_id, subscriber_id, recipient.message_id, f"{reply.code} {reply.reply}"
        )
        result.sent += 1
    with rt.db.session() as session:
        if result.failed and check_error_rate(session, campaign_id, rt.settings.error_threshold):
            log.warning("campaign %s paused itself: too many failures", campaign_id)
        finish_if_complete(session, campaign_id)
    log.info(
        "campaign %s batch: %d sent, %d failed, %d skipped, %d to retry",
        campaign_id,
        result.sent,
        result.failed,
        result.skipped,
        len(result.retry),
    )
    return result


def _temporary(
    rt: Runtime,
    campaign_id: int,
    subscriber_id: int,
    exc: DeliveryError,
    result: BatchResult,
    deadline: dt.datetime,
) -> None:
    if classify(exc.code, exc.reply) is Outcome.THROTTLED:
        # The server wants us slower, not this recipient gone: slow every worker down and
        # try again later without spending one of the recipient's attempts.
        rt.limiter.slow_down()
        result.throttled = True
        _record(rt, campaign_id, subscriber_id, status="pending", last_reply=str(exc)[:500])
        result.retry.append(subscriber_id)
        return
    with rt.db.session() as session:
        attempts = (
            session.scalars(
                select(Delivery.attempts).where(
                    Delivery.campaign_id == campaign_id, Delivery.subscriber_id == subscriber_id
                )
            ).one()
            + 1
        )
    final = attempts >= MAX_ATTEMPTS or utcnow() >= deadline
    _record(
        rt,
        campaign_id,
        subscriber_id,
        status="failed" if final else "pending",
        attempts=attempts,
        last_reply=str(exc)[:500],
        reason="gave up after retries" if final else None,
    )
    if final:
        result.failed += 1
    else:
        result.retry.append(subscriber_id)
    log.info(
        "campaign %s subscriber %s: temporary failure: %s",
        campaign_id,
        rt.signer.digest("log", subscriber_id)[:12],
        exc,
    )


def _permanent(rt: Runtime, campaign_id: int, subscriber_id: int, exc: PermanentFailure) -> None:
    with rt.db.session() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.campaign_id == campaign_id, Delivery.subscriber_id == subscriber_id)
            .values(
                status="failed",
                reason="rejected",
                last_reply=str(exc)[:500],
                attempts=Delivery.attempts + 1,
                lease_until=None,
            )
        )
        if exc.recipient:
            # The server refused this address for good: suppress it for every campaign.
            row = session.get(Subscriber, subscriber_id)
            if row is not None:
                row.status = "bounced"
                suppress(session, row.email_key, "bounced")
