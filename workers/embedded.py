"""A Celery worker running in a thread of the current process, for the memory:// broker."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from celery import Celery
from celery.worker import WorkController
from celery.worker import state as worker_state

__all__ = ["embedded_worker"]


class _ReadyWorker(WorkController):  # type: ignore[misc]
    """A worker that tells when its consumer is ready."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: object) -> None:
        self.ready.set()


@contextmanager
def embedded_worker(app: Celery, *, timeout: float = 30.0) -> Iterator[WorkController]:
    """Run a real worker (solo pool) in a daemon thread while the block runs."""
    app.finalize()
    app.set_current()
    worker = _ReadyWorker(
        app=app,
        concurrency=1,
        pool_cls="solo",
        loglevel="WARNING",
        hostname=f"embedded-{threading.get_ident()}@mailer",
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        ready_callback=None,
        queues=["mailer-control", "mailer"],
    )
    thread = threading.Thread(target=worker.start, name="mailer-embedded-worker", daemon=True)
    thread.start()
    if not worker.ready.wait(timeout):
        raise RuntimeError("the embedded worker did not start")
    try:
        yield worker
    finally:
        worker_state.should_terminate = 0
        thread.join(timeout)
        worker_state.should_terminate = None
