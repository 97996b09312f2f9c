"""Thin tasks: ids in, one call into mailer, temporary failures mapped to retries."""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from typing import Any

from mailer.campaigns.missing import release_held
from mailer.campaigns.plan import pending_batches, plan_pages
from mailer.campaigns.publish import publish
from mailer.campaigns.run import MAX_ATTEMPTS, send_batch
from mailer.campaigns.sweep import mark_queued, sweep, unfinished_plans, unqueued_batches
from mailer.ledger import journal_directory
from mailer.store.db import Database
from mailer.store.models import utcnow
from mailer.subscribers.confirm import send_confirmations
from workers.app import app, broker_lost_its_queue, mark_broker, runtime

# Seconds of planning per task after the first page (see `dispatch`).
PLAN_SLICE_SECONDS = 5.0
# A pending row queued this long ago whose batch never ran is queued again by the sweep.
QUEUE_STALE_SECONDS = 600.0
# Rows marked queued by one statement: a commit per batch held the worker that started a
# planned campaign of 20,000 people 0.66 s before it could send (PostgreSQL), 0.45 s with
# pages. At most this many ids (an IN list on SQLite, whose builds may allow 32,766
# parameters), or one batch when a batch is larger.
QUEUE_PAGE_ROWS = 5000

__all__ = [
    "announce_statement",
    "dispatch",
    "fetch_bounces_task",
    "queue_page",
    "send_batch_task",
    "send_confirmations_task",
    "start_campaign",
    "sweep_task",
    "tick_task",
]


def dispatch(campaign_id: int, since: str | None = None) -> int:
    """Plan the campaign (once) and queue its pending rows in batches; returns batches queued.

    Planning goes in slices: the first page, then about PLAN_SLICE_SECONDS of pages per
    task, each page's batches queued as soon as it is committed and the rest of the plan
    queued behind them. The first messages leave at once, even on a single embedded worker,
    and a large audience is planned while it is being sent. `since` is when the first
    slice began: every slice decides with the same clock."""
    rt = runtime()
    size = rt.settings.batch_size
    mark_broker(rt.settings.broker_url)
    started = dt.datetime.fromisoformat(since) if since else utcnow()
    deadline = time.monotonic() + (PLAN_SLICE_SECONDS if since else 0.0)
    queued = 0
    for ids in plan_pages(rt.db, rt.org, campaign_id, now=started):
        for first in range(0, len(ids), size):
            send_batch_task.delay(campaign_id, ids[first : first + size])
            queued += 1
        if time.monotonic() >= deadline:
            start_campaign.delay(campaign_id, started.isoformat())  # the rest, behind these
            return queued
    # Subscribers held for a translation that has arrived, or whose wait is over, go now.
    release_held(rt.db, rt.org)
    # Rows planned earlier (a resume, a plan made elsewhere) or given back by a pause.
    # The first batch alone (its messages leave while the rest is marked), then pages.
    pages = pending_batches(rt.db, campaign_id, queue_page(size), queued_before=started, first=size)
    for ids in pages:
        queued += _queue(rt.db, campaign_id, ids, size)
    return queued


