"""Saved segments: named expressions, resolved and counted in SQL."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from mailer.errors import InputError
from mailer.store.models import Segment, Subscriber, Suppression
from mailer.subscribers.segment_sql import segment_condition

__all__ = ["SegmentCount", "count_segment", "resolve_segment", "save_segment"]


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """How many people an expression matches: mailable ones, and all of them."""

    expression: str
    mailable: int
    matching: int


def resolve_segment(session: Session, name_or_expression: str) -> str:
    """A saved segment's expression, or the text itself when no segment has that name."""
    saved = session.get(Segment, name_or_expression.strip())
    expression = saved.expression if saved else name_or_expression
    segment_condition(expression)  # fail now, naming the column, not at send time
    return expression


def save_segment(session: Session, name: str, expression: str) -> bool:
    """Create or replace a named segment; True when it is new."""
    clean = name.strip()
    if not clean or not clean.replace("-", "").replace("_", "").isalnum():
        raise InputError("use letters, digits, '-' and '_' only", field="segment name")
    segment_condition(expression)
    row = session.get(Segment, clean)
    if row is None:
        session.add(Segment(name=clean, expression=expression))
        return True
    row.expression = expression
    return False


def count_segment(session: Session, name_or_expression: str) -> SegmentCount:
    """Count in the database: subscribed and not suppressed, and matching at all."""
    expression = resolve_segment(session, name_or_expression)
    condition = segment_condition(expression)
    matching = session.scalar(select(func.count()).select_from(Subscriber).where(condition)) or 0
    suppressed = exists().where(Suppression.email_hash == Subscriber.email_hash)
    mailable = (
        session.scalar(
            select(func.count())
            .select_from(Subscriber)
            .where(condition, Subscriber.status == "subscribed", ~suppressed)
        )
        or 0
    )
    return SegmentCount(expression, int(mailable), int(matching))
