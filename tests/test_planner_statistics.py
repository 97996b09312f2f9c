"""On PostgreSQL, a campaign's ledger rows are looked up by index from the first batch on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert

from mailer.campaigns.plan import create_campaign, plan_pages
from mailer.org import load_profile
from mailer.statements import parse_file
from mailer.statements.repository import save
from mailer.store import open_database
from mailer.store.models import Subscriber
from tests.conftest import EXAMPLES, _postgres_schema

PEOPLE = 10_000


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_schema()


def _plan_of(sql: str, db: object) -> str:
    with db.engine.connect() as connection:  # type: ignore[attr-defined]
        rows = connection.exec_driver_sql("EXPLAIN " + sql).all()
    return "\n".join(row[0] for row in rows)


@pytest.mark.postgres
def test_a_batch_finds_its_rows_by_the_unique_index(postgres_url: str, tmp_path: Path) -> None:
    db = open_database(postgres_url)
    org = load_profile(EXAMPLES / "mailer.toml")
    with db.session() as session:
        save(session, parse_file(EXAMPLES / "statements" / "nso-export-licence.fr.txt"))
        session.execute(
            insert(Subscriber),
            [
                {
                    "email": f"p{i}@example.org",
                    "email_key": f"p{i}@example.org",
                    "email_hash": f"{i:064d}",
                    "name": f"P {i}",
                    "locale": "fr",
                    "country": "BE",
                    "status": "subscribed",
                    "consent_source": "test",
                }
                for i in range(PEOPLE)
            ],
        )
        earlier = create_campaign(session, org=org, statement_id="nso-export-licence-fr")
    for _ in plan_pages(db, org, earlier.id):
        pass  # a campaign before: the ledger's statistics are those of its rows
    with db.session() as session:
        campaign = create_campaign(session, org=org, statement_id="nso-export-licence-fr")
    # The first page is planned: the batches of that page run now, before the rest is.
    pages = plan_pages(db, org, campaign.id)
    first = next(pages)
    batch = ", ".join(str(i) for i in first[:100])
    lookup = f"SELECT id FROM deliveries WHERE campaign_id = {campaign.id} AND subscriber_id IN ({batch})"
    # With the statistics of before, the planner takes the new campaign for a handful of
    # rows and reads all of them through the (campaign, status) index for every batch.
    next(pages)  # the second page: planned, not sent yet
    assert "uq_delivery_campaign_subscriber" in _plan_of(lookup, db)
    assert "ix_delivery_campaign_status" not in _plan_of(lookup, db)
    for _ in pages:
        pass
    assert "uq_delivery_campaign_subscriber" in _plan_of(lookup, db)
    db.dispose()
