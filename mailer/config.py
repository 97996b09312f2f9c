"""Settings read once from the environment (and `.env`), validated, frozen, passed in."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mailer.errors import ConfigError
from mailer.secret import SecretKeyFileError, load_or_create, secret_key_problem

__all__ = ["Settings", "load_settings"]

PREFIX = "MAILER_"
# A claimed row's lease, renewed by its batch's heartbeat every third of it: a dead worker's
# rows are back within LEASE_SECONDS + SWEEP_SECONDS.
LEASE_SECONDS = 30
SWEEP_SECONDS = 15.0
# Connections per worker process, each with one message in flight: a relay 20 ms away takes
# 50 messages a second on each.
SMTP_CONNECTIONS = 32


class _Environment(BaseSettings):
    """The raw variables, as pydantic-settings reads them."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    database_url: str = "sqlite:///mailer.db"
    broker_url: str = "memory://"
    transport_url: str = "maildir:./outbox"
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str | None = None
    rate_limit: float = Field(default=0.0, ge=0)
    org_file: str | None = None
    batch_size: int = Field(default=250, ge=1, le=10_000)
    data_dir: str = ".mailer"
    worker_concurrency: int = Field(default=0, ge=0)
    log_level: str = "WARNING"
    domain_rate_limit: float = Field(default=0.0, ge=0)
    lease_seconds: int = Field(default=LEASE_SECONDS, ge=3)
    sweep_seconds: float = Field(default=SWEEP_SECONDS, gt=0)
    smtp_connections: int = Field(default=SMTP_CONNECTIONS, ge=1, le=500)
    tick_seconds: float = Field(default=60.0, gt=0)
    log_format: str = Field(default="text", pattern="^(text|json)$")
    retry_deadline: int = Field(default=24 * 3600, ge=1)
    error_threshold: float = Field(default=0.25, gt=0, le=1)
    dkim_selector: str | None = None
    dkim_domain: str | None = None
    dkim_key_file: str | None = None
    bounce_mailbox: str | None = None

    @field_validator("bounce_mailbox")
    @classmethod
    def _bounce_mailbox(cls, value: str | None) -> str | None:
        if not value:
            return None
        from mailer.bounces.mailbox import parse_mailbox_url

        try:
            parse_mailbox_url(value)
        except ConfigError as exc:
            raise ValueError(exc.problem) from exc
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        # Set but empty is refused too (`MAILER_SECRET_KEY=` in a .env): never a blank key.
        problem = None if value is None else secret_key_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("broker_url")
    @classmethod
    def _broker(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in {"memory", "redis", "rediss"}:
            raise ValueError("must start with memory://, redis:// or rediss://")
        return value

    @field_validator("public_url")
    @classmethod
    def _public(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("transport_url")
    @classmethod
    def _transport(cls, value: str) -> str:
        scheme = value.split(":", 1)[0]
        if scheme not in {"maildir", "smtp", "smtp+starttls", "smtps", "memory"}:
            raise ValueError("must be maildir:PATH, smtp://, smtp+starttls:// or smtps://")
        return value

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value)
        except ArgumentError as exc:
            raise ValueError("is not a SQLAlchemy URL") from exc
        return value


class _Given(_Environment):
    """The same variables, read only from the mapping given (tests, `mailer doctor`)."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: Any, init_settings: Any, *args: Any, **kwargs: Any
    ) -> tuple[Any, ...]:
        return (init_settings,)


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
    """Read, validate and freeze the settings; raise ConfigError naming the variable."""
    env = dict(os.environ if environ is None else environ)
    relevant: dict[str, Any] = {
        k[len(PREFIX) :].lower(): v for k, v in env.items() if k.startswith(PREFIX)
    }
    try:
        raw = _Given(**relevant) if environ is not None else _Environment()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = PREFIX + str(first["loc"][0]).upper() if first["loc"] else PREFIX
        raise ConfigError(name, first["msg"].removeprefix("Value error, ")) from exc
    data_dir = Path(raw.data_dir)
    return Settings(
        database_url=raw.database_url,
        broker_url=raw.broker_url,
        transport_url=raw.transport_url,
        public_url=raw.public_url,
        secret_key=raw.secret_key
        if raw.secret_key is not None
        else _embedded_secret(raw, data_dir),
        rate_limit=raw.rate_limit,
        org_file=_org_file(raw.org_file),
        batch_size=raw.batch_size,
        data_dir=data_dir,
        worker_concurrency=raw.worker_concurrency,
        log_level=raw.log_level.upper(),
        domain_rate_limit=raw.domain_rate_limit,
        lease_seconds=raw.lease_seconds,
        sweep_seconds=raw.sweep_seconds,
        smtp_connections=raw.smtp_connections,
        tick_seconds=raw.tick_seconds,
        log_format=raw.log_format,
        retry_deadline=raw.retry_deadline,
        error_threshold=raw.error_threshold,
        dkim=_dkim(raw),
        bounce_mailbox=raw.bounce_mailbox,
    )


def _dkim(raw: _Environment) -> tuple[str, str, Path] | None:
    given = {
        "SELECTOR": raw.dkim_selector,
        "DOMAIN": raw.dkim_domain,
        "KEY_FILE": raw.dkim_key_file,
    }
    if not any(given.values()):
        return None
    for name, value in given.items():
        if not value:
            raise ConfigError(
                f"{PREFIX}DKIM_{name}", "must be set with the other MAILER_DKIM_ variables"
            )
    key = Path(str(raw.dkim_key_file))
    try:
        text = key.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{PREFIX}DKIM_KEY_FILE", f"cannot read {key}: {exc}") from exc
    if "PRIVATE KEY" not in text:
        raise ConfigError(f"{PREFIX}DKIM_KEY_FILE", f"{key} is not a PEM private key")
    return (str(raw.dkim_selector), str(raw.dkim_domain), key)


def _org_file(value: str | None) -> Path | None:
    if value:
        path = Path(value)
        if not path.is_file():
            raise ConfigError(PREFIX + "ORG_FILE", f"no such file: {value}")
        return path
    default = Path("mailer.toml")
    return default if default.is_file() else None


def _embedded_secret(raw: _Environment, data_dir: Path) -> str:
    """The embedded default keeps a generated key in the data directory; production must set one."""
    if not (raw.database_url.startswith("sqlite") and raw.broker_url.startswith("memory:")):
        raise ConfigError(
            PREFIX + "SECRET_KEY",
            "is required when not on the embedded default (sqlite + memory://)",
        )
    try:
        return load_or_create(data_dir / "secret_key")
    except SecretKeyFileError as exc:
        raise ConfigError(PREFIX + exc.setting, str(exc)) from exc
