"""Leases that follow the work: a live batch keeps its rows however slow it is; a dead one's
rows come back once its short lease runs out."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import select

from mailer.campaigns.plan import pending_batches
from mailer.campaigns.run import send_batch
from mailer.campaigns.sweep import sweep
from mailer.ledger import DeliveryState, deliveries
from mailer.store.models import Delivery
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
