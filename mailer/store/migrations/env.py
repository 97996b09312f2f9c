"""Alembic environment: runs on the connection mailer hands over (see mailer.store.db.upgrade)."""

from alembic import context

from mailer.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through mailer.store.db.upgrade
    raise SystemExit("run migrations with `mailer init`")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
