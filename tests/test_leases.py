"""Leases that follow the work: a live batch keeps its rows however slow it is; a dead one's
rows come back once its short lease runs out."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import select

from mailer.campaigns.plan import create_campaign, pending_batches, plan
from mailer.campaigns.run import send_batch
from mailer.campaigns.sweep import sweep
from mailer.config import load_settings
from mailer.ledger import DeliveryState, deliveries
from mailer.runtime import build_runtime
from mailer.statements import parse_file
from mailer.statements.repository import save
from mailer.store.models import Delivery
from mailer.subscribers.importer import import_csv
from mailer.transport.memory import MemoryTransport
from tests.inprocess import EXAMPLES


def _runtime(tmp_path: Path, people: int, **extra: str):  # type: ignore[no-untyped-def]
    settings = load_settings(
        {
            "MAILER_DATABASE_URL": f"sqlite:///{tmp_path}/mailer.db",
            "MAILER_DATA_DIR": str(tmp_path / "data"),
            "MAILER_ORG_FILE": str(EXAMPLES / "mailer.toml"),
            "MAILER_SECRET_KEY": "lease-test-secret-key-0123456789",
            **extra,
        }
    )
    transport = MemoryTransport()
    rt = build_runtime(settings, transport=transport)
    with rt.db.session() as session:
        save(session, parse_file(EXAMPLES / "statements" / "nso-export-licence.en.md"))
    csv = tmp_path / "people.csv"
    csv.write_text(
        "email,locale\n" + "".join(f"p{i}@example.org,en\n" for i in range(people)),
        encoding="utf-8",
    )
    import_csv(rt.db, csv, consented=True)
    with rt.db.session() as session:
        campaign = create_campaign(session, org=rt.org, statement_id="nso-export-licence-en")
    plan(rt.db, rt.org, campaign.id)
    return rt, transport, campaign.id


def test_a_slow_batch_keeps_its_rows_past_its_lease(tmp_path: Path) -> None:
    # Rate limited to 8 messages a second, 30 messages take about four seconds: longer than
    # the shortest lease (3 s). Its heartbeat renews it; the sweep never takes the rows.
    rt, transport, campaign_id = _runtime(
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
    rt, transport, campaign_id = _runtime(tmp_path, 5, MAILER_LEASE_SECONDS="3")
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
