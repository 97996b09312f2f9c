"""The Celery app: configured from Settings, one Runtime per worker process."""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_process_init, worker_process_shutdown

from mailer.config import Settings
from mailer.runtime import Runtime, build_runtime

__all__ = [
    "CONTROL_QUEUE",
    "app",
    "broker_lost_its_queue",
    "configure",
    "mark_broker",
    "runtime",
    "set_runtime",
]

# The beat's tasks (sweep, tick) have a queue of their own, read by every worker with the
# batches' queue: a recovery never waits behind a million-row campaign.
CONTROL_QUEUE = "mailer-control"
_BROKER_MARK = "mailer:broker-alive"
SWITCH_INTERVAL = 0.0005  # seconds a thread may hold the interpreter while others wait

app = Celery("mailer", include=["workers.tasks"])

_runtime: Runtime | None = None
_runtime_pid = 0
_lock = threading.Lock()


def configure(settings: Settings) -> Celery:
    """Point the app at the settings' broker, with the options exactly-once delivery needs."""
    transport_options: dict[str, Any] = {"visibility_timeout": 3600}
    transport = None
    if settings.embedded:
        transport_options = {"polling_interval": 0.05}
        # memory:// with a wait that ends as soon as the embedded worker is told to stop.
        transport = "workers.embedded:WakeableTransport"
    if (app.conf.broker_url, app.conf.broker_transport) != (settings.broker_url, transport):
        # Celery keeps the producer pool of the first broker it published to: another broker
        # (a test's, a second configuration in one process) would still get the messages.
        # Private attributes of Celery 5 (`Celery.pool`, `AMQP.producer_pool` rebuild them
        # on next use). The old pools are not closed: kombu's registry (`kombu.pools`) hands
        # the same pool back when this broker is configured again, and a closed one fails.
        app._pool = None
        app.amqp._producer_pool = None
    app.conf.update(
        broker_url=settings.broker_url,
        broker_transport=transport,
        result_backend=None,
        task_ignore_result=True,
        # Acknowledge after the task ran, and give the message back when the worker
        # process dies: a batch is never lost, the ledger's claims prevent doubles.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_default_queue="mailer",
        task_routes={
            "mailer.sweep": {"queue": CONTROL_QUEUE},
            "mailer.tick": {"queue": CONTROL_QUEUE},
        },
        beat_schedule={
            "sweep": {"task": "mailer.sweep", "schedule": settings.sweep_seconds},
            "tick": {"task": "mailer.tick", "schedule": settings.tick_seconds},
            **_bounce_schedule(settings),
        },
        mailer_settings=settings,
    )
    return app


def _bounce_schedule(settings: Settings) -> dict[str, Any]:
    # The bounce mailbox, read every tick when there is one; a fetch that waited a whole
    # tick in the queue is dropped (the next one reads the same messages).
    if not settings.bounce_mailbox:
        return {}
    return {
        "bounces": {
            "task": "mailer.fetch_bounces",
            "schedule": settings.tick_seconds,
            "options": {"expires": settings.tick_seconds},
        }
    }


def set_runtime(value: Runtime | None) -> None:
    """Install the runtime tasks use (the CLI shares its own with the embedded worker)."""
    global _runtime, _runtime_pid
    with _lock:
        _runtime = value
        _runtime_pid = os.getpid()


def runtime() -> Runtime:
    """The process's runtime, built on first use from the configured settings."""
    global _runtime, _runtime_pid
    with _lock:
        if _runtime is None:
            settings = app.conf.get("mailer_settings")
            if settings is None:
                from mailer.config import load_settings

                settings = configure(load_settings()).conf["mailer_settings"]
            # Workers never migrate: `mailer init` (or any CLI command) does.
            _runtime = build_runtime(settings, migrate=False)
            _runtime_pid = os.getpid()
        return _runtime


_redis_clients: dict[str, Any] = {}


def _redis(broker_url: str) -> Any:
    if broker_url not in _redis_clients:
        import redis

        _redis_clients[broker_url] = redis.Redis.from_url(broker_url, socket_timeout=5)
    return _redis_clients[broker_url]


def mark_broker(broker_url: str) -> None:
    """Leave a mark in the broker next to the queued batches (a Redis restarted empty loses
    both); nothing for memory://, which lives and dies with its process."""
    if broker_url.startswith(("redis://", "rediss://")):
        _redis(broker_url).set(_BROKER_MARK, "1")


def broker_lost_its_queue(broker_url: str) -> bool:
    """True when the mark is gone: every batch queued before has been lost with it."""
    if not broker_url.startswith(("redis://", "rediss://")):
        return False
    return not _redis(broker_url).exists(_BROKER_MARK)


@setup_logging.connect
def _logging(loglevel: Any = None, **_: Any) -> None:
    # Replaces Celery's own logging set-up: the same format, and addresses redacted.
    from mailer.logs import configure_logging

    settings = app.conf.get("mailer_settings")
    level = (
        loglevel
        if isinstance(loglevel, str)
        else (logging.getLevelName(loglevel) if loglevel else "INFO")
    )
    configure_logging(str(level), json_lines=bool(settings and settings.log_format == "json"))


@worker_process_init.connect
def _fresh_after_fork(**_: Any) -> None:
    # A prefork child must not share the parent's database or SMTP sockets. (The solo
    # pool sends this signal too, in the same process: keep the runtime there.)
    global _runtime
    if _runtime_pid != os.getpid():
        _runtime = None
    # A sending process runs many connection threads that each wake for a reply, do a little
    # work and wait again, beside a batch thread that writes the ledger. With Python's
    # default 5 ms switch interval a woken thread can wait that long for the interpreter
    # while another computes: the connections idle and the CPU is half used (measured: a
    # quarter more emails/s on PostgreSQL at 0.5 ms, bench/throughput.py).
    sys.setswitchinterval(SWITCH_INTERVAL)


@worker_process_shutdown.connect
def _close(**_: Any) -> None:
    if _runtime is not None:
        _runtime.close()
