"""Serve the web app as `mailer web` does (same uvicorn settings) on 127.0.0.1, in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from mailer.runtime import Runtime
from mailer.web import create_app
from mailer.web.server import server_config
from tests.servers import free_port


@contextmanager
def serve(rt: Runtime, port: int | None = None) -> Iterator[str]:
    """Yield the base URL while the server runs."""
    chosen = port or free_port()
    server = uvicorn.Server(server_config(create_app(rt), host="127.0.0.1", port=chosen))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{chosen}"
    finally:
        server.should_exit = True
        thread.join(10)