def queue_page(size: int) -> int:
    """Rows per page for batches of `size`: whole batches, one at least."""
    return max(size, QUEUE_PAGE_ROWS // size * size)


def _queue(db: Database, campaign_id: int, ids: list[int], size: int) -> int:
    """Mark pending rows queued (one statement), then put them on the broker in batches of
    `size`; returns the batches queued. Marked first: rows marked but never queued (a crash
    or a broker error between the two) are queued again by the sweep once stale (ten
    minutes, at once when Redis lost its queue), never lost."""
    mark_queued(db, campaign_id, ids)
    for first in range(0, len(ids), size):
        send_batch_task.delay(campaign_id, ids[first : first + size])
    return -(-len(ids) // size)


@app.task(name="mailer.announce_statement")
def announce_statement(statement_id: str) -> int | None:
    """Publication of a statement: an alert campaign planned and queued, or (news) nothing
    until the digest."""
    rt = runtime()
    result = publish(rt.db, rt.org, statement_id)
    if result.campaign_id is not None:
        dispatch(result.campaign_id)
    return result.campaign_id


@app.task(name="mailer.start_campaign")
def start_campaign(campaign_id: int, since: str | None = None) -> int:
    """An explicit campaign (mailer send, campaigns send, resume): plan and queue it; with
    `since`, the next slice of its plan."""
    dispatch(campaign_id, since)
    return campaign_id


def backoff(retries: int) -> float:
    """Exponential backoff with full jitter, capped at ten minutes."""
    return float(random.uniform(1.0, max(1.0, min(600.0, 2.0 * 2**retries))))


@app.task(bind=True, name="mailer.send_batch", max_retries=None)
def send_batch_task(self: Any, campaign_id: int, subscriber_ids: list[int]) -> dict[str, int]:
    """Send one batch; rows that failed temporarily come back later as a smaller batch."""
    rt = runtime()
    result = send_batch(rt, campaign_id, subscriber_ids)
    if result.retry:
        mark_queued(rt.db, campaign_id, result.retry)
        attempt = min(self.request.retries, MAX_ATTEMPTS)
        raise self.retry(args=(campaign_id, result.retry), countdown=backoff(attempt))
    return {"sent": result.sent, "failed": result.failed, "skipped": result.skipped}


@app.task(bind=True, name="mailer.send_confirmations", max_retries=8)
def send_confirmations_task(self: Any, subscriber_ids: list[int]) -> int:
    """Double opt-in emails for new pending subscribers."""
    result = send_confirmations(runtime(), subscriber_ids)
    if result.retry:
        raise self.retry(args=(result.retry,), countdown=backoff(self.request.retries))
    return result.sent


@app.task(name="mailer.sweep")
def sweep_task() -> dict[str, int]:
    """Beat: recover dead workers' rows and lost batches; nothing needs an operator."""
    rt = runtime()
    result = sweep(rt.db, rt.org, journals=journal_directory(rt.settings.data_dir))
    stale = dt.timedelta(seconds=rt.settings.lease_seconds)
    for campaign_id in unfinished_plans(rt.db, stale_after=stale):
        start_campaign.delay(campaign_id)  # its planner died: plan the rest (resumable)
    # Batches wait in the queue as long as the campaign before them takes: only a broker that
    # lost its queue (a Redis restarted empty: the mark below is gone) has lost them all;
    # otherwise a batch queued long ago and still pending is taken as lost.
    lost = broker_lost_its_queue(rt.settings.broker_url)
    stale = dt.timedelta(0) if lost else dt.timedelta(seconds=QUEUE_STALE_SECONDS)
    requeued = 0
    size = rt.settings.batch_size
    pages = unqueued_batches(rt.db, size=queue_page(size), stale_after=stale)
    for campaign_id, ids in pages:
        requeued += _queue(rt.db, campaign_id, ids, size)
    if lost:
        mark_broker(rt.settings.broker_url)
    return {
        "expired_leases": result.expired_leases,
        "requeued_batches": requeued,
        "finished": result.finished,
    }


@app.task(name="mailer.tick")
def tick_task() -> list[int]:
    """Beat, every minute: scheduled campaigns, the digest, the sources."""
    # Imported here: the sources' feed and file readers are no part of sending a campaign.
    from mailer.campaigns.tick import tick

    rt = runtime()
    started = tick(rt.db, rt.org)
    for campaign_id in started:
        dispatch(campaign_id)
    return started


@app.task(name="mailer.fetch_bounces")
def fetch_bounces_task() -> dict[str, int]:
    """Beat, every tick: the bounce mailbox's new reports, within one tick's time."""
    from mailer.bounces.fetch import fetch_bounces
    from mailer.bounces.mailbox import MailboxError

    rt = runtime()
    try:
        result = fetch_bounces(rt, budget_seconds=rt.settings.tick_seconds)
    except MailboxError as exc:  # the next tick tries again; one line, not a traceback
        logging.getLogger("mailer.bounces").warning("bounce mailbox: %s", exc)
        return {"read": 0, "already": 0, "left": 0}
    return {"read": result.read, "already": result.already, "left": result.left}
