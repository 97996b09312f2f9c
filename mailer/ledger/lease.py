"""Leases that follow the work: a batch's claimed rows stay its own while it lives.

A claim gives its rows a short lease (`MAILER_LEASE_SECONDS`); a heartbeat thread renews it
every third of that while the batch runs, however slowly (a rate-limited batch keeps its
rows). When the worker dies, the heartbeat dies with it and the sweep gives the rows back
once the lease has run out. When the heartbeat cannot renew in time (the database is
unreachable), the batch is told to stop: its rows may be taken by another worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from mailer.ledger.deliveries import renew_leases
from mailer.store.db import Database

__all__ = ["Heartbeat"]

log = logging.getLogger("mailer.lease")


class Heartbeat:
    """Renews the leases of a batch's rows in a thread of its own until stopped."""

    def __init__(
        self, db: Database, campaign_id: int, ids: Callable[[], list[int]], lease_seconds: float
    ) -> None:
        # `ids` gives the rows still in the batch's hands at each beat (it may take more).
        self._db, self._campaign_id, self._ids = db, campaign_id, ids
        self._lease = lease_seconds
        self._stop = threading.Event()
        self._renewed = time.monotonic()  # the claim itself set the first lease
        self._thread = threading.Thread(target=self._run, name="mailer-lease", daemon=True)

    @property
    def lost(self) -> bool:
        """True when the lease may have run out: the batch must stop sending."""
        return time.monotonic() - self._renewed >= self._lease * 0.9

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        interval = max(0.2, self._lease / 3)
        while not self._stop.wait(interval):
            started = time.monotonic()
            ids = self._ids()
            try:
                with self._db.engine.connect() as connection:
                    for first in range(0, len(ids), 500):
                        renew_leases(
                            connection,
                            self._campaign_id,
                            ids[first : first + 500],
                            lease_seconds=self._lease,
                        )
            except Exception as exc:  # the database is away: try again at the next beat
                log.warning("campaign %s: cannot renew a batch's lease: %s", self._campaign_id, exc)
                continue
            self._renewed = started
