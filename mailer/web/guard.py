"""The one gate every request and response of the web app passes, whatever its route.

- Only POST may act: HEAD is answered as GET without a body (handlers never see HEAD,
  so none can take it for POST); every method but GET, HEAD and POST gets 405 before
  any route runs (RFC 9110 section 9.3.2: HEAD must not change anything either).
- Requests are bounded: header count, body size (read before any parser sees it, with a
  time limit), and a trailing slash is dropped in place instead of redirected, so no
  Location is ever built from the Host header.
- Every response carries the security headers (a route may set a CSP of its own).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = [
    "BODY_SECONDS",
    "MAX_BODY_BYTES",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "PAGE_POLICY",
    "Guard",
    "security_headers",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A preference form with every topic checked is a few KB: 64 KB leaves room and no more.
MAX_BODY_BYTES = 64 * 1024
MAX_HEADERS = 100
MAX_HEADER_BYTES = 16 * 1024
# The whole body must arrive within this many seconds (a trickling client holds nothing).
BODY_SECONDS = 10.0

# Nothing on the pages comes from elsewhere, nothing may frame them or leak the URL.
PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_METHODS = frozenset({"GET", "HEAD", "POST"})
_ALLOW = b"GET, HEAD, POST"


def security_headers(public_url: str) -> list[tuple[bytes, bytes]]:
    """The headers every response gets unless it set its own."""
    headers = [
        (b"content-security-policy", PAGE_POLICY.encode("ascii")),
        (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers without CSP level 2
        (b"referrer-policy", b"no-referrer"),  # tokens are in the URLs
        (b"x-content-type-options", b"nosniff"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
        (b"cache-control", b"no-store"),  # personal pages: no shared cache keeps them
    ]
    if public_url.startswith("https://"):
        headers.append((b"strict-transport-security", b"max-age=31536000"))  # RFC 6797
    return headers


class Guard:
    """ASGI middleware around the whole app (outside Starlette's error handler too)."""

    def __init__(self, app: ASGIApp, *, public_url: str) -> None:
        self.app = app
        self.headers = security_headers(public_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._with_headers(send, head=scope["method"] == "HEAD")
        method = scope["method"]
        if method not in _METHODS:
            await _answer(send, 405, b"method not allowed", [(b"allow", _ALLOW)])
            return
        headers = scope["headers"]
        if (
            len(headers) > MAX_HEADERS
            or sum(len(n) + len(v) for n, v in headers) > MAX_HEADER_BYTES
        ):
            # RFC 6585 section 5. uvicorn bounds only a head still arriving; whole, any size passes.
            await _answer(send, 431, b"request header fields too large")
            return
        inner = dict(scope)
        if method == "HEAD":
            inner["method"] = "GET"
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            # Served as the path without the slash, never redirected: Starlette's redirect
            # builds its Location from the Host header, which the client chooses.
            inner["path"] = path.rstrip("/") or "/"
            raw = scope.get("raw_path")
            if isinstance(raw, bytes):
                inner["raw_path"] = raw.rstrip(b"/") or b"/"
        if method != "POST":
            # GET and HEAD are read without their body (if any): no handler can act on one.
            await self.app(inner, _replay(b"", receive), send)
            return
        body = await _read_body(scope, receive)
        if isinstance(body, int):
            await _answer(send, body, b"request too large or too slow")
            return
        await self.app(inner, _replay(body, receive), send)

    def _with_headers(self, send: Send, *, head: bool) -> Send:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self.headers if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            elif message["type"] == "http.response.body" and head:
                message = {**message, "body": b""}  # HEAD: the GET's headers, no body
            await send(message)

        return sending


async def _read_body(scope: Scope, receive: Receive) -> bytes | int:
    """The whole body, or the status to answer: 413 when too large, 408 when too slow."""
    for name, value in scope["headers"]:
        if name.lower() == b"content-length" and (
            not value.isdigit() or int(value) > MAX_BODY_BYTES
        ):
            return 413
    chunks: list[bytes] = []
    size = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BODY_SECONDS
    while True:
        try:
            message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
        except TimeoutError:
            return 408
        if message["type"] == "http.disconnect":
            return 408
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return 413
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replaying() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        while True:  # after the body only the disconnect matters (a GET's body is dropped)
            message = await receive()
            if message["type"] != "http.request":
                return message

    return replaying


async def _answer(
    send: Send, status: int, text: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(text)).encode("ascii")),
                # The rest of the request is not read: the connection ends with the answer.
                (b"connection", b"close"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": text})
