"""`mailer doctor`'s checks of what mailer talks to: the database and the files of people's
data, the broker, the transport and its relay, the DKIM key, the bounce mailbox; each a
function `Settings -> Check`."""

from __future__ import annotations

import os
import smtplib
from dataclasses import dataclass
from pathlib import Path

from mailer.config import Settings
from mailer.doctor_content import profile_verdict, read_only_engine
from mailer.errors import MailerError
from mailer.redact import mask_credentials

__all__ = [
    "Check",
    "bounce_mailbox",
    "broker",
    "database",
    "dkim",
    "files",
    "skip",
    "transport",
    "warn",
]


@dataclass(frozen=True, slots=True)
class Check:
    """One verdict; its detail never shows a password (URLs, `password=` values).

    `mark` is how the line starts: "ok", "FAIL", or, for a line that does not fail doctor,
    "warn" (something to know) or "skip" (not checked, and why)."""

    name: str
    ok: bool
    detail: str
    mark: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", mask_credentials(self.detail))
        if not self.mark:
            object.__setattr__(self, "mark", "ok" if self.ok else "FAIL")


def warn(name: str, detail: str) -> Check:
    return Check(name, True, detail, "warn")


def skip(name: str, detail: str) -> Check:
    return Check(name, True, detail, "skip")


def database(settings: Settings) -> Check:
    from mailer.store.db import SCHEMA_HEAD, Database, current_revision

    try:
        engine = read_only_engine(settings.database_url)
        if isinstance(engine, str):
            return Check("database", False, engine)
        revision = current_revision(Database(engine))
        engine.dispose()
    except Exception as exc:  # any driver error is the answer
        return Check(
            "database", False, f"cannot open {settings.database_url}: {str(exc).splitlines()[0]}"
        )
    if revision != SCHEMA_HEAD:
        return Check(
            "database",
            False,
            f"schema at {revision or 'nothing'}, expected {SCHEMA_HEAD}: run `mailer init`",
        )
    return Check("database", True, f"reachable, schema {revision}")


def files(settings: Settings) -> Check:
    """People's data on disk (the SQLite database and its WAL, the maildir outbox) must not
    be readable by other local users (the data folder's key and journals are 0600 anyway)."""
    places: list[Path] = []
    if settings.database_url.startswith("sqlite:///"):
        database = Path(settings.database_url.removeprefix("sqlite:///"))
        places += [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
    if settings.transport_url.startswith("maildir:"):
        outbox = Path(settings.transport_url.split(":", 1)[1].removeprefix("//"))
        places += [outbox, outbox / "new", outbox / "cur"]
    open_to_others = [
        f"{place} ({place.stat().st_mode & 0o777:o})"
        for place in places
        if place.exists() and place.stat().st_mode & 0o077
    ]
    if open_to_others:
        return warn(
            "files",
            "readable by other local users: "
            + ", ".join(open_to_others[:4])
            + " (chmod go= them: they hold people's addresses and personal links)",
        )
    return Check("files", True, "people's data is readable by its owner only")


def broker(settings: Settings) -> Check:
    if settings.embedded:
        return Check("broker", True, "memory:// (a worker runs inside each command)")
    import redis

    try:
        redis.Redis.from_url(settings.broker_url, socket_connect_timeout=3, socket_timeout=3).ping()
    except Exception as exc:
        return Check("broker", False, f"cannot reach {settings.broker_url}: {exc}")
    return Check("broker", True, f"{settings.broker_url} answers PING")


def transport(settings: Settings) -> Check:
    url = settings.transport_url
    if url.startswith("maildir:"):
        path = Path(url.split(":", 1)[1].removeprefix("//"))
        # The nearest folder that exists: the outbox is made there on the first send.
        target = next((p for p in (path, *path.parents) if p.exists()), Path("."))
        if os.access(target, os.W_OK):
            made = "" if path.exists() else " (created on the first send)"
            return Check("transport", True, f"maildir {path} is writable{made}")
        return Check("transport", False, f"maildir {path}: not writable")
    if url.startswith("memory:"):
        return Check("transport", True, "memory (tests only)")
    from mailer.transport.factory import parse_smtp_url
    from mailer.transport.smtp import SMTPConnection

    smtp = parse_smtp_url(url)
    transport = SMTPConnection(smtp)
    try:
        refused = transport.open()  # connect, EHLO, STARTTLS and AUTH as configured; sends nothing
        if refused is not None:
            return Check("smtp", False, f"{smtp.host}:{smtp.port}: {refused}")
    except MailerError as exc:
        return Check("smtp", False, f"{smtp.host}:{smtp.port}: {exc}")
    except (TimeoutError, OSError, smtplib.SMTPException) as exc:
        return Check("smtp", False, f"{smtp.host}:{smtp.port}: {exc}")
    finally:
        transport.close()
    return Check("smtp", True, f"{smtp.host}:{smtp.port} accepts connections ({smtp.security})")


def dkim(settings: Settings, *, profile_refused: bool = False) -> Check:
    if settings.dkim is None:
        return Check("dkim", True, "not configured (optional)")
    from mailer.alignment import aligned, organizational_domain
    from mailer.dkim_sign import Signer

    selector, domain, key = settings.dkim
    try:
        Signer.from_file(selector, domain, key).sign(
            b"From: a@" + domain.encode() + b"\r\nTo: b@example.org\r\nSubject: t\r\n\r\nt\r\n"
        )
    except Exception as exc:
        return Check(
            "dkim",
            False,
            f"key {key} cannot sign: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
        )
    _, org = (None, None) if profile_refused else profile_verdict(settings)
    if org is None:
        return skip("dkim", "the key signs; alignment not checked: the profile is wrong (above)")
    sender = org.sender_domain
    if not aligned(domain, sender):
        # RFC 7489 3.1.1: relaxed alignment wants the same Organizational Domain.
        return Check(
            "dkim",
            False,
            f"signs as {domain}, which does not align with the From domain {sender} "
            f"({organizational_domain(domain)} is not {organizational_domain(sender)}): DMARC "
            f"fails; set MAILER_DKIM_DOMAIN to {sender} or one of its subdomains",
        )
    return Check(
        "dkim",
        True,
        f"signs as {selector}._domainkey.{domain}, aligned with From {sender}; "
        "publish its public key in DNS",
    )


def bounce_mailbox(settings: Settings) -> Check:
    if not settings.bounce_mailbox:
        return Check(
            "bounce mailbox",
            True,
            "MAILER_BOUNCE_MAILBOX is not set (optional: reports then come only through "
            "`mailer inbound`)",
            "skip",
        )
    from mailer.bounces.mailbox import MailboxError, probe

    try:
        return Check("bounce mailbox", True, probe(settings.bounce_mailbox))
    except MailboxError as exc:
        return Check("bounce mailbox", False, str(exc))
