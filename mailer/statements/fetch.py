"""Fetch a feed over HTTP(S): bounded in size, time and redirects, and kept off internal networks.

A feed URL is the organisation's, but the server behind it, and every redirect it sends, is
not: a redirect to `http://169.254.169.254/` (a cloud's metadata service), to the broker
or to an admin page on the LAN would turn the beat into a proxy into our own network. So:
- only http and https, on every hop; at most `MAX_REDIRECTS` redirects;
- every address a host name resolves to is checked, and the connection goes to the
  address that was checked (a second lookup could answer differently: DNS rebinding);
- loopback, private, link-local, shared, multicast and reserved addresses are refused,
  except on the host the feed itself is configured on: an organisation may run its CMS on
  the LAN, and naming it in `mailer.toml` is the consent. A redirect from there to another
  internal host is refused all the same;
- at most `MAX_BYTES` of body (compressed or not) and `TIMEOUT` seconds in all.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
import zlib
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from mailer.errors import StatementError

__all__ = ["MAX_BYTES", "MAX_REDIRECTS", "TIMEOUT", "Fetched", "fetch", "is_internal"]

MAX_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
TIMEOUT = 30.0
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)


@dataclass(frozen=True, slots=True)
class Fetched:
    """A feed document and where it finally came from."""

    url: str
    content_type: str
    body: bytes


def is_internal(address: str) -> bool:
    """True for an address that is not on the public Internet (RFC 6890's special ones)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def _addresses(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise StatementError(f"cannot resolve {host}: {exc}", file=host) from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _Pinned(http.client.HTTPConnection):
    """An HTTP connection to one checked address, with the host name in the Host header."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedTLS(http.client.HTTPSConnection):
    """The same over TLS: the certificate is checked against the host name (SNI too)."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def fetch(url: str, *, max_bytes: int = MAX_BYTES, timeout: float = TIMEOUT) -> Fetched:
    """GET a feed, following redirects under the rules above; StatementError names the URL."""
    deadline = time.monotonic() + timeout
    home = _host_port(url)
    home_internal = False
    current = url
    for hop in range(MAX_REDIRECTS + 1):
        # Internal addresses: the configured feed's own host, and back to it only when it
        # was internal from the start (a public name that turns internal is rebinding).
        allow = hop == 0 or (home_internal and _host_port(current) == home)
        status, location, content_type, body, internal = _get(
            current, allow_internal=allow, max_bytes=max_bytes, deadline=deadline
        )
        if hop == 0:
            home_internal = internal
        if status in (301, 302, 303, 307, 308):
            if not location:
                raise StatementError(f"HTTP {status} without a Location", file=url)
            current = urljoin(current, location)
            continue
        if status != 200:
            raise StatementError(f"HTTP {status} from {current[:200]}", file=url)
        return Fetched(url=current, content_type=content_type, body=body)
    raise StatementError(f"more than {MAX_REDIRECTS} redirects", file=url)


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise StatementError(f"scheme {scheme[:20]!r} not allowed: only http and https", file=url)
    if not parts.hostname:
        raise StatementError("no host in the URL", file=url)
    try:
        return parts.hostname, parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise StatementError(f"malformed port: {exc}", file=url) from exc


def _get(
    url: str, *, allow_internal: bool, max_bytes: int, deadline: float
) -> tuple[int, str | None, str, bytes, bool]:
    host, port = _host_port(url)
    parts = urlsplit(url)
    addresses = _addresses(host, port)
    refused = [a for a in addresses if is_internal(a)]
    if refused and not allow_internal:
        raise StatementError(
            f"redirect to an internal address refused: {host} is {refused[0]}", file=url
        )
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise StatementError("timed out", file=url)
    kind = _PinnedTLS if parts.scheme.lower() == "https" else _Pinned
    connection = kind(host, port, addresses[0], timeout=min(remaining, 10.0))
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # The socket's time-out bounds each read, not the whole answer: a server that sends a
    # header line every few seconds would hold the tick for ever. At the deadline the
    # socket is shut, which ends whatever read is waiting.
    expired = threading.Event()
    watchdog = threading.Timer(remaining, _cut, args=(connection, expired))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request(
            "GET",
            path,
            headers={
                "User-Agent": "mailer feed reader",
                "Accept": _ACCEPT,
                "Accept-Encoding": "gzip",
                "Connection": "close",
            },
        )
        response = connection.getresponse()
        if 300 <= response.status < 400:
            return response.status, response.getheader("Location"), "", b"", bool(refused)
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise StatementError(f"larger than {max_bytes // (1024 * 1024)} MB", file=url)
        body = _read(response, max_bytes=max_bytes, deadline=deadline, url=url)
        if expired.is_set():  # the shut socket looks like the end of the body
            raise StatementError("timed out", file=url)
        content_type = response.getheader("Content-Type") or ""
        return response.status, None, content_type, body, bool(refused)
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set():
            raise StatementError("timed out", file=url) from exc
        raise StatementError(f"cannot fetch: {exc or type(exc).__name__}", file=url) from exc
    finally:
        watchdog.cancel()
        connection.close()


def _cut(connection: http.client.HTTPConnection, expired: threading.Event) -> None:
    """End a fetch that ran out of time: shut its socket, so that a blocked read returns."""
    expired.set()
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _read(
    response: http.client.HTTPResponse, *, max_bytes: int, deadline: float, url: str
) -> bytes:
    gzipped = (response.getheader("Content-Encoding") or "").lower() in ("gzip", "x-gzip")
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise StatementError("timed out while reading", file=url)
        chunk = response.read1(65536)
        if not chunk:
            break
        if inflate is not None:
            # Bounded output: a small gzip bomb cannot inflate past the limit.
            chunk = inflate.decompress(chunk, max_bytes + 1 - size)
            if inflate.unconsumed_tail:
                raise StatementError(f"larger than {max_bytes // (1024 * 1024)} MB", file=url)
        size += len(chunk)
        if size > max_bytes:
            raise StatementError(f"larger than {max_bytes // (1024 * 1024)} MB", file=url)
        chunks.append(chunk)
    return b"".join(chunks)
