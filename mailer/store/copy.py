"""Many rows into one table with PostgreSQL's COPY, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.engine import Connection

__all__ = ["copy_rows"]


def copy_rows(
    connection: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Stream `rows` (values in `columns` order, as psycopg adapts them) into `table`.

    One stream for all of them, where an INSERT per row (psycopg's executemany) has the
    server run each one on its own: about half of a large import's time. `table` and
    `columns` are the caller's own names, never input."""
    driver: Any = connection.connection.driver_connection
    names = ", ".join(columns)
    with driver.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
