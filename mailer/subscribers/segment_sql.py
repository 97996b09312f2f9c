"""Compile a parsed segment into a parameterised SQLAlchemy condition on subscribers.

`and`/`or` chains become balanced trees of parenthesised pairs: SQLite parses `a OR b OR c`
into a tree as deep as the chain (its limit is 1000) and PostgreSQL recurses as deep, while
pairs keep any accepted expression a few dozen levels deep.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, exists, not_, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import NullType

from mailer.locales import normalise_locale
from mailer.store.models import ActionTaker, Delivery, Subscriber
from mailer.subscribers.segment_parse import (
    ATTRIBUTE,
    LIST_FIELDS,
    And,
    Compare,
    Contains,
    Empty,
    Flag,
    InSet,
    Node,
    Not,
    Or,
    Received,
    SegmentError,
    Took,
    parse_segment,
)
from mailer.subscribers.validate import email_key

__all__ = ["FIELDS", "action_key", "compile_segment", "keys_of", "segment_condition"]

# The ledger state of a delivery the server accepted: what `received(ID)` means.
SENT = "sent"

# field -> kind; the kind decides which operators apply.
FIELDS: dict[str, str] = {
    "email": "text",
    "name": "text",
    "locale": "locale",
    "language": "language",
    "country": "country",
    "status": "text",
    "alert_pref": "text",
    **dict.fromkeys(sorted(LIST_FIELDS), "list"),
    "alerts": "flag",
    "digest": "flag",
    "created_at": "date",
    "consent_at": "date",
}
_COLUMNS: dict[str, Any] = {
    "email": Subscriber.email_key,
    "name": Subscriber.name,
    "locale": Subscriber.locale,
    "country": Subscriber.country,
    "status": Subscriber.status,
    "alert_pref": Subscriber.alert_pref,
    "topics": Subscriber.topic_keys,
    "lists": Subscriber.list_keys,
    "created_at": Subscriber.created_at,
    "consent_at": Subscriber.consent_at,
}
_OPS = {"=", "!="}
_ORDER_OPS = {"<", "<=", ">", ">="}


def keys_of(items: list[str] | tuple[str, ...]) -> str:
    """The delimited, case-folded form stored in topic_keys / list_keys."""
    return _keys(tuple(items))


@lru_cache(maxsize=4096)
def _keys(items: tuple[str, ...]) -> str:
    folded = sorted({" ".join(i.split()).casefold() for i in items if i.strip()})
    return ";" + ";".join(folded) + ";" if folded else ""


def action_key(name: str) -> str:
    """How an action's name is stored and matched: spaces collapsed, case-folded."""
    return " ".join(name.split()).casefold()


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _kind(field: str, column: int) -> str:
    if field.startswith(ATTRIBUTE):
        return "attribute"
    kind = FIELDS.get(field)
    if kind is None:
        raise SegmentError(
            f"column {column}: unknown field {field!r}; valid fields: {', '.join(sorted(FIELDS))}"
        )
    return kind


def _text_value(field: str, kind: str, value: object, column: int) -> str:
    if kind == "attribute" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # attr.member_since = 2019: attributes are the CSV's text
    if not isinstance(value, str):
        raise SegmentError(
            f'column {column}: {field} compares with a "quoted string", not {value!r}'
        )
    if kind == "locale":
        normal = normalise_locale(value)
        if normal is None:
            raise SegmentError(f"column {column}: unknown locale {value!r}")
        return normal
    if kind == "language":
        return value.strip().lower()
    if kind == "country":
        return value.strip().upper()
    if field == "email":
        return email_key(value.strip())  # the stored key's own form
    return value


def _attribute(field: str) -> ColumnElement[str]:
    # JSON_EXTRACT(attributes, '$."name"') on SQLite, attributes ->> 'name' on PostgreSQL:
    # the name is a bound parameter like every value.
    return Subscriber.attributes[field.removeprefix(ATTRIBUTE)].as_string()  # type: ignore[no-any-return]


def _equals(field: str, kind: str, value: str) -> ColumnElement[bool]:
    if kind == "attribute":
        extracted = _attribute(field)
        return and_(extracted.is_not(None), extracted == value)
    if kind == "language":
        return Subscriber.locale.is_not(None) & or_(
            Subscriber.locale == value,
            Subscriber.locale.like(_like_escape(value) + "\\_%", escape="\\"),
        )
    column = _COLUMNS[field]
    return and_(column.is_not(None), column == value)


def _contains(field: str, value: str) -> ColumnElement[bool]:
    pattern = "%;" + _like_escape(" ".join(value.split()).casefold()) + ";%"
    return _COLUMNS[field].like(pattern, escape="\\")  # type: ignore[no-any-return]


def _date(value: object, column: int) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise SegmentError(f"column {column}: not an ISO date: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# Typed like the comparisons it holds (NullType), not Boolean: SQLite has no boolean type,
# and SQLAlchemy would append "= 1" to a Boolean element that is not a comparison.
BOOLEAN_CONDITION = NullType()


class _Parenthesised(ColumnElement[bool]):
    """A condition in parentheses that `and_`/`or_` keep as one operand: SQLAlchemy flattens
    nested chains of one operator, groupings included, into one long chain."""

    __visit_name__ = "mailer_parenthesised"
    inherit_cache = True
    _traverse_internals = [("element", InternalTraversal.dp_clauseelement)]  # noqa: RUF012
    type = BOOLEAN_CONDITION  # type: ignore[assignment]

    def __init__(self, element: ColumnElement[bool]) -> None:
        self.element = element


@compiles(_Parenthesised)
def _render_parenthesised(element: _Parenthesised, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.element, **kw)})"


