"""`mailer doctor`: check every moving part and say, one line each, what is wrong.

It is the containers' health check, so its lines land in health logs: every line has its
credentials masked (`Check` masks its own detail, whatever check makes it). A new check is
one more function `Settings -> Check` in `run_checks`'s list.
"""

from __future__ import annotations

import os
import smtplib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from mailer.config import PREFIX, Settings, _Environment, _Given, load_settings
from mailer.errors import ConfigError, MailerError
from mailer.redact import mask_credentials
from mailer.secret import MIN_SECRET_LENGTH, RECOMMENDED_SECRET_LENGTH, key_file_problem

__all__ = ["Check", "run_checks"]


# Stands for a refused key so that the other parts are still checked; never signs anything.
_STAND_IN_KEY = "doctor-stand-in-for-a-refused-key-0123456789"


@dataclass(frozen=True, slots=True)
class Check:
    """One verdict; its detail never shows a password (URLs, `password=` values)."""

    name: str
    ok: bool
    detail: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", mask_credentials(self.detail))


def _variables(environ: Mapping[str, str]) -> Iterator[Check]:
    # Each variable alone, so that every wrong one is named, not only the first.
    from pydantic import ValidationError

    bad = False
    for key, value in sorted(environ.items()):
        if not key.startswith(PREFIX):
            continue
        field = key[len(PREFIX) :].lower()
        if field not in _Environment.model_fields:
            bad = True
            yield Check("configuration", False, f"{key} is not a mailer setting (a typo?)")
            continue
        try:
            _Given(**{field: value})  # type: ignore[arg-type]
        except ValidationError as exc:
            for error in exc.errors():
                if error["loc"] and error["loc"][0] == field:
                    bad = True
                    yield Check(
                        "configuration",
                        False,
                        f"{key}: {error['msg'].removeprefix('Value error, ')}",
                    )
    if not bad:
        yield Check("configuration", True, "every MAILER_ variable is valid")


def _database(settings: Settings) -> Check:
    from mailer.store.db import SCHEMA_HEAD, current_revision, open_database

    try:
        db = open_database(settings.database_url, migrate=False)
        revision = current_revision(db)
        db.dispose()
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


def _broker(settings: Settings) -> Check:
    if settings.embedded:
        return Check("broker", True, "memory:// (a worker runs inside each command)")
    import redis

    try:
        redis.Redis.from_url(settings.broker_url, socket_connect_timeout=3, socket_timeout=3).ping()
    except Exception as exc:
        return Check("broker", False, f"cannot reach {settings.broker_url}: {exc}")
    return Check("broker", True, f"{settings.broker_url} answers PING")


def _transport(settings: Settings) -> Check:
    url = settings.transport_url
    if url.startswith("maildir:"):
        path = Path(url.split(":", 1)[1].removeprefix("//"))
        target = path if path.exists() else path.parent
        if os.access(target, os.W_OK):
            return Check("transport", True, f"maildir {path} is writable")
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


def _dkim(settings: Settings) -> Check:
    if settings.dkim is None:
        return Check("dkim", True, "not configured (optional)")
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
    return Check(
        "dkim", True, f"signs as {selector}._domainkey.{domain}; publish its public key in DNS"
    )


