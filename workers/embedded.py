"""A Celery worker in a thread of this process, for memory://: started by work, stopped at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery
from celery.signals import after_task_publish, task_postrun
from celery.worker import WorkController
from celery.worker import state as worker_state
from kombu.transport import memory

__all__ = [
    "TRANSPORT",
    "EmbeddedWorker",
    "WakeableTransport",
    "embedded_worker",
    "wait_for_a_task",
]

# The class kombu loads for memory:// (the `broker_transport` setting); a "module:Class" path.
TRANSPORT = "workers.embedded:WakeableTransport"
THREAD_NAME = "mailer-embedded-worker"

# Set while an embedded worker is being stopped: its wait for the next message ends.
_stopping = threading.Event()
# Set when a task of the embedded worker ends: whoever follows the work looks again at once.
_task_ended = threading.Event()


def wait_for_a_task(seconds: float) -> None:
    """Wait until a task of this process's embedded worker ends, or `seconds` pass (a pause of
    `follow`: the command ends when the work does, not at its next look)."""
    _task_ended.wait(seconds)
    _task_ended.clear()  # what ended before is in the ledger the caller reads next


class WakeableTransport(memory.Transport):
    """memory:// (the same in-process queues) whose wait for a message ends when the worker
    is told to stop. Celery's loop waits up to 2 s per cycle, and once more after it saw the
    stop flag: without this a 3-email send spent longer stopping than sending."""

    def drain_events(self, connection: Any, timeout: Any = None, **kwargs: Any) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        # One poll at a time (polling_interval, 0.05 s), looking at the stop flag between.
        step = self.polling_interval or 0.05
        while True:
            if _stopping.is_set():
                # What Celery's loop takes for "no message yet" (socket.timeout): it then
                # sees its stop flag; its last cycle after that returns here at once too.
                raise TimeoutError("the embedded worker is stopping")
            try:
                return super().drain_events(connection, timeout=step)  # type: ignore[no-untyped-call]
            except TimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class _ReadyWorker(WorkController):  # type: ignore[misc]
    """A worker that tells when its consumer is ready."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: object) -> None:
        self.ready.set()


class EmbeddedWorker:
    """A real worker (solo pool) in a daemon thread, started on demand, stopped once."""

    def __init__(self, app: Celery, *, timeout: float = 30.0) -> None:
        self.app = app
        self.timeout = timeout
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        """True once a task queued in the block started the worker."""
        return self.thread is not None

    def start(self) -> None:
        """Start the worker and wait until it consumes (a no-op when it runs already)."""
        with self._lock:
            if self.thread is not None:
                return
            _stopping.clear()
            worker = _ReadyWorker(
                app=self.app,
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
            self.thread = threading.Thread(target=worker.start, name=THREAD_NAME, daemon=True)
            self.thread.start()
            if not worker.ready.wait(self.timeout):
                raise RuntimeError("the embedded worker did not start")

    def stop(self) -> None:
        """Stop the worker (after the task it is running) and wait for its thread to end."""
        with self._lock:
            if self.thread is None:
                return
            worker_state.should_terminate = 0
            _stopping.set()
            self.thread.join(self.timeout)
            worker_state.should_terminate = None


@contextmanager
def embedded_worker(app: Celery, *, timeout: float = 30.0) -> Iterator[EmbeddedWorker]:
    """While the block runs, the first task published in this process starts a worker."""
    app.finalize()
    app.set_current()
    worker = EmbeddedWorker(app, timeout=timeout)

    def on_publish(**_: object) -> None:
        # Called in the publishing thread, after the message is in the queue: the worker
        # finds it there when it starts. Tasks queued by tasks find it running.
        if not worker.started:
            worker.start()

    def on_task_end(**_: object) -> None:
        _task_ended.set()

    after_task_publish.connect(on_publish, weak=False)
    task_postrun.connect(on_task_end, weak=False)
    try:
        yield worker
    finally:
        after_task_publish.disconnect(on_publish)
        task_postrun.disconnect(on_task_end)
        worker.stop()
