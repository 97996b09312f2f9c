"""The recorder of one batch: accepted messages journaled the moment the server says so, folded
into the ledger in bulk while the server works."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from mailer.ledger.journal import Journal, Mark, fold, journal_directory
from mailer.store.db import Database
from mailer.store.models import utcnow

__all__ = ["FOLD_EVERY", "FOLD_SECONDS", "Recorder"]

_TRANSIENT = {"40P01", "40001"}
_RETRIES = 5


def _sqlstate(exc: OperationalError) -> str:
    return str(getattr(exc.orig, "sqlstate", "") or "")


log = logging.getLogger("mailer.journal")

# Accepted messages are folded into the ledger at most this far apart: the delay before
# `campaigns status` counts them.
FOLD_EVERY = 100
FOLD_SECONDS = 1.0


class Recorder:
    """`sent` may be called from any thread (each connection's, before it sends another
    message); `fold_when_due` and `close` from the batch's own thread only."""

    def __init__(self, db: Database, data_dir: Path) -> None:
        self._ledger: Connection = db.engine.connect()
        self._marks: list[Mark] = []
        self._lock = threading.Lock()
        self._folded_at = time.monotonic()
        self.count = 0  # acceptances recorded
        # Subscribers whose acceptance is in the ledger: until then their row stays `sending`
        # and its lease must be renewed (journaled is not enough while this stream lives).
        self.folded: set[int] = set()
        try:
            self._journal: Journal | None = Journal(journal_directory(data_dir))
        except OSError as exc:
            log.warning("no send journal (%s): the ledger is committed once per message", exc)
            self._journal = None

    def sent(self, campaign_id: int, subscriber_id: int, message_id: str, reply: str) -> None:
        """The server accepted the message: in the journal (or the ledger) before returning."""
        mark = Mark(campaign_id, subscriber_id, utcnow(), message_id, reply)
        with self._lock:
            self.count += 1
            if self._journal is None:
                fold(self._ledger, [mark])  # no journal: one commit per message
                self.folded.add(subscriber_id)
                return
            self._journal.append(mark)
            self._marks.append(mark)

    def fold_when_due(self) -> None:
        """Fold the journaled marks into the ledger when enough are waiting or time has passed."""
        with self._lock:
            due = len(self._marks) >= FOLD_EVERY or (
                self._marks and time.monotonic() - self._folded_at >= FOLD_SECONDS
            )
            if not due:
                return
            marks, self._marks = self._marks, []
        self._fold(marks)

    def flush(self) -> None:
        """Fold everything journaled so far (before rows are given back or counted)."""
        with self._lock:
            marks, self._marks = self._marks, []
        self._fold(marks)

    def _fold(self, marks: list[Mark]) -> None:
        try:
            for attempt in range(_RETRIES):
                try:
                    fold(self._ledger, marks)
                    break
                except OperationalError as exc:
                    # PostgreSQL ends one side of a deadlock (40P01) or a serialization
                    # conflict (40001) for the other to go on: the fold is idempotent, so
                    # it is tried again.
                    self._ledger.rollback()
                    if _sqlstate(exc) not in _TRANSIENT or attempt == _RETRIES - 1:
                        raise
                    time.sleep(0.05 * (attempt + 1))
        except BaseException:
            with self._lock:  # kept: folded at the end, or replayed from the journal
                self._marks[:0] = marks
            raise
        self.folded.update(m.subscriber_id for m in marks)
        self._folded_at = time.monotonic()

    def close(self) -> None:
        """Fold what is left and remove the journal; on a database failure keep the journal
        (unlocked) for a replayer."""
        try:
            self.flush()
        except BaseException:
            if self._journal is not None:
                self._journal.release()
            self._ledger.close()
            raise
        if self._journal is not None:
            self._journal.close()
        self._ledger.close()
