"""A variant that cannot be rendered fails its own rows; the rest of the batch is sent."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, select

from mailer.campaigns.plan import create_campaign, pending_batches, plan
from mailer.campaigns.run import send_batch
from mailer.config import load_settings
from mailer.runtime import build_runtime
from mailer.statements import parse_file
from mailer.statements.repository import save
from mailer.store.models import Delivery, StatementRow, Subscriber
from mailer.subscribers.importer import import_csv
from mailer.transport.memory import MemoryTransport
from tests.inprocess import EXAMPLES


def test_a_version_gone_mid_campaign_fails_its_rows_and_the_others_go(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "MAILER_DATABASE_URL": f"sqlite:///{tmp_path}/mailer.db",
            "MAILER_DATA_DIR": str(tmp_path / "data"),
            "MAILER_ORG_FILE": str(EXAMPLES / "mailer.toml"),
            "MAILER_SECRET_KEY": "render-failure-test-key-0123456789",
        }
    )
    transport = MemoryTransport()
    rt = build_runtime(settings, transport=transport)
    with rt.db.session() as session:
        for name in ("nso-export-licence.en.md", "nso-export-licence.nl.md"):
            save(session, parse_file(EXAMPLES / "statements" / name))
    people = tmp_path / "people.csv"
    people.write_text(
        "email,locale\n"
        + "".join(f"p{i}@example.org,{'nl' if i % 2 else 'en'}\n" for i in range(20)),
        encoding="utf-8",
    )
    import_csv(rt.db, people, consented=True)
    with rt.db.session() as session:
        campaign = create_campaign(session, org=rt.org, statement_id="nso-export-licence-en")
    plan(rt.db, rt.org, campaign.id)
    # The Dutch version disappears after planning (removed by hand): its variant cannot be
    # rendered any more.
    with rt.db.session() as session:
        session.execute(delete(StatementRow).where(StatementRow.id == "nso-export-licence-nl"))
    (ids,) = list(pending_batches(rt.db, campaign.id, 250))
    result = send_batch(rt, campaign.id, ids)
    with rt.db.session() as session:
        rows = session.execute(
            select(Subscriber.locale, Delivery.status, Delivery.last_reply)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.campaign_id == campaign.id)
        ).all()
        statuses = {s for (s,) in session.execute(select(Subscriber.status))}
    assert {(locale, status) for locale, status, _ in rows} == {("en", "sent"), ("nl", "failed")}
    assert all("cannot render" in str(reply) for locale, _, reply in rows if locale == "nl")
    assert (result.sent, result.failed) == (10, 10)
    assert len(transport.outbox) == 10
    assert statuses == {"subscribed"}  # the message's fault: nobody bounced
    rt.close()
