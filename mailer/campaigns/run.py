"""Send one batch of a campaign: claim the rows, build each message, send it, record it at once."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from mailer.bounces.verp import verp_sender
from mailer.campaigns.audience import DIGEST, choose_version
from mailer.campaigns.control import check_error_rate
from mailer.campaigns.journal import Journal, Mark, fold, journal_directory, replay_orphans
from mailer.campaigns.links import make_message_id
from mailer.campaigns.personal import PersonalMessage
from mailer.campaigns.plan import finish_if_complete
from mailer.compose import MessageTemplate, build_template
from mailer.errors import DeliveryError, NotFound, PermanentFailure
from mailer.render.variant import render_digest, render_email
from mailer.runtime import Runtime
from mailer.statements.repository import group_of, load
from mailer.store.models import Campaign, Delivery, Subscriber, utcnow
from mailer.subscribers.suppression import suppress
from mailer.transport.base import Outgoing, SendResult
from mailer.transport.classify import Outcome, classify

__all__ = [
    "FOLD_EVERY",
    "FOLD_SECONDS",
    "MAX_ATTEMPTS",
    "BatchResult",
    "send_batch",
    "template_for",
]

log = logging.getLogger("mailer.send")

MAX_ATTEMPTS = 8
_CHECK_SECONDS = 0.25  # between two looks at the campaign's state (pause, cancel)
# Accepted messages are journaled one by one and folded into the ledger at most this far apart:
# the delay before `campaigns status` counts them.
FOLD_EVERY = 100
FOLD_SECONDS = 1.0


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


def _status_of_these_rows() -> ColumnElement[str]:
    # The status as an expression no index can serve: a query for listed subscribers must
    # find them by (campaign, subscriber), 250 lookups. Offered `status = ?`, SQLite picks
    # the (campaign, status) index instead and scans every pending row of the campaign for
    # each batch: quadratic in the audience.
    return Delivery.status.concat("")


def claimable(campaign_id: int, ids: list[int]) -> tuple[ColumnElement[bool], ...]:
    """The listed subscribers' rows of a campaign that are still pending."""
    return (
        Delivery.campaign_id == campaign_id,
        Delivery.subscriber_id.in_(ids),
        _status_of_these_rows() == "pending",
    )


def _claim(rt: Runtime, campaign_id: int, ids: list[int]) -> list[tuple[int, str, str]]:
    # Atomic pending -> sending with a lease: a second delivery of the same batch
    # (acks_late redelivery, the sweep) finds nothing left to claim. On PostgreSQL,
    # SKIP LOCKED lets two workers claim disjoint rows without waiting on each other.
    lease = utcnow() + dt.timedelta(seconds=rt.settings.lease_seconds)
    wanted = claimable(campaign_id, ids)
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
                _status_of_these_rows() == "sending",
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
    # A dead stream's accepted messages reach the ledger before any row can be claimed again.
    replay_orphans(rt.db, journal_directory(rt.settings.data_dir))
    claimed = _claim(rt, campaign_id, subscriber_ids)
    if not claimed:
        return result
    people = _people(rt, [c[0] for c in claimed])
    ledger = rt.db.engine.connect()
    try:
        _send_claimed(rt, campaign_id, claimed, people, deadline, result, ledger)
    finally:
        ledger.close()
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


def _people(rt: Runtime, ids: list[int]) -> dict[int, tuple[str, str, str]]:
    """Address, name and status of each claimed subscriber (three columns, no ORM objects)."""
    with rt.db.engine.connect() as connection:
        rows = connection.execute(
            select(Subscriber.id, Subscriber.email, Subscriber.name, Subscriber.status).where(
                Subscriber.id.in_(ids)
            )
        )
        return {row[0]: (row[1], row[2], row[3]) for row in rows}


