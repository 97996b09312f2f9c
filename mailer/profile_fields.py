"""Readers of one `mailer.toml` value each: the value checked, or one ConfigError naming the
file and the field."""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailer.errors import ConfigError
from mailer.locales import normalise_locale
from mailer.urls import url_problem

__all__ = [
    "address",
    "count",
    "flag",
    "hosts",
    "list_id",
    "locale",
    "optional_address",
    "optional_flag",
    "optional_text",
    "refuse_control_characters",
    "text",
    "timezone",
    "url",
]


def refuse_control_characters(where: str, value: object, path: str) -> None:
    """No profile value may hold a control character: a CR/LF in a name or an address line
    would start a new header line (a `Bcc:`) in every message that shows it (RFC 5322 2.2)."""
    if isinstance(value, dict):
        for key, item in value.items():
            refuse_control_characters(where, key, path or "key")
            refuse_control_characters(where, item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            refuse_control_characters(where, item, f"{path}[{index}]")
    elif isinstance(value, str):
        for char in value:
            if unicodedata.category(char) in {"Cc", "Zl", "Zp"}:
                raise ConfigError(
                    where, f"{path}: control character U+{ord(char):04X} not allowed in a value"
                )


HOST = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def hosts(where: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > 50:
        raise ConfigError(where, "organisation.image_hosts must be a list of at most 50 host names")
    hosts = []
    for index, item in enumerate(value):
        host = item.strip().lower().rstrip(".") if isinstance(item, str) else ""
        if not HOST.match(host):
            raise ConfigError(
                where,
                f"organisation.image_hosts[{index}] must be a host name like images.example.org",
            )
        hosts.append(host)
    return tuple(dict.fromkeys(hosts))


def url(where: str, key: str, value: str, *, mailto: bool = True) -> str:
    problem = url_problem(value)
    if problem is None and not mailto and value.lower().startswith("mailto:"):
        problem = "must be an https:// or http:// URL"
    if problem is not None:
        raise ConfigError(where, f"{key}: {problem}")
    return value.strip()


def optional_flag(where: str, table: dict[str, Any], key: str) -> bool | None:
    value = table.get(key)
    if value is not None and not isinstance(value, bool):
        raise ConfigError(where, f"organisation.{key} must be true or false, not {value!r}")
    return value


def count(where: str, table: dict[str, Any], key: str, default: int) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or value < 0:
        raise ConfigError(where, f"organisation.{key} must be a whole number >= 0")
    return value


def flag(where: str, table: dict[str, Any], key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(where, f"organisation.{key} must be true or false")
    return value


def timezone(where: str, name: str) -> str:
    """An IANA time zone this machine knows: `--at`, the digest and the missed grace read it."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            where,
            f"organisation.timezone: unknown time zone {name!r} "
            "(an IANA name such as Europe/Brussels or UTC)",
        ) from exc
    return name


def text(where: str, table: dict[str, Any], key: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value.strip() or len(value) > 300:
        raise ConfigError(
            where, f"organisation.{key} must be a non-empty string of at most 300 characters"
        )
    return value.strip()


def optional_address(where: str, table: dict[str, Any], key: str) -> str | None:
    if table.get(key) is None:
        return None
    return address(where, table, key, "")


def optional_text(where: str, key: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 300:
        raise ConfigError(where, f"{key} must be text of at most 300 characters")
    return value.strip() or None


# One plain address: no display name, no list, nothing a header could read as more.
PLAIN_ADDRESS = re.compile(r"^[^\s@<>,;:\"()\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


def address(where: str, table: dict[str, Any], key: str, default: str) -> str:
    value = text(where, table, key, default)
    if not PLAIN_ADDRESS.match(value):
        raise ConfigError(where, f"organisation.{key} is not an email address: {value!r}")
    return value


def list_id(where: str, value: str) -> str:
    # RFC 2919: the list-id is a dot-atom (it goes between < > in List-Id).
    if not re.fullmatch(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+", value):
        raise ConfigError(
            where, f"organisation.list_id must look like alerts.example.org, not {value!r}"
        )
    return value


def locale(where: str, key: str, value: object) -> str:
    locale = normalise_locale(value) if isinstance(value, str) else None
    if locale is None:
        raise ConfigError(where, f"{key}: unknown locale {value!r}")
    return locale
