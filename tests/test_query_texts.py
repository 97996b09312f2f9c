"""The send path's queries keep one text whatever the number of rows, on PostgreSQL: the
driver parses each text once and the server prepares it (a new text per count cost a fifth
of a sending worker's CPU)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from mailer.ledger import deliveries
from mailer.ledger.journal import Mark, fold
from mailer.store.db import Database, open_database
from mailer.store.models import Campaign, Delivery, Subscriber, utcnow
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

    from sqlalchemy import event

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
