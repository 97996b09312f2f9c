"""Persistence: SQLAlchemy models, the engine, and Alembic migrations."""

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
