"""Send one batch of a campaign: claim the rows, stream them over every connection, record each
reply as it comes back."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator

from sqlalchemy import select

from mailer.campaigns.audience import DIGEST, choose_version
from mailer.campaigns.control import check_error_rate
from mailer.campaigns.digest import digest_period
from mailer.campaigns.digest_items import items_of
from mailer.campaigns.languages import sendable_group
from mailer.campaigns.links import make_message_id
from mailer.campaigns.personal import campaign_outgoing, org_template
from mailer.campaigns.verdicts import MAX_ATTEMPTS, BatchResult, Verdicts, sender_note
from mailer.compose import MessageTemplate
from mailer.errors import NotFound
from mailer.ledger import CampaignState, Recorder, campaigns, deliveries, replay_orphans
from mailer.ledger.journal import journal_directory
from mailer.ledger.lease import Heartbeat
from mailer.render.variant import render_digest, render_email
from mailer.runtime import Runtime
from mailer.statements.repository import load
from mailer.store.among import among
from mailer.store.models import Campaign, Subscriber, utcnow
from mailer.transport.base import Outgoing
from mailer.transport.classify import Outcome, Reply, Stage, judge

__all__ = ["MAX_ATTEMPTS", "BatchResult", "send_batch", "template_for"]

log = logging.getLogger("mailer.send")

_CHECK_SECONDS = 0.25  # between two looks at the campaign's state (pause, cancel)
# A batch whose rows are all handed out takes the campaign's next fresh rows itself for this
# long, so that its connections never wait for the next task (their own tasks then find them
# taken); after that it ends, and other campaigns' batches get their turn.
FOLLOW_SECONDS = 10.0


def template_for(rt: Runtime, campaign_id: int, statement_id: str, locale: str) -> MessageTemplate:
    """The message template of a variant, rendered and inlined once per process."""
    key = (campaign_id, statement_id, locale)
    cached = rt.templates.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    with rt.db.session() as session:
        if statement_id.split(":", 1)[0] == DIGEST:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                raise NotFound("campaign", campaign_id)
            keys = [campaign.items[i] for i in items_of(statement_id, len(campaign.items))]
            groups = [sendable_group(session, key, rt.org) for key in keys]
            items = [choose_version(locale, group, rt.org) for group in groups if group]
            since, until = digest_period(campaign, rt.org.timezone)
            variant = render_digest(items, locale=locale, org=rt.org, since=since, until=until)
        else:
            variant = render_email("alert", load(session, statement_id), locale=locale, org=rt.org)
    template = org_template(rt, variant, locale=locale, campaign_id=campaign_id)
    if len(rt.templates) > 256:
        rt.templates.clear()
    rt.templates[key] = template
    return template


def _state(rt: Runtime, campaign_id: int) -> tuple[CampaignState, dt.datetime | None]:
    with rt.db.session() as session:
        return campaigns.state_of(session, campaign_id)


def send_batch(rt: Runtime, campaign_id: int, subscriber_ids: list[int]) -> BatchResult:
    """Send to the batch's pending subscribers; each accepted message is recorded before its
    connection sends another."""
    result = BatchResult()
    state, started = _state(rt, campaign_id)
    if state != CampaignState.RUNNING:
        result.stopped = state
        return result
    deadline = (started or utcnow()) + dt.timedelta(seconds=rt.settings.retry_deadline)
    # A dead stream's accepted messages reach the ledger before any row can be claimed again.
    replay_orphans(rt.db, journal_directory(rt.settings.data_dir))
    claimed = deliveries.claim(
        rt.db, campaign_id, subscriber_ids, lease_seconds=rt.settings.lease_seconds
    )
    if not claimed:
        return result
    _send_claimed(rt, campaign_id, claimed, deadline, result)
    with rt.db.session() as session:
        if result.paused is not None:
            campaigns.pause_running(session, campaign_id, result.paused)
            log.warning("campaign %s paused itself: %s", campaign_id, result.paused)
        elif result.failed and check_error_rate(session, campaign_id, rt.settings.error_threshold):
            log.warning("campaign %s paused itself: too many failures", campaign_id)
        campaigns.finish(session, campaign_id)
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
                among(Subscriber.id, ids, connection.dialect.name)
            )
        )
        return {row[0]: (row[1], row[2], row[3]) for row in rows}


def _skip_gone(
    rt: Runtime, campaign_id: int, claimed: list[tuple[int, str, str]], result: BatchResult
) -> dict[int, tuple[str, str, str]]:
    """The claimed subscribers still subscribed; the others (unsubscribed, bounced, erased since
    planning) are skipped."""
    people = _people(rt, [c[0] for c in claimed])
    gone = {
        sub_id: people[sub_id][2] if sub_id in people else "forgotten"
        for sub_id, _, _ in claimed
        if sub_id not in people or people[sub_id][2] != "subscribed"
    }
    if gone:
        with rt.db.session() as session:
            deliveries.skip(session, campaign_id, gone)
        result.skipped += len(gone)
    return {k: v for k, v in people.items() if k not in gone}


def _send_claimed(
    rt: Runtime,
    campaign_id: int,
    claimed: list[tuple[int, str, str]],
    deadline: dt.datetime,
    result: BatchResult,
) -> None:
    """Stream the claimed rows over the transport's connections. Each reply is judged in the
    thread of the connection that got it: an acceptance is journaled there, before that
    connection sends another message; anything else is applied to the ledger here."""
    people = _skip_gone(rt, campaign_id, claimed, result)
    rows = [c for c in claimed if c[0] in people]
    held = {c[0] for c in claimed}  # rows in this batch's hands, its heartbeat renews them
    message_ids: dict[int, str] = {}
    offered: set[int] = set()
    stop: list[str] = []  # why the stream stopped early: a campaign state, or "lease"
    recorder = Recorder(rt.db, rt.settings.data_dir)
    verdicts = Verdicts(rt, campaign_id, result, deadline)
    started = time.monotonic()

    queue = deque(rows)  # rows to hand out, in order
    following = [True]  # the campaign may have more fresh rows for this batch
    claiming = threading.Lock()  # one claim at a time: a dry queue waits for the one running

    def follow(*, needed: bool) -> None:
        # Keep the connections busy: the campaign's next fresh rows, while time allows. The
        # batch's thread takes them while a batch's worth is still queued (`meanwhile`), so
        # a batch holds a second one from its start (deliberately: with half of one left, a
        # claim that took longer than the connections needed to send it let them find the
        # queue dry and wait on the claim; PostgreSQL RTT 0: 5,000-5,500 -> 5,700-6,000
        # emails/s, bench/throughput.py). What it holds unsent when it stops goes back. A
        # connection that finds the queue dry claims itself (transports that send from the
        # batch's thread).
        if not needed and (len(queue) > rt.settings.batch_size or not following[0]):
            return
        with claiming:
            if not following[0] or (needed and queue):
                return
            if time.monotonic() - started > FOLLOW_SECONDS or stop:
                following[0] = False
                return
            more = deliveries.claim_fresh(
                rt.db, campaign_id, rt.settings.batch_size, lease_seconds=rt.settings.lease_seconds
            )
            if not more:
                following[0] = False
                return
            held.update(c[0] for c in more)
            found = _skip_gone(rt, campaign_id, more, result)
            people.update(found)
            queue.extend(c for c in more if c[0] in found)

    def items() -> Iterator[Outgoing]:
        # Read by every connection's thread, one item at a time: the rate limits hold
        # across all of them.
        while True:
            if not queue:
                follow(needed=True)
                if not queue:
                    return
            subscriber_id, statement_id, locale = queue.popleft()
            if subscriber_id in left:
                continue  # unsubscribed (or bounced, erased) while the batch ran
            email, name, _ = people[subscriber_id]
            try:
                template = template_for(rt, campaign_id, statement_id, locale)
            except Exception as exc:  # a variant that cannot be rendered fails its rows alone
                reply = Reply(
                    Stage.BUILD, None, f"cannot render {statement_id} in {locale}: {exc}"[:300]
                )
                offered.add(subscriber_id)
                verdicts.add(subscriber_id, reply, judge(reply))
                continue
            rt.limiter.acquire(email.rpartition("@")[2])
            if stop or verdicts.refused_us is not None:
                return
            message_id = make_message_id(rt.signer, rt.org, campaign_id, subscriber_id)
            message_ids[subscriber_id] = message_id
            offered.add(subscriber_id)
            yield campaign_outgoing(
                rt,
                template,
                key=subscriber_id,
                campaign_id=campaign_id,
                subscriber_id=subscriber_id,
                email=email,
                name=name,
                message_id=message_id,
            )

    left: dict[int, str] = {}  # subscribers gone since the batch looked, not sent to yet

    def report(item: Outgoing, reply: Reply) -> None:
        verdict = judge(reply)
        if verdict.outcome is Outcome.SENT:
            recorder.sent(campaign_id, item.key, message_ids[item.key], str(reply))
        else:
            verdicts.add(item.key, reply, verdict)

    looked = time.monotonic()

    def meanwhile() -> None:
        # The batch's thread, while the connections work: bulk writes, and a look at the
        # campaign's state every quarter of a second.
        nonlocal looked
        recorder.fold_when_due()
        verdicts.apply()
        follow(needed=False)
        if stop or time.monotonic() - looked < _CHECK_SECONDS:
            return
        looked = time.monotonic()
        state, _ = _state(rt, campaign_id)
        if state != CampaignState.RUNNING:
            stop.append(state)
        elif beat.lost:
            stop.append("lease")
        # Someone who unsubscribes during the campaign gets nothing more: a look at the
        # statuses of those not sent to yet.
        waiting = [i for i in list(held) if i in people and i not in offered]
        if waiting:
            now = _people(rt, waiting)
            for subscriber_id in waiting:
                status = now[subscriber_id][2] if subscriber_id in now else "forgotten"
                if status != "subscribed":
                    left[subscriber_id] = status

    # A row's lease is renewed until its outcome is in the ledger, not merely known here: a
    # batch thread held up between the reply and the write (a database lock, a loaded host)
    # must not let the sweep give the row to another worker, which would send it again or
    # find its verdict unwritten. (Set differences of ints run whole under the GIL: the
    # connection threads may add meanwhile.)
    beat = Heartbeat(
        rt.db,
        campaign_id,
        lambda: list(held - recorder.folded - verdicts.applied),
        rt.settings.lease_seconds,
    )
    with beat:
        try:
            rt.transport.stream(items(), report, meanwhile)
        finally:
            recorder.close()  # every acceptance in the ledger before anything is given back
            result.sent += recorder.count
        verdicts.apply()
    if verdicts.refused_us is not None:
        result.paused = sender_note(verdicts.refused_us)
    gone = {i: reason for i, reason in left.items() if i not in offered}
    if gone:
        with rt.db.session() as session:
            deliveries.skip(session, campaign_id, gone)
        result.skipped += len(gone)
    # Rows never offered (a pause, a cancel, our sender refused) go back, or are cancelled.
    unsent = [i for i in held if i in people and i not in offered and i not in gone]
    reason = stop[0] if stop else (CampaignState.PAUSED if result.paused else None)
    if unsent and reason != "lease":
        with rt.db.session() as session:
            deliveries.give_back(
                session, campaign_id, unsent, cancelled=reason == CampaignState.CANCELLED
            )
        if reason is None:
            result.retry.extend(unsent)  # never lost: the task queues them again
    if reason is not None:
        result.stopped = str(reason)
