"""Saved segments: named expressions, checked against the store, resolved and counted in SQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import and_, case, exists, func, literal_column, select, text
from sqlalchemy.orm import Session

from mailer.errors import InputError
from mailer.store.models import ActionTaker, Campaign, Segment, Subscriber, Suppression
from mailer.subscribers.segment_parse import (
    ATTRIBUTE,
    And,
    Node,
    Not,
    Or,
    Received,
    SegmentError,
    Took,
    parse_segment,
    to_source,
)
from mailer.subscribers.segment_sql import action_key, compile_segment

__all__ = [
    "SegmentCount",
    "check_segment",
    "count_segment",
    "excluding_term",
    "known_actions",
    "known_attributes",
    "resolve_segment",
    "save_segment",
]

_LISTED = 50  # names listed in an error message, at most
_NAME = re.compile(r"[\w-]{1,100}")  # what `save_segment` accepts as a name


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """How many people an expression matches: mailable ones, and all of them."""

    expression: str
    mailable: int
    matching: int


def _terms(node: Node) -> Iterator[Node]:
    if isinstance(node, And | Or):
        for operand in node.operands:
            yield from _terms(operand)
    elif isinstance(node, Not):
        yield from _terms(node.operand)
    else:
        yield node


def known_attributes(session: Session) -> list[str]:
    """Every attribute name some subscriber has (the extra columns of imported CSVs), sorted."""
    if session.get_bind().dialect.name == "sqlite":
        query = text(
            "SELECT DISTINCT j.key FROM subscribers, json_each(subscribers.attributes) AS j "
            "WHERE j.key IS NOT NULL"
        )
    else:
        query = text(
            "SELECT DISTINCT json_object_keys(attributes) FROM subscribers "
            "WHERE json_typeof(attributes) = 'object'"
        )
    return sorted(str(name) for name in session.scalars(query))


def _somebody_has(session: Session, name: str) -> bool:
    # Stops at the first person with the attribute: cheap for every attribute in use.
    extracted = Subscriber.attributes[name].as_string()
    return session.scalar(select(Subscriber.id).where(extracted.is_not(None)).limit(1)) is not None


def known_actions(session: Session) -> list[str]:
    """Every action recorded by `mailer actions import`, sorted."""
    return list(session.scalars(select(ActionTaker.action).distinct().order_by(ActionTaker.action)))


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown + (f" (and {len(names) - _LISTED} more)" if len(names) > _LISTED else "")


def check_segment(session: Session, node: Node) -> None:
    """Refuse what the store does not know: attributes, campaigns and actions (SegmentError)."""
    terms = list(_terms(node))
    attributes = [t for t in terms if getattr(t, "field", "").startswith(ATTRIBUTE)]
    for term in attributes:
        name = getattr(term, "field", "").removeprefix(ATTRIBUTE)
        if not _somebody_has(session, name):
            known = known_attributes(session)  # the whole table, only to say what exists
            where = f"column {getattr(term, 'column', 1)}: unknown attribute {name!r}; "
            raise SegmentError(
                where + f"known attributes: {_listing(known)}"
                if known
                else where + "no subscriber has attributes (the extra columns of a CSV)"
            )
    for term in terms:
        if isinstance(term, Received) and session.get(Campaign, term.campaign) is None:
            raise SegmentError(f"column {term.column}: no campaign {term.campaign}")
    actions = [t for t in terms if isinstance(t, Took)]
    if actions:
        recorded = known_actions(session)
        for took in actions:
            if action_key(took.action) not in recorded:
                where = f"column {took.column}: no action {took.action!r} recorded; "
                raise SegmentError(
                    where + f"recorded actions: {_listing(recorded)}"
                    if recorded
                    else where + "record one with `mailer actions import CSV --action NAME`"
                )


def _checked(session: Session, expression: str) -> Node:
    node = parse_segment(expression)
    check_segment(session, node)
    compile_segment(node)  # field and operator mistakes, with their column
    return node


def resolve_segment(session: Session, name_or_expression: str) -> str:
    """A saved segment's expression, or the text itself when no segment has that name.

    A single name that is no segment and no valid expression (`nosuchsegment`) is said to
    be an unknown segment, not a parser error; a saved segment that no longer holds (an
    attribute or campaign gone) stops with its name and reason."""
    name = name_or_expression.strip()
    saved = session.get(Segment, name[:100])
    if saved is not None:
        try:
            _checked(session, saved.expression)
        except InputError as exc:
            raise SegmentError(
                f"saved segment {name!r} ({saved.expression}) cannot be used: {exc.problem}"
            ) from exc
        return saved.expression
    try:
        _checked(session, name_or_expression)  # fail now, naming the column, not at send time
    except SegmentError:
        if _NAME.fullmatch(name):
            names = list(session.scalars(select(Segment.name).order_by(Segment.name)))
            known = f"saved segments: {_listing(names)}" if names else "no segment is saved"
            raise SegmentError(
                f"no saved segment named {name!r} ({known}; `mailer segments add NAME EXPR`)"
            ) from None
        raise
    return name_or_expression


def save_segment(session: Session, name: str, expression: str) -> bool:
    """Create or replace a named segment; True when it is new."""
    clean = name.strip()
    if not clean or len(clean) > 100 or not clean.replace("-", "").replace("_", "").isalnum():
        raise InputError("use up to 100 letters, digits, '-' and '_'", field="segment name")
    _checked(session, expression)
    row = session.get(Segment, clean)
    if row is None:
        session.add(Segment(name=clean, expression=expression))
        return True
    row.expression = expression
    return False


def count_segment(session: Session, name_or_expression: str) -> SegmentCount:
    """Count in the database: subscribed and not suppressed, and matching at all."""
    expression = resolve_segment(session, name_or_expression)
    condition = compile_segment(parse_segment(expression))
    suppressed = exists().where(Suppression.email_hash == Subscriber.email_hash)
    mailable = case((and_(Subscriber.status == "subscribed", ~suppressed), 1), else_=0)
    # One pass over the table for both counts (the suppression list looked up only for
    # matching subscribed people).
    matching, subscribed = session.execute(
        select(func.count(), func.coalesce(func.sum(mailable), 0))
        .select_from(Subscriber)
        .where(condition)
    ).one()
    return SegmentCount(expression, int(subscribed), int(matching))


def _holds(session: Session, node: Node, subscriber_id: int) -> bool:
    value = session.scalar(
        select(case((compile_segment(node), literal_column("1")), else_=literal_column("0")))
        .select_from(Subscriber)
        .where(Subscriber.id == subscriber_id)
    )
    return bool(value)


def _culprit(session: Session, node: Node, subscriber_id: int) -> Node:
    """The smallest part of a false expression that makes it false for this person."""
    if isinstance(node, And):
        for operand in node.operands:
            if not _holds(session, operand, subscriber_id):
                return _culprit(session, operand, subscriber_id)
    return node  # a term, an `or` of false terms, or a `not` of a true one


def excluding_term(session: Session, expression: str, subscriber_id: int) -> str | None:
    """The term of a segment that is false for this person now, or None when they match."""
    node = parse_segment(expression)
    if _holds(session, node, subscriber_id):
        return None
    return to_source(_culprit(session, node, subscriber_id))
