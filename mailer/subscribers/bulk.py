"""Write many subscriber rows at once: through the driver's executemany on SQLite, COPY on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import Session

from mailer.store.copy import copy_rows
from mailer.store.models import Subscriber

__all__ = ["insert_subscribers", "update_subscribers"]

_JSON = {"topics", "lists", "attributes"}
_TIMES = {"consent_at", "created_at", "updated_at"}


def _as_is(value: Any) -> Any:
    return value


@lru_cache(maxsize=4096)
def _json_list(items: tuple[str, ...]) -> str:
    return json.dumps(list(items))


def _json(value: Any) -> Any:
    # Topic and list values repeat across a file: serialise each distinct one once.
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return _json_list(tuple(value))
    if value == {}:
        return "{}"
    return json.dumps(value)


def _converters(columns: list[str]) -> list[Any]:
    # What SQLAlchemy's JSON and DateTime types would bind on SQLite, without their
    # per-value processing (most of an import's time on large files). Timestamps of one
    # chunk share a value, so each distinct one is formatted once.
    cache: dict[dt.datetime, str] = {}

    def when(value: Any) -> Any:
        if not isinstance(value, dt.datetime):
            return value
        text = cache.get(value)
        if text is None:
            text = cache[value] = value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return text

    return [_json if c in _JSON else when if c in _TIMES else _as_is for c in columns]


def _tuples(
    rows: Sequence[dict[str, Any]], columns: list[str], tail: str | None = None
) -> list[tuple[Any, ...]]:
    pairs = list(zip(columns, _converters(columns), strict=True))
    if tail is None:
        return [tuple([convert(row[c]) for c, convert in pairs]) for row in rows]
    return [tuple([*(convert(row[c]) for c, convert in pairs), row[tail]]) for row in rows]


def insert_subscribers(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT every row (all rows carry the same keys)."""
    if not rows:
        return
    connection = session.connection()
    columns = list(rows[0])
    if connection.dialect.name == "postgresql":
        # The rows carry every column written, as on SQLite.
        pairs = [(c, _json if c in _JSON else _as_is) for c in columns]
        copy_rows(
            connection,
            "subscribers",
            columns,
            ([convert(row[c]) for c, convert in pairs] for row in rows),
        )
        return
    if connection.dialect.name != "sqlite":
        table: Any = Subscriber.__table__
        connection.execute(insert(table), list(rows))
        return
    sql = f"INSERT INTO subscribers ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    connection.exec_driver_sql(sql, _tuples(rows, columns))


def update_subscribers(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """UPDATE rows by their `id` (all rows carry the same keys)."""
    if not rows:
        return
    connection = session.connection()
    columns = [c for c in rows[0] if c != "id"]
    if connection.dialect.name != "sqlite":
        table: Any = Subscriber.__table__
        connection.execute(
            update(table).where(table.c.id == bindparam("row_id")),
            [{"row_id": row["id"], **{c: row[c] for c in columns}} for row in rows],
        )
        return
    sql = f"UPDATE subscribers SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?"
    connection.exec_driver_sql(sql, _tuples(rows, columns, tail="id"))