def _send_claimed(
    rt: Runtime,
    campaign_id: int,
    claimed: list[tuple[int, str, str]],
    people: dict[int, tuple[str, str, str]],
    deadline: dt.datetime,
    result: BatchResult,
    ledger: Connection,
) -> None:
    """Stream the claimed rows to the transport, recording each outcome as it comes back: an
    accepted message is committed to the ledger before the next message's data is sent."""
    message_ids: dict[int, str] = {}
    stopped_at: list[tuple[int, str]] = []

    def outgoing() -> Iterator[Outgoing]:
        looked = time.monotonic()
        for index, (subscriber_id, statement_id, locale) in enumerate(claimed):
            if time.monotonic() - looked >= _CHECK_SECONDS:
                looked = time.monotonic()
                state, _ = _state(rt, campaign_id)
                if state != "running":
                    stopped_at.append((index, state))
                    return
            person = people.get(subscriber_id)
            if person is None or person[2] != "subscribed":
                # Suppressed since planning (unsubscribed, bounced, erased): nothing more.
                reason = person[2] if person else "forgotten"
                _record(rt, campaign_id, subscriber_id, status="skipped", reason=reason)
                result.skipped += 1
                continue
            email, name, _ = person
            template = template_for(rt, campaign_id, statement_id, locale)
            message_ids[subscriber_id] = make_message_id(
                rt.signer, rt.org, campaign_id, subscriber_id
            )
            rt.limiter.acquire(email.rpartition("@")[2])
            personal = PersonalMessage(
                rt, template, campaign_id, subscriber_id, email, name, message_ids[subscriber_id]
            )
            yield Outgoing(
                subscriber_id,
                verp_sender(rt.org, rt.settings.secret_key, campaign_id, subscriber_id),
                email,
                personal.message,
                # Unsigned, the SMTP payload comes stuffed from parts stuffed once per variant;
                # a DKIM signature covers the unstuffed message, so the transport stuffs that.
                None if rt.dkim is not None else personal.data,
            )

    journal = _open_journal(rt)
    marks: list[Mark] = []
    folded_at = time.monotonic()

    def fold_when_due() -> None:
        # Run by the transport while the server stores a message: the bulk write costs the
        # stream nothing.
        nonlocal folded_at
        if len(marks) >= FOLD_EVERY or (marks and time.monotonic() - folded_at >= FOLD_SECONDS):
            fold(ledger, marks)
            marks.clear()
            folded_at = time.monotonic()

    try:
        for item, outcome in rt.transport.send_many(
            outgoing(), fold_when_due if journal is not None else None
        ):
            subscriber_id = item.key
            if isinstance(outcome, SendResult):
                mark = Mark(
                    campaign_id,
                    subscriber_id,
                    utcnow(),
                    message_ids.pop(subscriber_id),
                    f"{outcome.code} {outcome.reply}",
                )
                result.sent += 1
                if journal is None:
                    fold(ledger, [mark])  # no journal: one commit per message
                    continue
                journal.append(mark)
                marks.append(mark)
            elif isinstance(outcome, PermanentFailure):
                _permanent(rt, campaign_id, subscriber_id, outcome)
                result.failed += 1
            else:
                _temporary(rt, campaign_id, subscriber_id, outcome, result, deadline)
    finally:
        if journal is not None:
            _close_journal(journal, ledger, marks)
    if stopped_at:
        index, state = stopped_at[0]
        _give_back(rt, campaign_id, [c[0] for c in claimed[index:]], state)
        result.stopped = state


def _open_journal(rt: Runtime) -> Journal | None:
    try:
        return Journal(journal_directory(rt.settings.data_dir))
    except OSError as exc:
        log.warning("no send journal (%s): the ledger is committed once per message", exc)
        return None


def _close_journal(journal: Journal, ledger: Connection, marks: list[Mark]) -> None:
    try:
        fold(ledger, marks)
    except BaseException:
        journal.release()  # kept for a replayer: its marks are not in the ledger yet
        raise
    journal.close()


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
