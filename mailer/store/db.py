"""The engine and sessions, with SQLite tuned for one writer at a time, and migrations to head."""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from mailer.errors import ConfigError
from mailer.private import create_private

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("mailer.store")

__all__ = ["Database", "open_database"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest migration; a test checks it is Alembic's head. Reading it here lets every
# command check the schema with one query instead of importing Alembic (0.2 s).
SCHEMA_HEAD = "0008"


class Database:
    """An engine and its session factory."""

    __slots__ = ("__weakref__", "_sessions", "engine")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions: sessionmaker[Session] | None = None

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The session factory, made on first use: a command that reads with SQLAlchemy Core
        alone (`statements list`) never imports the ORM (a tenth of a second)."""
        if self._sessions is None:
            from sqlalchemy.orm import sessionmaker

            self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        return self._sessions

    @property
    def is_sqlite(self) -> bool:
        """True on SQLite, which has one writer at a time."""
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        with self.sessions.begin() as session:
            yield session

    @contextmanager
    def bulk_session(self) -> Iterator[Callable[[], AbstractContextManager[Session]]]:
        """Sessions on one connection of its own, for a bulk load (an import): on SQLite
        with a larger page cache and rarer WAL checkpoints, closed afterwards so that no
        other user of the pool inherits them."""
        connection = self.engine.connect()
        try:
            if self.is_sqlite:
                # A million rows dirty index pages all over large B-trees (addresses, hashes):
                # keep 32 MB of them in memory, and checkpoint the WAL (which syncs the file)
                # every 80 MB instead of every 4.
                connection.exec_driver_sql("PRAGMA cache_size=-32768")
                connection.exec_driver_sql("PRAGMA wal_autocheckpoint=20000")
                connection.commit()

            from sqlalchemy.orm import Session

            @contextmanager
            def session() -> Iterator[Session]:
                with Session(bind=connection, expire_on_commit=False) as bound, bound.begin():
                    yield bound

            yield session
            if self.is_sqlite:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                connection.commit()
        finally:
            if self.is_sqlite:
                connection.invalidate()  # closed, not pooled: its settings go with it
            connection.close()

    def refresh_statistics(self, table: str) -> None:
        """PostgreSQL: ANALYZE a table, so that the query planner sees rows just written.

        A campaign's ledger rows are new to the planner's statistics until autovacuum gets
        to them: it then takes the campaign for a dozen rows and answers every batch's
        `campaign_id = ? AND subscriber_id IN (...)` by scanning all of the campaign's rows
        (through the (campaign, status) index) instead of looking up the batch's own, which
        makes a campaign cost the square of its size. Nothing to do on SQLite, whose planner
        keeps to the unique index without statistics. A role that may not ANALYZE (not the
        table's owner) only loses the speed: logged, never an error."""
        if self.is_sqlite:
            return
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql(f'ANALYZE "{table}"')
                connection.commit()
        except DBAPIError as exc:
            log.warning("could not refresh the planner's statistics of %s: %s", table, exc)

    def dispose(self) -> None:
        """Close every pooled connection (after a fork, at exit)."""
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (status, web) run while a worker writes; busy_timeout makes
    # concurrent writers wait instead of failing; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Deleted and overwritten content is zeroed in its page where that costs no extra write:
    # an erased address must not linger in the free space of a page (`forget` goes further).
    cursor.execute("PRAGMA secure_delete=FAST")
    cursor.close()


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Connect, and bring the schema to the newest migration unless told not to."""
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kwargs)
    except Exception as exc:  # unknown driver, bad URL parts
        raise ConfigError("MAILER_DATABASE_URL", str(exc).splitlines()[0]) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        path = engine.url.database
        if migrate and path and path != ":memory:" and not path.startswith("file:"):
            # Everyone's names and addresses: 0600 from the start (SQLite gives the -wal
            # and -shm files the database's own mode).
            with contextlib.suppress(OSError):  # SQLite says what is wrong with the path
                create_private(Path(path))
    database = Database(engine)
    # Pooled connections are closed at exit even when the process ends without tearing the
    # interpreter down (mailer.cli.finish): SQLite then folds its WAL into the database
    # file, which a copy of mailer.db alone would otherwise miss.
    weakref.finalize(database, engine.dispose)
    if migrate:
        try:
            upgrade(database)
        except OperationalError as exc:
            raise ConfigError(
                "MAILER_DATABASE_URL", f"cannot open the database: {exc.orig}"
            ) from exc
    return database


def upgrade(database: Database) -> None:
    """Run Alembic migrations up to head (a no-op when already there)."""
    if current_revision(database) == SCHEMA_HEAD:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(database: Database) -> str | None:
    """The schema's Alembic revision, or None for an empty database."""
    if not inspect(database.engine).has_table("alembic_version"):
        return None
    with database.engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
