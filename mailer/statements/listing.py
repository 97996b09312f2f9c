"""The statements as `statements list` shows them, read with SQLAlchemy Core alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import JSON, Date, String, Text, column, select, table

from mailer.store.db import Database
from mailer.store.types import UTCDateTime

__all__ = ["LISTED", "statement_summaries", "summary"]

# The columns the list shows, by name and type. The command that admins type most often
# does without the ORM and the models (a third of its start-up); a test checks these
# against the model, mailer.store.models.StatementRow.
LISTED = table(
    "statements",
    column("id", String),
    column("lang", String),
    column("translation_key", String),
    column("title", Text),
    column("topics", JSON),
    column("countries", JSON),
    column("urgency", String),
    column("date", Date),
    column("published_at", UTCDateTime),
)


def summary(row: Mapping[Any, Any]) -> dict[str, Any]:
    """One statement's summary from its listed columns (`list`, `show`, their JSON)."""
    return {
        "id": row["id"],
        "lang": row["lang"],
        "translation_key": row["translation_key"],
        "title": row["title"],
        "topics": row["topics"],
        "countries": row["countries"],
        "urgency": row["urgency"],
        "date": row["date"].isoformat() if row["date"] else None,
        "published_at": row["published_at"].isoformat() if row["published_at"] else None,
    }


def statement_summaries(db: Database) -> list[dict[str, Any]]:
    """Every statement's summary, grouped by translation key, then by language."""
    c = LISTED.c
    query = select(LISTED).order_by(c.translation_key, c.lang)
    with db.engine.connect() as connection:
        return [summary(row) for row in connection.execute(query).mappings()]