def _balanced(combine: Any, parts: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    if len(parts) == 1:
        return parts[0]
    middle = len(parts) // 2
    left = _balanced(combine, parts[:middle])
    right = _balanced(combine, parts[middle:])
    return _Parenthesised(combine(left, right))


def _received(campaign_id: int) -> ColumnElement[bool]:
    # One lookup in the (campaign, subscriber) unique index per person.
    return exists().where(
        Delivery.campaign_id == campaign_id,
        Delivery.subscriber_id == Subscriber.id,
        Delivery.status == SENT,
    )


def _took(action: str) -> ColumnElement[bool]:
    # One lookup in the (action, subscriber) primary key per person.
    return exists().where(
        ActionTaker.action == action_key(action), ActionTaker.subscriber_id == Subscriber.id
    )


def _compile_attribute(node: Node, field: str) -> ColumnElement[bool]:
    column = getattr(node, "column", 0)
    if isinstance(node, Empty):
        extracted = _attribute(field)
        empty = or_(extracted.is_(None), extracted == "")
        return not_(empty) if node.negated else empty
    if isinstance(node, InSet):
        values = [_text_value(field, "attribute", v, column) for v in node.values]
        extracted = _attribute(field)
        condition = and_(extracted.is_not(None), extracted.in_(values))
        return not_(condition) if node.negated else condition
    if isinstance(node, Compare) and node.op in _OPS:
        condition = _equals(field, "attribute", _text_value(field, "attribute", node.value, column))
        return condition if node.op == "=" else not_(condition)
    raise SegmentError(
        f"column {column}: {field} is text: use =, !=, in (...), not in (...) or is [not] empty"
    )


def compile_segment(node: Node) -> ColumnElement[bool]:
    """The SQL condition of a parsed expression; every predicate is true or false, never NULL."""
    if isinstance(node, And):
        return _balanced(and_, [compile_segment(n) for n in node.operands])
    if isinstance(node, Or):
        return _balanced(or_, [compile_segment(n) for n in node.operands])
    if isinstance(node, Not):
        return not_(compile_segment(node.operand))
    if isinstance(node, Received):
        return _received(node.campaign)
    if isinstance(node, Took):
        return _took(node.action)
    kind = _kind(node.field, node.column)
    if kind == "attribute":
        return _compile_attribute(node, node.field)
    if isinstance(node, Flag):
        if kind != "flag":
            raise SegmentError(
                f"column {node.column}: {node.field} is not a yes/no field; compare it with a value"
            )
        wanted = ("alerts",) if node.field == "alerts" else ("alerts", "digest")
        return Subscriber.alert_pref.in_(wanted)
    if isinstance(node, Contains):
        if kind != "list":
            raise SegmentError(
                f"column {node.column}: 'in'/'has' need a list field (topics, lists), not {node.field}"
            )
        return _contains(node.field, node.value)
    if isinstance(node, Empty):
        if kind != "list":
            raise SegmentError(
                f"column {node.column}: 'is empty' needs a list field (topics, lists)"
            )
        empty: ColumnElement[bool] = _COLUMNS[node.field] == ""
        return not_(empty) if node.negated else empty
    if isinstance(node, InSet):
        if kind == "list":
            condition = _balanced(or_, [_contains(node.field, str(v)) for v in node.values])
        elif kind in {"flag", "date"}:
            raise SegmentError(
                f"column {node.column}: {node.field} cannot be matched against a list"
            )
        elif kind == "language":
            values = [_text_value(node.field, kind, v, node.column) for v in node.values]
            condition = _balanced(or_, [_equals(node.field, kind, v) for v in values])
        else:
            # One IN list, however long: no deeper than one comparison.
            values = [_text_value(node.field, kind, v, node.column) for v in node.values]
            column = _COLUMNS[node.field]
            condition = and_(column.is_not(None), column.in_(values))
        return not_(condition) if node.negated else condition
    assert isinstance(node, Compare)
    if kind == "flag":
        if not isinstance(node.value, bool) or node.op not in _OPS:
            raise SegmentError(f"column {node.column}: {node.field} compares with true or false")
        condition = compile_segment(Flag(node.field, node.column))
        return condition if node.value == (node.op == "=") else not_(condition)
    if kind == "date":
        if node.op not in _OPS | _ORDER_OPS:
            raise SegmentError(f"column {node.column}: unknown operator {node.op}")
        column = _COLUMNS[node.field]
        when = _date(node.value, node.column)
        compare = {
            "=": column == when,
            "!=": column != when,
            "<": column < when,
            "<=": column <= when,
            ">": column > when,
            ">=": column >= when,
        }[node.op]
        return and_(column.is_not(None), compare)
    if kind == "list":
        raise SegmentError(
            f'column {node.column}: use "value" in {node.field}, or {node.field} is empty'
        )
    if node.op not in _OPS:
        raise SegmentError(f"column {node.column}: {node.field} only supports = and !=")
    value = _text_value(node.field, kind, node.value, node.column)
    condition = _equals(node.field, kind, value)
    return condition if node.op == "=" else not_(condition)


def segment_condition(expression: str) -> ColumnElement[bool]:
    """Parse and compile in one step (SegmentError on any problem)."""
    return compile_segment(parse_segment(expression))
