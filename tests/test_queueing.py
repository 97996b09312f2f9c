"""Queueing a planned campaign's rows (a resume, the sweep after Redis lost its queue): every
pending row in exactly one batch on a real Redis, the first batch alone and first, the rows
marked queued a page per statement rather than a commit per batch."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import event, select

from mailer.runtime import Runtime
from mailer.store.models import Delivery, utcnow
from tests.planned import planned_campaign
from tests.servers import RedisServer

PEOPLE = 2350
BATCH = 100


@pytest.fixture
def planned(
    database_url: str, tmp_path: Path, redis_server: RedisServer
) -> Iterator[tuple[Runtime, int, redis.Redis]]:
    from workers.app import configure, set_runtime

    broker = f"redis://127.0.0.1:{redis_server.port}/11"
    client = redis.Redis.from_url(broker)
    client.flushdb()
    rt, _, campaign_id = planned_campaign(
        tmp_path,
        PEOPLE,
        database_url=database_url,
        MAILER_BROKER_URL=broker,
        MAILER_BATCH_SIZE=str(BATCH),
    )
    configure(rt.settings)
    set_runtime(rt)
    try:
        yield rt, campaign_id, client
    finally:
        set_runtime(None)
        client.flushdb()
        rt.db.engine.dispose()


def _batches(client: redis.Redis) -> list[list[int]]:
    """The send_batch messages on the broker, oldest first (kombu pushes left, pops right)."""
    batches = []
    for raw in reversed(client.lrange("mailer", 0, -1)):
        message = json.loads(raw)
        assert message["headers"]["task"] == "mailer.send_batch"
        args, _, _ = json.loads(base64.b64decode(message["body"]))
        batches.append(list(args[1]))
    return batches


def _marking_statements(rt: Runtime) -> list[str]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE DELIVERIES SET QUEUED_AT"):
            seen.append(statement)

    event.listen(rt.db.engine, "before_cursor_execute", count)
    return seen


def _pending(rt: Runtime, campaign_id: int) -> list[tuple[int, dt.datetime | None]]:
    with rt.db.session() as session:
        rows = session.execute(
            select(Delivery.subscriber_id, Delivery.queued_at)
            .where(Delivery.campaign_id == campaign_id, Delivery.status == "pending")
            .order_by(Delivery.subscriber_id)
        )
        return [(int(r[0]), r[1]) for r in rows]


def _check(batches: list[list[int]], pending: list[tuple[int, dt.datetime | None]]) -> None:
    ids = [i for batch in batches for i in batch]
    assert sorted(ids) == [i for i, _ in pending]  # everyone once: no loss, no duplicate
    assert len(ids) == len(set(ids)) == PEOPLE
    assert max(map(len, batches)) == BATCH
    assert batches[0] == [i for i, _ in pending[:BATCH]]  # the first batch leaves first


def test_a_planned_campaign_is_queued_whole_a_page_per_statement(
    planned: tuple[Runtime, int, redis.Redis],
) -> None:
    from workers.tasks import dispatch, queue_page

    rt, campaign_id, client = planned
    marking = _marking_statements(rt)
    started = utcnow()
    queued = dispatch(campaign_id)
    batches = _batches(client)
    assert queued == len(batches) == 1 + -(-(PEOPLE - BATCH) // BATCH)
    pending = _pending(rt, campaign_id)
    _check(batches, pending)
    assert all(at is not None and _utc(at) >= started for _, at in pending)
    # The first batch alone, then a statement per page: 2 here, where a commit per batch took 24.
    assert len(marking) == 1 + -(-(PEOPLE - BATCH) // queue_page(BATCH))


def test_the_sweep_queues_again_every_row_a_restarted_redis_lost(
    planned: tuple[Runtime, int, redis.Redis],
) -> None:
    from workers.tasks import dispatch, queue_page, sweep_task

    rt, campaign_id, client = planned
    dispatch(campaign_id)
    client.flushdb()  # Redis restarted empty: the batches and the broker's mark are gone
    marking = _marking_statements(rt)
    assert sweep_task()["requeued_batches"] == -(-PEOPLE // BATCH)
    _check(_batches(client), _pending(rt, campaign_id))
    assert len(marking) == -(-PEOPLE // queue_page(BATCH))
    assert sweep_task()["requeued_batches"] == 0  # the mark is back: the queue is trusted


def test_a_page_is_whole_batches_within_the_id_limit() -> None:
    from workers.tasks import QUEUE_PAGE_ROWS, queue_page

    assert queue_page(250) == 5000 == QUEUE_PAGE_ROWS
    assert queue_page(1639) == 3 * 1639  # whole batches, under the limit
    assert queue_page(10_000) == 10_000  # a batch larger than a page: one batch, as before


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
