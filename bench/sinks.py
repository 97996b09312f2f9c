"""SMTP sinks for the benchmark: Postfix's smtp-sink, or an aiosmtpd sink when Postfix is missing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Sink:
    """A running sink and how to stop it."""

    stop_fn: Any

    def stop(self) -> None:
        """Stop the sink."""
        self.stop_fn()


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def smtp_sink(port: int) -> Sink | None:
    """Postfix's smtp-sink (-c counts, -4 IPv4) with a backlog of 1000, or None when absent."""
    binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    # As root, smtp-sink insists on dropping privileges to a named user.
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    try:
        process = subprocess.Popen(
            [binary, *user, "-4", "-c", f"127.0.0.1:{port}", "1000"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return None
    _wait_port(port)

    def stop() -> None:
        process.terminate()
        process.wait(10)

    return Sink(stop)


def aiosmtpd_sink(port: int) -> Sink:
    """A Python sink: accepts and drops every message."""
    from aiosmtpd.controller import Controller

    class Drop:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    controller = Controller(Drop(), hostname="127.0.0.1", port=port)
    controller.start()
    return Sink(controller.stop)
