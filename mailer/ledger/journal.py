"""The send journal: each accepted message appended to a file before the next one leaves,
folded into the ledger in bulk, replayed when the process that wrote it died.

A SQLite or PostgreSQL commit per message costs more than building and sending the message;
one write(2) to a local file costs microseconds and, like a commit in WAL mode, survives the
process being killed. Each stream (one batch) writes its own file and holds an exclusive
flock on it while it lives: a file nobody holds belongs to a dead stream, and whoever finds
it folds it into the ledger before claiming rows, so a killed worker's accepted messages are
never sent twice. Folding is idempotent (rows already sent are left alone).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import itertools
import logging
import os
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.engine import Connection

from mailer.ledger.states import DeliveryState
from mailer.store.db import Database
from mailer.store.models import Delivery

__all__ = ["Journal", "Mark", "fold", "journal_directory", "replay_orphans"]

log = logging.getLogger("mailer.journal")

_SUFFIX = ".journal"
_counter = itertools.count()
_counter_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Mark:
    """One accepted message: what the ledger row becomes."""

    campaign_id: int
    subscriber_id: int
    sent_at: dt.datetime  # timezone-aware UTC
    message_id: str
    reply: str

    def line(self) -> bytes:
        """The journal line: tab-separated, the reply flattened to one line."""
        reply = self.reply.replace("\t", " ").replace("\r", " ").replace("\n", " ")[:500]
        fields = (
            str(self.campaign_id),
            str(self.subscriber_id),
            self.sent_at.isoformat(),
            self.message_id,
        )
        return ("\t".join((*fields, reply)) + "\n").encode("utf-8")

    @classmethod
    def parse(cls, line: bytes) -> Mark | None:
        """The mark of a whole line; None for a torn last line (killed mid-write)."""
        if not line.endswith(b"\n"):
            return None
        parts = line[:-1].decode("utf-8", "replace").split("\t")
        if len(parts) != 5 or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        try:
            sent_at = dt.datetime.fromisoformat(parts[2])
        except ValueError:
            return None
        if sent_at.tzinfo is None:
            return None
        return cls(int(parts[0]), int(parts[1]), sent_at, parts[3], parts[4])


def journal_directory(data_dir: Path) -> Path:
    """Where a host's workers keep their journals (MAILER_DATA_DIR/journal)."""
    return data_dir / "journal"


class Journal:
    """One stream's file: created locked, appended once per accepted message, removed when
    everything in it is in the ledger."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        with _counter_lock:
            number = next(_counter)
        host = socket.gethostname().replace("/", "_")
        name = f"{host}-{os.getpid()}-{threading.get_ident()}-{number}"
        self.path = directory / f"{name}{_SUFFIX}"
        # Locked under another name first: a replayer only looks at locked-or-dead files.
        fresh = directory / f"{name}.new"
        self._fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        os.replace(fresh, self.path)

    def append(self, mark: Mark) -> None:
        """Record an accepted message: one write, in the kernel once it returns."""
        os.write(self._fd, mark.line())

    def release(self) -> None:
        """Drop the lock but keep the file, for a replayer to fold."""
        os.close(self._fd)

    def close(self) -> None:
        """Remove the file (its marks are folded) and drop the lock."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._fd)


_FOLD = (
    update(Delivery.__table__)  # type: ignore[arg-type]
    .where(
        Delivery.__table__.c.campaign_id == bindparam("campaign"),
        Delivery.__table__.c.subscriber_id == bindparam("subscriber"),
        Delivery.__table__.c.status != DeliveryState.SENT,
    )
    .values(
        status=DeliveryState.SENT,
        sent_at=bindparam("sent_at"),
        message_id=bindparam("message_id"),
        last_reply=bindparam("reply"),
        attempts=Delivery.__table__.c.attempts + 1,
        lease_until=None,
    )
)

_SQLITE_FOLD = (
    "UPDATE deliveries SET status = 'sent', sent_at = ?1, updated_at = ?1, message_id = ?2, "
    "last_reply = ?3, attempts = attempts + 1, lease_until = NULL "
    "WHERE campaign_id = ?4 AND subscriber_id = ?5 AND status != 'sent'"
)


_POSTGRES_FOLD = (
    "UPDATE deliveries AS d SET status = 'sent', sent_at = v.sent_at, updated_at = v.sent_at, "
    "message_id = v.message_id, last_reply = v.reply, attempts = d.attempts + 1, "
    "lease_until = NULL FROM unnest(%b::integer[], %b::integer[], %b::timestamptz[], "
    "%b::text[], %b::text[]) AS v(campaign, subscriber, sent_at, message_id, reply) "
    "WHERE d.campaign_id = v.campaign AND d.subscriber_id = v.subscriber AND d.status <> 'sent'"
)


def fold(ledger: Connection, marks: Iterable[Mark]) -> None:
    """Write marks into the ledger in one transaction (rows already sent are untouched)."""
    # In one order (subscriber ids): two writers of overlapping rows then never deadlock.
    rows = sorted(marks, key=lambda m: (m.campaign_id, m.subscriber_id))
    if not rows:
        return
    if ledger.dialect.name == "sqlite":
        # Straight through the driver: executemany of a prepared statement, one commit.
        driver: Any = ledger.connection.driver_connection
        driver.executemany(
            _SQLITE_FOLD,
            [
                (
                    _sqlite_time(m.sent_at),
                    m.message_id,
                    m.reply[:500],
                    m.campaign_id,
                    m.subscriber_id,
                )
                for m in rows
            ],
        )
        driver.commit()
        return
    if ledger.dialect.name == "postgresql":
        # One statement for the whole fold: a statement per row costs the server more than
        # the rest of the message. Its columns go as five arrays (unnest), so that its text
        # is the same whatever the count: parsed once by the driver, prepared by the server;
        # in binary (%b), which psycopg writes three times faster than escaped text.
        columns = (
            [m.campaign_id for m in rows],
            [m.subscriber_id for m in rows],
            [m.sent_at for m in rows],
            [m.message_id for m in rows],
            [m.reply[:500] for m in rows],
        )
        ledger.exec_driver_sql(_POSTGRES_FOLD, columns)
        ledger.commit()
        return
    ledger.execute(
        _FOLD,
        [
            {
                "campaign": m.campaign_id,
                "subscriber": m.subscriber_id,
                "sent_at": m.sent_at,
                "message_id": m.message_id,
                "reply": m.reply[:500],
            }
            for m in rows
        ],
    )
    ledger.commit()


def _sqlite_time(moment: dt.datetime) -> str:
    # What SQLAlchemy's SQLite DateTime stores for a UTCDateTime column: naive UTC text.
    return moment.astimezone(dt.UTC).isoformat(sep=" ", timespec="microseconds")[:26]


def replay_orphans(db: Database, directory: Path) -> int:
    """Fold the journals of dead streams into the ledger and remove them; the marks folded."""
    try:
        entries = [e for e in os.scandir(directory) if e.name.endswith(_SUFFIX)]
    except FileNotFoundError:
        return 0
    folded = 0
    for entry in entries:
        try:
            fd = os.open(entry.path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # its stream finished meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live stream holds it
            with open(fd, "rb", closefd=False) as handle:
                marks = [m for m in map(Mark.parse, handle) if m is not None]
            with db.engine.connect() as ledger:
                fold(ledger, marks)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
            folded += len(marks)
            if marks:
                log.warning(
                    "replayed %d accepted messages from a dead worker's journal", len(marks)
                )
        finally:
            os.close(fd)
    return folded
