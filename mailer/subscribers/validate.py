"""Validate and normalise one subscriber record (from a CSV row or the command line)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from babel import Locale
from email_validator import EmailNotValidError, validate_email

from mailer.errors import InvalidAddress, SubscriberRowError
from mailer.flags import FALSE_WORDS, TRUE_WORDS
from mailer.locales import normalise_locale

__all__ = [
    "ALERT_PREFS",
    "LIMITS",
    "STATUSES",
    "SubscriberData",
    "email_key",
    "legacy_email_key",
    "normalise_email",
    "validate_row",
]

STATUSES = ("pending", "subscribed", "unsubscribed", "bounced", "complained")
ALERT_PREFS = ("alerts", "digest", "none")
_KNOWN = {"email", "name", "locale", "country", "topics", "alerts", "lists", "status"}
# What one subscriber record may hold; the README's Files section lists the same figures.
LIMITS = {
    "name": 200,
    "topics": 50,  # items
    "lists": 50,
    "item": 100,  # characters of one topic or list name
    "attributes": 200,  # extra columns kept
    "attribute": 1000,  # characters of one extra column's value
}
# Control characters: C0 but tab and line breaks (a quoted cell may hold them; names,
# topics and lists have their whitespace collapsed), DEL and C1.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# The consent record `subscribers export` writes: kept as the consent record (when the import
# subscribes someone not yet consented), never as attributes.
_CONSENT = {"consent_at", "consent_source", "consent_method"}
_NOT_ATTRIBUTES = frozenset(_KNOWN | _CONSENT)
# CLDR also lists private-use and grouping codes (ZZ "Unknown Region", EU, QO, XK): leave those out.
_COUNTRIES = frozenset(
    code
    for code in map(str, Locale("en").territories)
    if len(code) == 2 and code.isalpha() and code not in {"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB"}
)


@dataclass(frozen=True, slots=True)
class SubscriberData:
    """A valid subscriber record; None means "not given" (keep what is stored)."""

    email: str
    name: str | None = None
    locale: str | None = None
    country: str | None = None
    topics: tuple[str, ...] | None = None
    alert_pref: str | None = None
    lists: tuple[str, ...] | None = None
    status: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    consent_at: dt.datetime | None = None
    consent_source: str | None = None
    consent_method: str | None = None

    def __reduce__(self) -> tuple[type[SubscriberData], tuple[object, ...]]:
        # Imports send records between processes by the thousand: pickled as constructor
        # arguments they load several times faster than by the slots dataclass' own state.
        return (
            SubscriberData,
            (
                self.email,
                self.name,
                self.locale,
                self.country,
                self.topics,
                self.alert_pref,
                self.lists,
                self.status,
                self.attributes,
                self.consent_at,
                self.consent_source,
                self.consent_method,
            ),
        )


# A plain ASCII dot-atom address on an ordinary domain: valid for email-validator too,
# checked here in a microsecond (imports of millions of rows spend their time here).
_SIMPLE = re.compile(
    r"^(?P<local>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?P<tld>[A-Za-z]{2,63}))$"
)
_SPECIAL_TLDS = {
    "arpa",
    "invalid",
    "local",
    "localhost",
    "onion",
    "test",
    "internal",
    "home",
    "lan",
}


def normalise_email(value: str) -> str:
    """Trim, check the syntax (no DNS), lower-case the domain, in its Unicode form (a punycode
    `xn--` domain is decoded); InvalidAddress when invalid."""
    text = value.strip()
    if not text:
        raise InvalidAddress("empty address", field="email")
    simple = _SIMPLE.match(text)
    if (
        simple
        # A punycode domain takes the long way: its Unicode form is the one kept, so that
        # one mailbox typed both ways is one person (and one suppression entry).
        and "xn--" not in simple.group("domain").lower()
        and len(text) <= 254
        and len(simple.group("local")) <= 64
        and simple.group("tld").lower() not in _SPECIAL_TLDS
    ):
        return f"{simple.group('local')}@{simple.group('domain').lower()}"
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(f"invalid address {text!r}: {exc}", field="email") from exc
    return f"{result.local_part}@{result.domain.lower()}"


def email_key(address: str) -> str:
    """The lookup key of a normalised address: lower-cased, never case-folded.

    Mail systems ignore the case of a local part, so `Ana@` and `ana@` are one person; but
    folding maps `straße@` to `strasse@`, a different mailbox and maybe a different
    person. NFC first, so that an "é" typed two ways is one address."""
    return unicodedata.normalize("NFC", address).lower()


def legacy_email_key(address: str) -> str:
    """The key databases of schema 0001 stored (`casefold`), which suppression hashes of
    that time were made from; checked too, so that nobody they kept out comes back."""
    return address.casefold()


def _split(value: str, field: str) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for item in value.split(";"):
        item = " ".join(item.split())
        if len(item) > LIMITS["item"]:
            raise SubscriberRowError(
                f"{item[:30]!r}... is longer than {LIMITS['item']} characters", field=field
            )
        if item and item.casefold() not in seen:
            seen[item.casefold()] = item
    if len(seen) > LIMITS[field]:
        raise SubscriberRowError(f"more than {LIMITS[field]} items", field=field)
    return tuple(seen.values())


def _alerts(value: str) -> str:
    lowered = value.strip().lower()
    if lowered in TRUE_WORDS or lowered == "alerts":
        return "alerts"
    if lowered in FALSE_WORDS or lowered == "digest":
        return "digest"
    if lowered == "none":
        return "none"
    raise SubscriberRowError(
        f"expected true or false (yes/no, 1/0; or alerts, digest, none), got {value[:40]!r}",
        field="alerts",
    )


def _no_controls(row: Mapping[str, str | None]) -> None:
    if _CONTROL.search("".join(filter(None, row.values()))) is None:
        return  # one search for the whole row: imports validate millions of them
    for key, value in row.items():
        found = _CONTROL.search(value) if value else None
        if found is not None:
            raise SubscriberRowError(
                f"control character U+{ord(found.group()):04X} not allowed", field=key
            )


def validate_row(row: Mapping[str, str | None]) -> SubscriberData:
    """Check every field of a row; the first problem raises SubscriberRowError naming the field."""

    def get(key: str) -> str | None:
        value = row.get(key)
        if value is None:
            return None
        return value.strip()

    _no_controls(row)
    email = normalise_email(get("email") or "")
    locale_text = get("locale")
    locale = None
    if locale_text:
        locale = normalise_locale(locale_text)
        if locale is None:
            raise SubscriberRowError(f"unknown locale {locale_text!r}", field="locale")
    country = get("country")
    if country:
        country = country.upper()
        if country not in _COUNTRIES:
            raise SubscriberRowError(
                f"not an ISO 3166 alpha-2 country code: {country!r}", field="country"
            )
    status = get("status")
    if status:
        status = status.lower()
        if status not in STATUSES:
            raise SubscriberRowError(f"must be one of {', '.join(STATUSES)}", field="status")
    name = get("name")
    if name is not None and len(name) > LIMITS["name"]:
        raise SubscriberRowError(f"longer than {LIMITS['name']} characters", field="name")
    topics = get("topics")
    lists = get("lists")
    alerts = get("alerts")
    attributes = tuple(
        (k, v.strip())
        for k, v in row.items()
        if k not in _NOT_ATTRIBUTES and v is not None and v.strip()
    )
    if len(attributes) > LIMITS["attributes"]:
        raise SubscriberRowError(f"more than {LIMITS['attributes']} extra columns filled in")
    for key, value in attributes:
        if len(value) > LIMITS["attribute"]:
            raise SubscriberRowError(f"longer than {LIMITS['attribute']} characters", field=key)
    consent_at = _moment(get("consent_at"))
    consent_source, consent_method = get("consent_source"), get("consent_method")
    if consent_source and len(consent_source) > 200:
        raise SubscriberRowError("longer than 200 characters", field="consent_source")
    if consent_method and len(consent_method) > 32:
        raise SubscriberRowError("longer than 32 characters", field="consent_method")
    return SubscriberData(
        email=email,
        name=" ".join(name.split()) if name else None,
        locale=locale,
        country=country or None,
        topics=_split(topics, "topics") if topics else None,
        alert_pref=_alerts(alerts) if alerts else None,
        lists=_split(lists, "lists") if lists else None,
        status=status or None,
        attributes=attributes,
        consent_at=consent_at,
        consent_source=consent_source or None,
        consent_method=consent_method or None,
    )


def _moment(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise SubscriberRowError(
            f"not an ISO 8601 time: {value[:40]!r}", field="consent_at"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
