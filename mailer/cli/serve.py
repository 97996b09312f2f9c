"""`mailer worker`, `beat` and `web`: the long-running processes of a deployment."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import ExitStack
from typing import Annotated

import typer

from mailer.cli.common import fail, open_runtime, settings, work_session
from mailer.config import Settings
from mailer.runtime import Runtime

__all__ = ["beat", "web", "worker"]


def worker(
    concurrency: Annotated[int, typer.Option(help="Worker processes (default: CPU cores).")] = 0,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    beat: Annotated[
        bool, typer.Option("--beat", help="Also run the scheduler (one per deployment).")
    ] = False,
) -> None:
    """Run a Celery worker on MAILER_BROKER_URL (needs a redis:// broker)."""
    current = _needs_broker()
    from workers.app import configure

    app = configure(current)
    count = concurrency or current.worker_concurrency or (os.cpu_count() or 1)
    argv = [
        "worker",
        f"--loglevel={loglevel}",
        f"--concurrency={count}",
        "--queues=mailer-control,mailer",
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        argv += ["--beat", f"--schedule={current.data_dir / 'beat-schedule'}"]
    from mailer.render.inline import preload

    preload()  # here, before the pool forks: its children share it
    app.worker_main(argv)


def beat(
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Run the scheduler (celery beat): the sweep, scheduled campaigns, digests. Run one."""
    current = _needs_broker()
    from workers.app import configure

    app = configure(current)
    current.data_dir.mkdir(parents=True, exist_ok=True)
    app.start(
        ["beat", f"--loglevel={loglevel}", f"--schedule={current.data_dir / 'beat-schedule'}"]
    )


def web(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the subscriber pages (unsubscribe, confirm, preferences, view online, signup,
    archive, healthz)."""
    from mailer.web import create_app
    from mailer.web.server import serve

    rt = open_runtime()
    with ExitStack() as stack:
        serve(create_app(rt, queue=_confirmations(rt, stack)), host=host, port=port)


def _confirmations(rt: Runtime, stack: ExitStack) -> Callable[[list[int]], None]:
    """The signup page's queue of confirmation emails: Celery is loaded by the first signup,
    not at start (the pages need none of it). With memory:// the emails are sent by a worker
    in this process, kept until the server stops; with redis:// by `mailer worker`."""
    lock = threading.Lock()
    opened: list[bool] = []

    def queue(subscriber_ids: list[int]) -> None:
        with lock:
            if not opened:
                stack.enter_context(work_session(rt))
                opened.append(True)
        from workers.tasks import send_confirmations_task

        send_confirmations_task.delay(subscriber_ids)

    return queue


def _needs_broker() -> Settings:
    current = settings()
    if current.embedded:
        fail(
            "MAILER_BROKER_URL is memory://: the worker runs inside each command; "
            "set a redis:// broker to run separate workers and beat",
            2,
        )
    open_runtime().close()  # migrate once, here, not in every worker process
    current.data_dir.mkdir(parents=True, exist_ok=True)
    return current
