"""Store and load statements; a translation group is every statement sharing a translation key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.errors import NotFound
from mailer.statements.model import Block, CallToAction, Statement
from mailer.store.models import StatementRow, utcnow

__all__ = ["content_hash", "group_of", "load", "mark_published", "save", "to_statement"]


def content_hash(statement: Statement) -> str:
    """The digest of everything a statement says (its row's `content_hash`)."""
    payload = json.dumps(asdict(statement), sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def save(session: Session, statement: Statement, *, replace_published: bool = False) -> str:
    """Insert or update; returns 'created', 'updated', 'unchanged', or 'published' when the
    row is published and its content would change: its alert went out with that content,
    which the view-online pages and the archive show as sent (`replace_published` replaces
    it all the same)."""
    digest = content_hash(statement)
    row = session.get(StatementRow, statement.id)
    if row is not None and row.content_hash == digest:
        return "unchanged"
    if row is not None and row.published_at is not None and not replace_published:
        return "published"
    values = {
        "lang": statement.lang,
        "translation_key": statement.translation_key,
        "title": statement.title,
        "lead": statement.lead,
        "blocks": [asdict(b) for b in statement.blocks],
        "topics": list(statement.topics),
        "countries": list(statement.countries),
        "urgency": statement.urgency,
        "urgent": statement.urgent,
        "url": statement.url,
        "date": statement.date,
        "cta": [asdict(c) for c in statement.cta],
        "source": statement.source,
        "content_hash": digest,
    }
    if row is None:
        session.add(StatementRow(id=statement.id, **values))
        session.flush()
        return "created"
    for key, value in values.items():
        setattr(row, key, value)
    session.flush()
    return "updated"


def to_statement(row: StatementRow) -> Statement:
    """The Statement value of a row."""
    return Statement(
        id=row.id,
        lang=row.lang,
        translation_key=row.translation_key,
        title=row.title,
        lead=row.lead,
        blocks=tuple(Block(**b) for b in row.blocks),
        topics=tuple(row.topics),
        countries=tuple(row.countries),
        urgency=row.urgency,
        urgent=row.urgent,
        url=row.url,
        date=row.date,
        cta=tuple(CallToAction(**c) for c in row.cta),
        source=row.source,
    )


def load(session: Session, statement_id: str) -> Statement:
    """One statement by id, or NotFound."""
    row = session.get(StatementRow, statement_id)
    if row is None:
        raise NotFound("statement", statement_id)
    return to_statement(row)


def group_of(session: Session, translation_key: str) -> list[Statement]:
    """Every translation of an announcement, ordered by language."""
    rows = session.scalars(
        select(StatementRow)
        .where(StatementRow.translation_key == translation_key)
        .order_by(StatementRow.lang)
    )
    return [to_statement(r) for r in rows]


def mark_published(session: Session, translation_key: str) -> int:
    """Stamp the group's unpublished statements as published now; returns how many."""
    rows = session.scalars(
        select(StatementRow).where(
            StatementRow.translation_key == translation_key, StatementRow.published_at.is_(None)
        )
    ).all()
    now = utcnow()
    for row in rows:
        row.published_at = now
    return len(rows)