def _catalogs(settings: Settings) -> Check:
    from babel.messages.pofile import read_po

    from mailer.i18n import available_catalogs
    from mailer.org import load_profile
    from mailer.paths import LOCALE_DIR

    org = load_profile(settings.org_file)
    with (LOCALE_DIR / "messages.pot").open("rb") as handle:
        wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}
    known = set(available_catalogs())
    problems = []
    for locale in org.locales:
        code = locale if locale in known else locale.split("_")[0]
        if code not in known:
            problems.append(f"{locale}: no catalog (falls back to its chain)")
            continue
        with (LOCALE_DIR / code / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            catalog = read_po(handle)
        missing = [m for m in wanted if not getattr(catalog.get(m), "string", None)]
        if missing:
            problems.append(f"{code}: {len(missing)} untranslated string(s)")
    if problems:
        return Check("catalogs", False, "; ".join(problems))
    return Check("catalogs", True, f"complete for {', '.join(org.locales)}")


def _secret_key(settings: Settings, environ: Mapping[str, str]) -> Check:
    if settings.secret_key == _STAND_IN_KEY:
        return Check("secret key", False, "refused (see above): links cannot be signed")
    if environ.get(f"{PREFIX}SECRET_KEY"):
        length = len(settings.secret_key)
        advice = (
            f" (weak: make a random one of {RECOMMENDED_SECRET_LENGTH} or more, "
            "`openssl rand -base64 32`)"
            if length < RECOMMENDED_SECRET_LENGTH
            else ""
        )
        return Check("secret key", True, f"MAILER_SECRET_KEY, {length} characters{advice}")
    path = settings.data_dir / "secret_key"
    problem = key_file_problem(path) if path.exists() else None
    if problem is not None:
        return Check("secret key", False, problem)
    return Check(
        "secret key",
        True,
        f"generated in {path} ({MIN_SECRET_LENGTH}+ characters, readable by its owner only)",
    )


def _bounce_mailbox(settings: Settings) -> Check:
    if not settings.bounce_mailbox:
        return Check("bounce mailbox", True, "not configured (optional: MAILER_BOUNCE_MAILBOX)")
    from mailer.bounces.mailbox import MailboxError, probe

    try:
        return Check("bounce mailbox", True, probe(settings.bounce_mailbox))
    except MailboxError as exc:
        return Check("bounce mailbox", False, str(exc))


def _dotenv() -> dict[str, str]:
    """The `.env` file of the working directory, as pydantic-settings reads it."""
    path = Path(".env")
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def run_checks(environ: Mapping[str, str] | None = None) -> list[Check]:
    """Every check. A wrong variable is reported once, then left out (its default used, or a
    stand-in for a refused secret key) so that the other parts are still checked."""
    env = dict(os.environ if environ is None else environ)
    if environ is None:
        env = {**_dotenv(), **env}
    checks = list(_variables(env))
    reported = {
        name
        for name in env
        if name.startswith(PREFIX)
        and any(
            c.detail.startswith(name + ":") or c.detail.startswith(name + " ")
            for c in checks
            if not c.ok
        )
    }
    for name in reported:
        env.pop(name)
    if f"{PREFIX}SECRET_KEY" in reported:
        env[f"{PREFIX}SECRET_KEY"] = _STAND_IN_KEY
    settings = None
    for _attempt in range(10):
        try:
            settings = load_settings(env)
            break
        except ConfigError as exc:
            if exc.variable not in reported:
                checks.append(Check("configuration", False, str(exc)))
                reported.add(exc.variable)
            group = f"{PREFIX}DKIM_" if exc.variable.startswith(f"{PREFIX}DKIM_") else exc.variable
            for name in [n for n in env if n.startswith(group)] if group.endswith("_") else [group]:
                env.pop(name, None)
            if exc.variable == f"{PREFIX}SECRET_KEY":
                env[exc.variable] = _STAND_IN_KEY
    if any(c.name == "configuration" and not c.ok for c in checks):
        # Not "every variable is valid" next to a variable that is not.
        checks = [c for c in checks if not (c.name == "configuration" and c.ok)]
    if settings is None:
        return checks

    def secret_key(current: Settings) -> Check:
        return _secret_key(current, env)

    steps: list[Callable[[Settings], Check]] = [
        secret_key,
        _database,
        _broker,
        _transport,
        _dkim,
        _catalogs,
        _bounce_mailbox,
    ]
    for step in steps:
        try:
            checks.append(step(settings))
        except Exception as exc:
            name = getattr(step, "__name__", "check").strip("_")
            checks.append(Check(name, False, f"check crashed: {exc}"))
    return checks
