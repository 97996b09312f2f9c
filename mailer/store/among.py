"""A column among listed values, written so that the query text does not depend on the count."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ARRAY, Integer, any_, bindparam, cast
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

__all__ = ["among", "among_parameter", "dialect_of"]

# psycopg parses each query's text for its parameter markers and keeps the result only for short
# texts, and the server prepares a statement only once it has seen its text five times: an
# IN list of 250 ids is a new, long text for every count, parsed anew each time (a fifth of a
# sending worker's CPU; a third of an import's time in SQLAlchemy and psycopg for its lists
# of thousands of addresses). One array parameter is one text, whatever the count.


def among(
    column: ColumnElement[Any] | InstrumentedAttribute[Any],
    values: Sequence[Any],
    dialect: str,
    *,
    of: TypeEngine[Any] | type[TypeEngine[Any]] = Integer,
) -> ColumnElement[bool]:
    """`column = ANY(array of `of`)` on PostgreSQL, `column IN (...)` elsewhere."""
    if dialect == "postgresql":
        return column == any_(cast(bindparam(None, list(values)), ARRAY(of)))
    return column.in_(values)


def among_parameter(
    column: ColumnElement[Any] | InstrumentedAttribute[Any],
    name: str,
    dialect: str,
    *,
    of: TypeEngine[Any] | type[TypeEngine[Any]] = Integer,
) -> ColumnElement[bool]:
    """The same condition for a statement built once: the values are bound at execution, as
    the list parameter `name`."""
    if dialect == "postgresql":
        return column == any_(cast(bindparam(name), ARRAY(of)))
    return column.in_(bindparam(name, expanding=True))


def dialect_of(session: Session) -> str:
    """The name of the dialect a session's statements are written for ("postgresql", ...)."""
    return session.get_bind().dialect.name
