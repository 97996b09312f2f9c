"""Leases that follow the work: a live batch keeps its rows however slow it is; a dead one's
rows come back once its short lease runs out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy import select

from mailer.campaigns.plan import pending_batches
from mailer.campaigns.run import send_batch
from mailer.campaigns.sweep import sweep
from mailer.ledger import DeliveryState, deliveries
from mailer.runtime import Runtime
from mailer.store.models import Delivery, Subscriber
from mailer.transport.base import Outgoing, Report
from mailer.transport.classify import Reply, Stage
from mailer.transport.memory import MemoryTransport
from tests.planned import planned_campaign


def test_a_slow_batch_keeps_its_rows_past_its_lease(tmp_path: Path) -> None:
    # Rate limited to 8 messages a second, 30 messages take about four seconds: longer than
    # the shortest lease (3 s). Its heartbeat renews it; the sweep never takes the rows.
    rt, transport, campaign_id = planned_campaign(
        tmp_path, 30, MAILER_LEASE_SECONDS="3", MAILER_RATE_LIMIT="8"
    )
    (ids,) = list(pending_batches(rt.db, campaign_id, 250))
    done = threading.Event()
    worker = threading.Thread(
        target=lambda: (send_batch(rt, campaign_id, ids), done.set()), daemon=True
    )
    worker.start()
    expired = 0
    while not done.wait(0.3):
        expired += sweep(rt.db, rt.org).expired_leases
    worker.join()
    assert expired == 0
    assert sorted(m.recipient for m in transport.outbox) == sorted(
        f"p{i}@example.org" for i in range(30)
    )


def test_a_dead_batchs_rows_come_back_when_its_lease_runs_out(tmp_path: Path) -> None:
    rt, transport, campaign_id = planned_campaign(tmp_path, 5, MAILER_LEASE_SECONDS="3")
    (ids,) = list(pending_batches(rt.db, campaign_id, 250))
    # Claimed by a worker that dies at once: no heartbeat renews the lease.
    assert len(deliveries.claim(rt.db, campaign_id, ids, lease_seconds=3)) == 5
    assert sweep(rt.db, rt.org).expired_leases == 0
    time.sleep(3.2)
    assert sweep(rt.db, rt.org).expired_leases == 5
    with rt.db.session() as session:
        states = set(
            session.scalars(select(Delivery.status).where(Delivery.campaign_id == campaign_id))
        )
    assert states == {DeliveryState.PENDING}
    send_batch(rt, campaign_id, ids)
    assert len(transport.outbox) == 5


class _AnswersThenStalls(MemoryTransport):
    """Gets every reply at once (even rows accepted, odd rows refused at RCPT: 550 5.1.1),
    then holds the batch's thread for one and a half leases before giving it back, so the
    ledger learns the replies only then; at the end of the stall a sweep looks, on time."""

    def __init__(self, lease: float) -> None:
        super().__init__()
        self.lease = lease
        self.rt: Runtime | None = None
        self.expired: int | None = None

    def stream(
        self,
        items: Iterable[Outgoing],
        report: Report,
        meanwhile: Callable[[], None] | None = None,
    ) -> None:
        for n, item in enumerate(items):
            if n % 2:
                report(item, Reply(Stage.RCPT, 550, "5.1.1 <x>: User unknown"))
            else:
                item.build()
                report(item, Reply(Stage.DATA, 250, "2.0.0 queued"))
        time.sleep(self.lease * 1.5)
        assert self.rt is not None
        self.expired = sweep(self.rt.db, self.rt.org).expired_leases


def test_a_row_keeps_its_lease_until_its_reply_is_in_the_ledger(tmp_path: Path) -> None:
    # Replies known but not yet written (the batch's thread held up: a lock, a loaded host)
    # must not let the sweep give the rows to another worker: it would send the accepted
    # ones again and the refused ones' verdicts would find their rows gone.
    transport = _AnswersThenStalls(lease=3)
    rt, _, campaign_id = planned_campaign(
        tmp_path, 6, transport=transport, MAILER_LEASE_SECONDS="3"
    )
    transport.rt = rt
    (ids,) = list(pending_batches(rt.db, campaign_id, 250))
    result = send_batch(rt, campaign_id, ids)
    assert transport.expired == 0
    assert (result.sent, result.failed) == (3, 3)
    with rt.db.session() as session:
        wanted = select(Delivery.subscriber_id, Delivery.status)
        rows = {
            r[0]: r[1] for r in session.execute(wanted.where(Delivery.campaign_id == campaign_id))
        }
        people = {r[0]: r[1] for r in session.execute(select(Subscriber.id, Subscriber.status))}
    assert sorted(rows.values()) == ["failed"] * 3 + ["sent"] * 3
    assert {people[i] for i, s in rows.items() if s == "failed"} == {"bounced"}
    assert {people[i] for i, s in rows.items() if s == "sent"} == {"subscribed"}
