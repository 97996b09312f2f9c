"""Open the transport named by MAILER_TRANSPORT_URL."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from mailer.errors import ConfigError

if TYPE_CHECKING:
    from mailer.transport.base import Transport
    from mailer.transport.smtp import SMTPSettings

__all__ = ["open_transport", "parse_smtp_url"]

VARIABLE = "MAILER_TRANSPORT_URL"
_SECURITY = {"smtp": "none", "smtp+starttls": "starttls", "smtps": "tls"}
_DEFAULT_PORT = {"none": 25, "starttls": 587, "tls": 465}


def parse_smtp_url(url: str, *, connections: int = 1) -> SMTPSettings:
    """`smtp[s|+starttls]://[user:pass@]host[:port][?timeout=S&max_per_connection=N&verify=false]`;
    `connections` (MAILER_SMTP_CONNECTIONS) kept busy at once."""
    from mailer.transport.smtp import SMTPSettings

    parts = urlsplit(url)
    security = _SECURITY.get(parts.scheme)
    if security is None or not parts.hostname:
        raise ConfigError(VARIABLE, f"not an SMTP URL: {url!r}")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    try:
        port = parts.port or _DEFAULT_PORT[security]
        timeout = float(query.get("timeout", 30))
        per_connection = int(query.get("max_per_connection", 1000))
    except ValueError as exc:
        raise ConfigError(VARIABLE, f"bad number in {url!r}: {exc}") from exc
    return SMTPSettings(
        host=parts.hostname,
        port=port,
        security=security,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        timeout=timeout,
        max_per_connection=max(1, per_connection),
        verify_tls=query.get("verify", "true").lower() not in {"0", "false", "no"},
        connections=max(1, connections),
    )


def open_transport(url: str, *, connections: int = 1) -> Transport:
    """A transport for `maildir:PATH`, `smtp://...`, `smtp+starttls://...`, `smtps://...` or
    `memory://`; SMTP with `connections` connections busy at once."""
    # Each backend is imported when named: the embedded default loads no SMTP client.
    scheme, _, rest = url.partition(":")
    if scheme == "maildir":
        from mailer.transport.maildir import MaildirTransport

        path = rest[2:] if rest.startswith("//") else rest
        if not path:
            raise ConfigError(VARIABLE, "maildir: needs a path, e.g. maildir:./outbox")
        return MaildirTransport(Path(path))
    if scheme == "memory":
        from mailer.transport.memory import MemoryTransport

        return MemoryTransport()
    if scheme in _SECURITY:
        from mailer.transport.pool import SMTPTransport

        return SMTPTransport(parse_smtp_url(url, connections=connections))
    raise ConfigError(
        VARIABLE,
        f"unknown transport {scheme!r}: use maildir:, smtp://, smtp+starttls:// or smtps://",
    )
