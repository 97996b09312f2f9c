"""Planning page by page: the first page goes out while the rest is planned, resumably."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from mailer.campaigns.control import cancel
from mailer.campaigns.plan import create_campaign, plan, plan_pages
from mailer.config import load_settings
from mailer.ledger.campaigns import finish as finish_if_complete
from mailer.runtime import Runtime, build_runtime
from mailer.statements import parse_file
from mailer.statements.repository import save
from mailer.store.models import Campaign, Delivery
from mailer.subscribers.importer import import_csv
from mailer.transport.memory import MemoryTransport

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PEOPLE = 1200


def _runtime(database_url: str, tmp_path: Path) -> tuple[Runtime, int]:
    rt = build_runtime(
        load_settings(
            {
                "MAILER_DATABASE_URL": database_url,
                "MAILER_DATA_DIR": str(tmp_path / "data"),
                "MAILER_ORG_FILE": str(EXAMPLES / "mailer.toml"),
                "MAILER_SECRET_KEY": "planning-test-key-0123456789abcdefghij",
            }
        ),
        transport=MemoryTransport(),
    )
    with rt.db.session() as session:
        save(session, parse_file(EXAMPLES / "statements" / "nso-export-licence.fr.txt"))
    people = tmp_path / "people.csv"
    people.write_text(
        "email,locale,alerts\n"
        + "".join(f"p{i}@example.org,{'fr' if i % 3 else 'nl'},true\n" for i in range(PEOPLE)),
        encoding="utf-8",
    )
    import_csv(rt.db, people, consented=True)
    with rt.db.session() as session:
        campaign = create_campaign(session, org=rt.org, statement_id="nso-export-licence-fr")
        return rt, campaign.id


def _rows(rt: Runtime, campaign_id: int) -> int:
    with rt.db.session() as session:
        count = session.scalar(
            select(func.count(Delivery.id)).where(Delivery.campaign_id == campaign_id)
        )
        return int(count or 0)


def _campaign(rt: Runtime, campaign_id: int) -> Campaign:
    with rt.db.session() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        return campaign


def test_the_first_page_is_ready_before_the_rest_is_planned(
    database_url: str, tmp_path: Path
) -> None:
    rt, campaign_id = _runtime(database_url, tmp_path)
    pages = plan_pages(rt.db, rt.org, campaign_id)
    first = next(pages)
    assert 0 < len(first) <= 500 and _rows(rt, campaign_id) == 500
    campaign = _campaign(rt, campaign_id)
    assert campaign.state == "running" and campaign.planned_at is None
    with rt.db.session() as session:
        # Every row planned so far could be sent: the campaign is not done for all that.
        session.execute(
            Delivery.__table__.update()
            .where(Delivery.campaign_id == campaign_id)
            .values(status="sent")
        )
        assert not finish_if_complete(session, campaign_id)
    rest = [ids for ids in pages]
    assert _rows(rt, campaign_id) == PEOPLE
    assert sum(map(len, rest)) + len(first) == PEOPLE  # everyone wants this alert
    assert _campaign(rt, campaign_id).planned_at is not None


def test_an_interrupted_plan_resumes_without_duplicates(database_url: str, tmp_path: Path) -> None:
    rt, campaign_id = _runtime(database_url, tmp_path)
    pages = plan_pages(rt.db, rt.org, campaign_id)
    next(pages)
    pages.close()  # the planner died after its first page
    result = plan(rt.db, rt.org, campaign_id)
    assert (result.total, result.pending) == (PEOPLE, PEOPLE)
    with rt.db.session() as session:
        distinct = session.scalar(
            select(func.count(func.distinct(Delivery.subscriber_id))).where(
                Delivery.campaign_id == campaign_id
            )
        )
    assert distinct == PEOPLE
    assert plan(rt.db, rt.org, campaign_id).total == PEOPLE  # planned once


def test_a_campaign_cancelled_while_planned_stops_planning(
    database_url: str, tmp_path: Path
) -> None:
    rt, campaign_id = _runtime(database_url, tmp_path)
    pages = plan_pages(rt.db, rt.org, campaign_id)
    next(pages)
    with rt.db.session() as session:
        assert cancel(session, campaign_id) == 500
    assert list(pages) == []
    assert _rows(rt, campaign_id) == 500
    assert _campaign(rt, campaign_id).state == "cancelled"


def test_a_batch_finds_its_rows_by_subscriber_not_by_scanning_the_campaign(
    tmp_path: Path,
) -> None:
    # Claiming 250 listed rows must cost 250 index lookups, not a scan of every pending row
    # of the campaign (quadratic over a million-recipient campaign).
    from sqlalchemy import select, text

    from mailer.ledger.deliveries import claimable

    rt, campaign_id = _runtime(f"sqlite:///{tmp_path}/mailer.db", tmp_path)
    plan(rt.db, rt.org, campaign_id)
    query = select(Delivery.id).where(*claimable(campaign_id, list(range(1, 251)), "sqlite"))
    sql = str(query.compile(rt.db.engine, compile_kwargs={"literal_binds": True}))
    with rt.db.engine.connect() as connection:
        steps = [row[-1] for row in connection.execute(text("EXPLAIN QUERY PLAN " + sql))]
    assert any("campaign_id=? AND subscriber_id=?" in step for step in steps), steps
