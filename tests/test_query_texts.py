"""The send path's and the imports' queries keep one text whatever the number of rows, on
PostgreSQL: the driver parses each text once and the server prepares it (a new text per
count cost a fifth of a sending worker's CPU)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, text

from mailer.ledger import deliveries
from mailer.ledger.journal import Mark, fold
from mailer.store.db import Database, open_database
from mailer.store.models import ActionTaker, Campaign, Delivery, Subscriber, utcnow
from mailer.subscribers.importer import import_csv
from mailer.subscribers.suppression import suppress
from mailer.subscribers.taken import import_actions
from tests.conftest import _postgres_schema

ROWS = 40


@pytest.fixture
def ledger() -> Iterator[tuple[Database, int, list[int]]]:
    for url in _postgres_schema():
        db = open_database(url)
        with db.session() as session:
            campaign = Campaign(
                kind="manual", statement_id="s", translation_key="s", state="running"
            )
            session.add(campaign)
            people = [
                Subscriber(
                    email=f"p{i}@example.org", email_key=f"p{i}@example.org", email_hash=f"h{i}"
                )
                for i in range(ROWS)
            ]
            session.add_all(people)
            session.flush()
            session.add_all(
                Delivery(campaign_id=campaign.id, subscriber_id=p.id, status="pending")
                for p in people
            )
            campaign_id, ids = campaign.id, [p.id for p in people]
        try:
            yield db, campaign_id, ids
        finally:
            db.engine.dispose()


def _prepared(connection: object, like: str) -> int:
    found = connection.execute(  # type: ignore[attr-defined]
        text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE :like"),
        {"like": like},
    )
    return int(found.scalar_one())


def test_folds_of_every_size_are_one_prepared_statement(
    ledger: tuple[Database, int, list[int]],
) -> None:
    db, campaign_id, ids = ledger
    moment = utcnow()
    with db.engine.connect() as connection:
        start = 0
        for size in (1, 2, 3, 4, 5, 6, 7, 12):  # psycopg prepares a text on its fifth use
            marks = [
                Mark(campaign_id, i, moment, f"<m{i}>", "250 OK") for i in ids[start : start + size]
            ]
            fold(connection, marks)
            start += size
        assert _prepared(connection, "UPDATE deliveries AS d%") == 1
        sent = connection.execute(
            text("SELECT count(*) FROM deliveries WHERE status = 'sent'")
        ).scalar_one()
    assert sent == start


def test_listed_rows_are_one_query_text_whatever_the_count(
    ledger: tuple[Database, int, list[int]],
) -> None:
    db, campaign_id, ids = ledger
    texts: set[str] = set()
    counts = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.startswith("UPDATE deliveries"):
            texts.add(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    start = 0
    for size in (1, 3, 8, 13):
        batch = ids[start : start + size]
        deliveries.mark_queued(db, campaign_id, batch)
        counts.append(len(deliveries.claim(db, campaign_id, batch, lease_seconds=60)))
        start += size
    assert counts == [1, 3, 8, 13]  # every listed row found and claimed
    # One text for the queue marks and one for the claims, whatever the count.
    assert len(texts) == 2, texts


def test_imports_look_people_up_with_one_query_text_whatever_the_chunk(
    ledger: tuple[Database, int, list[int]], tmp_path: Path
) -> None:
    db, _, _ = ledger
    with db.session() as session:
        suppress(session, "gone@example.org", "unsubscribed")
    texts: set[str] = set()

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if " IN " in statement or "ANY" in statement:
            texts.add(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    created, refused, matched = 0, 0, 0
    for size in (1, 3, 8):
        people = tmp_path / f"people{size}.csv"
        rows = [f"new{size}-{i}@example.org" for i in range(size)]
        # Someone known (p0, from the fixture) and someone suppressed in every file.
        people.write_text(
            "email\n" + "\n".join([*rows, "p0@example.org", "gone@example.org"]) + "\n",
            encoding="utf-8",
        )
        report = import_csv(db, people, consented=True)
        created += report.created
        refused += report.suppressed
        signers = tmp_path / f"signers{size}.csv"
        signers.write_text("email\n" + "\n".join([*rows, "nobody@example.net"]) + "\n")
        matched += import_actions(db, signers, action="petition").matched
    assert (created, refused, matched) == (12, 3, 12)
    # The people by key, the suppression list by hash, action takers by id: one text each.
    assert len(texts) == 4, texts
    assert all("ANY" in statement for statement in texts), texts


PEOPLE = """email,name,locale,country,topics,alerts,lists,status,member_since
ana@example.org,Ana Émile,fr,BE,"NSO Group;surveillance",true,newsletter,subscribed,2019
bert@example.org,"Bert ""B"" Bos",nl,NL,surveillance,false,,pending,
carla@Example.ORG,Carla,de,,,true,"newsletter;press",,2021
"""

SIGNERS = """email,taken_at
ana@example.org,2024-07-01T10:30:00+02:00
CARLA@example.org,2024-07-02
stranger@example.net,2024-07-03
"""


def _imported(url: str, path: Path) -> list[dict[str, object]]:
    db = open_database(url)
    try:
        report = import_csv(db, path, consented=False)
        assert (report.created, report.rejected_count) == (3, 0)
        signers = path.with_name("signers.csv")
        signers.write_text(SIGNERS, encoding="utf-8")
        assert import_actions(db, signers, action="Petition NSO").recorded == 2
        with db.session() as session:
            people = session.query(Subscriber).order_by(Subscriber.email_key).all()
            took = {
                person.email_key: (taker.action, taker.taken_at, taker.source)
                for taker, person in session.query(ActionTaker, Subscriber).join(
                    Subscriber, Subscriber.id == ActionTaker.subscriber_id
                )
            }
            return [
                {
                    column.name: getattr(person, column.name)
                    for column in Subscriber.__table__.c
                    if column.name not in {"id", "email_hash"}
                }
                | {"took": took.get(person.email_key)}
                for person in people
            ]
    finally:
        db.engine.dispose()


def test_an_import_writes_the_same_people_on_postgresql_as_on_sqlite(tmp_path: Path) -> None:
    # PostgreSQL's import streams its new people with COPY, SQLite's with executemany: the
    # stored people must be the same, column by column (hashes aside: each store has its salt).
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE, encoding="utf-8")
    on_sqlite = _imported(f"sqlite:///{tmp_path / 'mailer.db'}", path)
    for url in _postgres_schema():
        on_postgres = _imported(url, path)
    moments = {"created_at", "updated_at", "consent_at"}
    for lite, pg in zip(on_sqlite, on_postgres, strict=True):
        assert {k: v for k, v in lite.items() if k not in moments} == {
            k: v for k, v in pg.items() if k not in moments
        }
        for moment in moments:
            assert (lite[moment] is None) == (pg[moment] is None), moment
            if pg[moment] is not None:
                assert pg[moment].tzinfo is not None  # type: ignore[attr-defined]
    assert on_postgres[0]["topics"] == ["NSO Group", "surveillance"]
    action, taken_at, _ = on_postgres[0]["took"]  # type: ignore[misc]
    assert action == "petition nso" and taken_at == dt.datetime(2024, 7, 1, 8, 30, tzinfo=dt.UTC)
