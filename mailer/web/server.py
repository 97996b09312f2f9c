"""Serve the web app with uvicorn, bounded against idle and trickling clients (slowloris)."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from mailer.web.guard import MAX_HEADER_BYTES

__all__ = ["HEADER_SECONDS", "MAX_CONNECTIONS", "MAX_HEADER_BYTES", "serve", "server_config"]

# From the connection (or the end of the previous response) to the end of the request's
# head. uvicorn has only a keep-alive time-out, reset by every byte: a client sending one
# byte a second would hold its connection for ever.
HEADER_SECONDS = 10.0
MAX_CONNECTIONS = 1000  # beyond, uvicorn answers 503 at once


class BoundedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request's head."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        scope = self.scope
        super().data_received(data)
        if self.scope is not scope:  # a request's head was read
            self._head_arrived()

    def on_response_complete(self) -> None:
        scope = self.scope
        super().on_response_complete()
        if self.scope is scope:
            self._await_head()  # the next request on this connection
        else:
            self._head_arrived()  # a pipelined request was already there

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._head_arrived()
        if not self.transport.is_closing():
            self._head_deadline = self.loop.call_later(HEADER_SECONDS, self._too_slow)

    def _head_arrived(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def server_config(app: Any, *, host: str, port: int) -> Any:
    """The uvicorn configuration of `mailer web` (the tests serve with the same)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=BoundedH11Protocol,
        ws="none",
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,  # a head still arriving
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=5,
        proxy_headers=True,
        server_header=False,
        # mailer's own logging (addresses and credentials redacted), and no access log:
        # the tokens in the paths are the subscribers' keys.
        log_config=None,
        access_log=False,
        log_level="warning",
    )


def serve(app: Any, *, host: str, port: int) -> None:
    """Run the server until interrupted."""
    uvicorn.Server(server_config(app, host=host, port=port)).run()
