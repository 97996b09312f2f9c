"""Settings read once from the environment (and `.env`), validated, frozen, passed in."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mailer.errors import ConfigError
from mailer.secret import SecretKeyFileError, load_or_create, secret_key_problem

__all__ = ["FIELDS", "Settings", "load_settings", "read_field"]

PREFIX = "MAILER_"
# A claimed row's lease, renewed by its batch's heartbeat every third of it: a dead worker's
# rows are back within LEASE_SECONDS + SWEEP_SECONDS.
LEASE_SECONDS = 30
SWEEP_SECONDS = 15.0
# Connections per worker process, each with one message in flight: a relay 20 ms away takes
# 50 messages a second on each.
SMTP_CONNECTIONS = 32


def _number(
    kind: type[int] | type[float],
    least: float | None = None,
    *,
    above: bool = False,
    most: float | None = None,
) -> Callable[[str], Any]:
    word = "a whole number" if kind is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"must be {word}, not {text!r}") from None
        # Written so that NaN, which compares false with everything, is refused too.
        if least is not None and not (value > least if above else value >= least):
            raise ValueError(f"must be {'more than' if above else 'at least'} {least:g}")
        if most is not None and not value <= most:
            raise ValueError(f"must be at most {most:g}")
        return value

    return parse


def _text(text: str) -> str:
    return text


def _bounce_mailbox(value: str) -> str | None:
    if not value:
        return None
    from mailer.bounces.mailbox import parse_mailbox_url

    try:
        parse_mailbox_url(value)
    except ConfigError as exc:
        raise ValueError(exc.problem) from exc
    return value


def _secret(value: str) -> str:
    # Set but empty is refused too (`MAILER_SECRET_KEY=` in a .env): never a blank key.
    problem = secret_key_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _broker(value: str) -> str:
    if urlsplit(value).scheme not in {"memory", "redis", "rediss"}:
        raise ValueError("must start with memory://, redis:// or rediss://")
    return value


def _public(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


def _transport(value: str) -> str:
    if value.split(":", 1)[0] not in {"maildir", "smtp", "smtp+starttls", "smtps", "memory"}:
        raise ValueError("must be maildir:PATH, smtp://, smtp+starttls:// or smtps://")
    return value


def _database(value: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(value)
    except ArgumentError as exc:
        raise ValueError("is not a SQLAlchemy URL") from exc
    return value


def _log_format(value: str) -> str:
    if value not in {"text", "json"}:
        raise ValueError("must be text or json")
    return value


@dataclass(frozen=True, slots=True)
class Field:
    """One variable (MAILER_ + its name in upper case): its default and how it is read."""

    default: Any
    parse: Callable[[str], Any] = _text


# Every variable mailer reads, read by hand: pydantic-settings cost every command 0.1-0.2 s
# of start-up (more than typer) to read two dozen strings.
FIELDS: dict[str, Field] = {
    "database_url": Field("sqlite:///mailer.db", _database),
    "broker_url": Field("memory://", _broker),
    "transport_url": Field("maildir:./outbox", _transport),
    "public_url": Field("http://127.0.0.1:8000", _public),
    "secret_key": Field(None, _secret),
    "rate_limit": Field(0.0, _number(float, 0)),
    "org_file": Field(None),
    "batch_size": Field(250, _number(int, 1, most=10_000)),
    "data_dir": Field(".mailer"),
    "worker_concurrency": Field(0, _number(int, 0)),
    "log_level": Field("WARNING"),
    "domain_rate_limit": Field(0.0, _number(float, 0)),
    "lease_seconds": Field(LEASE_SECONDS, _number(int, 3)),
    "sweep_seconds": Field(SWEEP_SECONDS, _number(float, 0, above=True)),
    "smtp_connections": Field(SMTP_CONNECTIONS, _number(int, 1, most=500)),
    "tick_seconds": Field(60.0, _number(float, 0, above=True)),
    "log_format": Field("text", _log_format),
    "retry_deadline": Field(24 * 3600, _number(int, 1)),
    "error_threshold": Field(0.25, _number(float, 0, above=True, most=1)),
    "dkim_selector": Field(None),
    "dkim_domain": Field(None),
    "dkim_key_file": Field(None),
    "bounce_mailbox": Field(None, _bounce_mailbox),
}


def read_field(name: str, text: str) -> Any:
    """The value of one variable (its name without MAILER_, lower case) from its text; raise
    ValueError saying what is wrong."""
    return FIELDS[name].parse(text)


class _Environment:
    """The variables, by name (pydantic's `model_fields` spelling, which tools read)."""

    model_fields = FIELDS


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything mailer reads from its environment, validated once."""

    database_url: str
    broker_url: str
    transport_url: str
    public_url: str
    secret_key: str
    rate_limit: float
    org_file: Path | None
    batch_size: int
    data_dir: Path
    worker_concurrency: int
    log_level: str
    domain_rate_limit: float = 0.0
    lease_seconds: int = LEASE_SECONDS
    sweep_seconds: float = SWEEP_SECONDS
    smtp_connections: int = SMTP_CONNECTIONS
    tick_seconds: float = 60.0
    log_format: str = "text"
    retry_deadline: int = 24 * 3600
    error_threshold: float = 0.25
    dkim: tuple[str, str, Path] | None = None  # (selector, domain, key file)
    bounce_mailbox: str | None = None  # imap[s]://user:password@host:port/FOLDER

    @property
    def embedded(self) -> bool:
        """True when the broker lives inside this process (memory://)."""
        return self.broker_url.startswith("memory:")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read, validate and freeze the settings; raise ConfigError naming the variable.

    From `environ` alone when given (tests, `mailer doctor`); else from the environment over
    the working directory's `.env` file. Names are read in any case; unknown ones ignored."""
    given = _given(environ) if environ is not None else {**_dotenv(), **_given(os.environ)}
    values: dict[str, Any] = {}
    for name, field in FIELDS.items():
        if name not in given:
            values[name] = field.default
            continue
        try:
            values[name] = field.parse(given[name])
        except ValueError as exc:
            raise ConfigError(PREFIX + name.upper(), str(exc)) from exc
    data_dir = Path(values["data_dir"])
    secret = values["secret_key"]
    return Settings(
        database_url=values["database_url"],
        broker_url=values["broker_url"],
        transport_url=values["transport_url"],
        public_url=values["public_url"],
        secret_key=secret if secret is not None else _embedded_secret(values, data_dir),
        rate_limit=values["rate_limit"],
        org_file=_org_file(values["org_file"]),
        batch_size=values["batch_size"],
        data_dir=data_dir,
        worker_concurrency=values["worker_concurrency"],
        log_level=values["log_level"].upper(),
        domain_rate_limit=values["domain_rate_limit"],
        lease_seconds=values["lease_seconds"],
        sweep_seconds=values["sweep_seconds"],
        smtp_connections=values["smtp_connections"],
        tick_seconds=values["tick_seconds"],
        log_format=values["log_format"],
        retry_deadline=values["retry_deadline"],
        error_threshold=values["error_threshold"],
        dkim=_dkim(values),
        bounce_mailbox=values["bounce_mailbox"],
    )


def _given(environ: Mapping[str, str]) -> dict[str, str]:
    return {k[len(PREFIX) :].lower(): v for k, v in environ.items() if k.upper().startswith(PREFIX)}


def _dotenv() -> dict[str, str]:
    """The MAILER_ variables of the working directory's `.env` file (python-dotenv's syntax)."""
    path = Path(".env")
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return _given({k: v for k, v in dotenv_values(path).items() if v is not None})


def _dkim(raw: dict[str, Any]) -> tuple[str, str, Path] | None:
    given = {
        "SELECTOR": raw["dkim_selector"],
        "DOMAIN": raw["dkim_domain"],
        "KEY_FILE": raw["dkim_key_file"],
    }
    if not any(given.values()):
        return None
    for name, value in given.items():
        if not value:
            raise ConfigError(
                f"{PREFIX}DKIM_{name}", "must be set with the other MAILER_DKIM_ variables"
            )
    key = Path(str(raw["dkim_key_file"]))
    try:
        text = key.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{PREFIX}DKIM_KEY_FILE", f"cannot read {key}: {exc}") from exc
    if "PRIVATE KEY" not in text:
        raise ConfigError(f"{PREFIX}DKIM_KEY_FILE", f"{key} is not a PEM private key")
    return (str(raw["dkim_selector"]), str(raw["dkim_domain"]), key)


def _org_file(value: str | None) -> Path | None:
    if value:
        path = Path(value)
        if not path.is_file():
            raise ConfigError(PREFIX + "ORG_FILE", f"no such file: {value}")
        return path
    default = Path("mailer.toml")
    return default if default.is_file() else None


def _embedded_secret(raw: dict[str, Any], data_dir: Path) -> str:
    """The embedded default keeps a generated key in the data directory; production must set one."""
    if not (raw["database_url"].startswith("sqlite") and raw["broker_url"].startswith("memory:")):
        raise ConfigError(
            PREFIX + "SECRET_KEY",
            "is required when not on the embedded default (sqlite + memory://)",
        )
    try:
        return load_or_create(data_dir / "secret_key")
    except SecretKeyFileError as exc:
        raise ConfigError(PREFIX + exc.setting, str(exc)) from exc
