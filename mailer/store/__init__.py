"""Persistence: SQLAlchemy models, the engine, and Alembic migrations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailer.exports import load_export

if TYPE_CHECKING:
    from mailer.store.db import Database, open_database
    from mailer.store.models import Base, Campaign, Delivery, StatementRow, Subscriber

__all__ = [
    "Base",
    "Campaign",
    "Database",
    "Delivery",
    "StatementRow",
    "Subscriber",
    "open_database",
]

# Imported when first asked for: the models cost SQLAlchemy's whole ORM.
_EXPORTS = {
    "Database": "mailer.store.db",
    "open_database": "mailer.store.db",
    "Base": "mailer.store.models",
    "Campaign": "mailer.store.models",
    "Delivery": "mailer.store.models",
    "StatementRow": "mailer.store.models",
    "Subscriber": "mailer.store.models",
}


def __getattr__(name: str) -> object:
    return load_export(__name__, _EXPORTS, name)
