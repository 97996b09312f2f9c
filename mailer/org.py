"""The organisation profile (`mailer.toml`): name, address, senders, locales, default calls to action."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailer import profile_fields as fields
from mailer.errors import ConfigError
from mailer.locales import fallback_chain, normalise_locale

__all__ = ["DefaultAction", "LocaleProfile", "OrgProfile", "Source", "chain_for", "load_profile"]


@dataclass(frozen=True, slots=True)
class DefaultAction:
    """A call to action added to every email of a locale that does not bring its own of that kind."""

    kind: str
    url: str
    label: str | None = None


@dataclass(frozen=True, slots=True)
class LocaleProfile:
    """What the organisation says differently per locale."""

    sender_name: str | None = None
    address: str | None = None
    fallback: tuple[str, ...] = ()
    actions: tuple[DefaultAction, ...] = ()


@dataclass(frozen=True, slots=True)
class Source:
    """Where statements come from by themselves: an RSS/Atom feed or a watched directory."""

    url: str | None = None
    directory: str | None = None
    publish: bool = False
    lang: str | None = None
    urgency: str = "news"
    # Added to every statement the source brings (a feed's own categories come first):
    # what the organisation knows of a feed that says nothing of its subject or place.
    topics: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """How the source is recorded on the statements it produced."""
        return self.url or f"dir:{self.directory}"


@dataclass(frozen=True, slots=True)
class OrgProfile:
    """The organisation sending the mail."""

    name: str = "Example Human Rights Organisation"
    address: str = "Rue de l'Exemple 1, 1000 Bruxelles, Belgique"
    website: str = "https://example.org"
    from_address: str = "alerts@example.org"
    bounce_address: str | None = None
    unsubscribe_address: str | None = None
    list_id: str = "alerts.example.org"
    default_locale: str = "en"
    locales: tuple[str, ...] = ("fr", "nl", "de", "en")
    timezone: str = "Europe/Brussels"
    missing: str = "fallback"  # stored policy form: "fallback" or "wait:SECONDS"
    max_alerts_per_day: int = 0  # 0: no cap
    digest: str | None = "mon 08:00"  # weekday and time in `timezone`; None: no digest
    missed_grace_seconds: int = 3600
    sources: tuple[Source, ...] = ()
    # The topics a person may choose (signup and preference pages); empty: the topics of
    # published statements.
    topics: tuple[str, ...] = ()
    # Hosts whose images a statement may show (`![alt](https://host/...)`); empty (the
    # default): no remote image, only its alt text. Every image loaded tells its host who
    # opened the email, when and from where.
    image_hosts: tuple[str, ...] = ()
    # The public archive of published statements (/archive/{lang}); `archive = false` in
    # [organisation] turns it off (404).
    archive: bool = True
    # Whether French elides before the name ("d’Amnesty"): None decides by its first letter
    # (a vowel elides, an h does not: mute or not is the word's, "d’Humanité", "de Handicap").
    name_elides: bool | None = None
    per_locale: dict[str, LocaleProfile] = field(default_factory=dict)
    # Bounces: VERP envelope senders when bounce_address is set (`verp = false` for relays
    # that rewrite the envelope sender); soft bounces that make an address bounced.
    verp: bool = True
    soft_bounce_limit: int = 3
    soft_bounce_days: int = 7

    @property
    def sender_domain(self) -> str:
        """The domain of the From address, used for Message-IDs."""
        return self.from_address.rpartition("@")[2]

    @property
    def envelope_from(self) -> str:
        """Where bounces go (SMTP MAIL FROM)."""
        return self.bounce_address or self.from_address

    @property
    def mailto_unsubscribe(self) -> str:
        """The address of the mailto: List-Unsubscribe target."""
        return self.unsubscribe_address or f"unsubscribe@{self.sender_domain}"

    def for_locale(self, locale: str) -> LocaleProfile:
        """The locale's own settings, else its language's, else none: no default button is
        made up (a `website/donate` page may not exist, or not in that language), so a locale
        without `[locales.X]` buttons shows only the statement's own."""
        found = self.per_locale.get(locale) or self.per_locale.get(locale.split("_")[0])
        return found if found is not None else LocaleProfile()

    def sender_name(self, locale: str) -> str:
        """The From display name for a locale."""
        return self.for_locale(locale).sender_name or self.name

    def postal_address(self, locale: str) -> str:
        """The postal address line printed in the footer for a locale."""
        return self.for_locale(locale).address or self.address


def load_profile(path: Path | None) -> OrgProfile:
    """Read a `mailer.toml`; None gives the built-in example organisation."""
    if path is None:
        return OrgProfile()
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(where, f"cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, f"not valid TOML: {exc}") from exc
    fields.refuse_control_characters(where, data, "")
    org = data.get("organisation", {})
    if not isinstance(org, dict):
        raise ConfigError(where, "[organisation] must be a table")
    defaults = OrgProfile()
    locales = tuple(
        fields.locale(where, "organisation.locales", v)
        for v in org.get("locales", defaults.locales)
    )
    default_locale = fields.locale(
        where,
        "organisation.default_locale",
        org.get("default_locale", locales[0] if locales else "en"),
    )
    if not isinstance(data.get("locales", {}), dict):
        raise ConfigError(where, "[locales] must be a table of [locales.LOCALE] tables")
    if not isinstance(data.get("sources", []), list):
        raise ConfigError(where, "sources must be [[sources]] tables")
    per_locale = {
        fields.locale(where, f"locales.{key}", key): _locale_profile(where, key, value)
        for key, value in data.get("locales", {}).items()
    }
    return OrgProfile(
        name=fields.text(where, org, "name", defaults.name),
        address=fields.text(where, org, "address", defaults.address),
        website=fields.url(
            where,
            "organisation.website",
            fields.text(where, org, "website", defaults.website),
            mailto=False,
        ),
        from_address=fields.address(where, org, "from_address", defaults.from_address),
        bounce_address=_bounce_address(where, org),
        unsubscribe_address=fields.optional_address(where, org, "unsubscribe_address"),
        list_id=fields.list_id(
            where,
            fields.text(
                where,
                org,
                "list_id",
                f"alerts.{fields.address(where, org, 'from_address', defaults.from_address).rpartition('@')[2]}",
            ),
        ),
        default_locale=default_locale,
        locales=locales or (default_locale,),
        timezone=fields.timezone(where, fields.text(where, org, "timezone", defaults.timezone)),
        missing=_missing(where, org.get("missing", "fallback")),
        max_alerts_per_day=fields.count(where, org, "max_alerts_per_day", 0),
        digest=_digest(where, org.get("digest", "mon 08:00")),
        missed_grace_seconds=fields.count(where, org, "missed_grace_minutes", 60) * 60,
        sources=tuple(_source(where, i, s) for i, s in enumerate(data.get("sources", []))),
        topics=_topics(where, org.get("topics", [])),
        image_hosts=fields.hosts(where, org.get("image_hosts", [])),
        archive=fields.flag(where, org, "archive", True),
        name_elides=fields.optional_flag(where, org, "name_elides"),
        per_locale=per_locale,
        verp=fields.flag(where, org, "verp", True),
        soft_bounce_limit=fields.count(where, org, "soft_bounce_limit", 3) or _at_least_one(where),
        soft_bounce_days=fields.count(where, org, "soft_bounce_days", 7),
    )


def _at_least_one(where: str) -> int:
    raise ConfigError(where, "organisation.soft_bounce_limit must be a whole number >= 1")


def _bounce_address(where: str, table: dict[str, Any]) -> str | None:
    if table.get("bounce_address") in (None, ""):
        return None
    value = fields.address(where, table, "bounce_address", "")
    from mailer.bounces.verp import MAX_BOUNCE_LOCAL

    local = value.rpartition("@")[0]
    if table.get("verp", True) is not False and len(local.encode("utf-8")) > MAX_BOUNCE_LOCAL:
        raise ConfigError(
            where,
            f"organisation.bounce_address: a local part of at most {MAX_BOUNCE_LOCAL} "
            "characters leaves room for the VERP token (RFC 5321 allows 64), or set verp = false",
        )
    return value


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _digest(where: str, value: object) -> str | None:
    if value in (None, "", False, "none"):
        return None
    text = str(value).strip().lower()
    parts = text.split()
    valid = len(parts) == 2 and (parts[0] in _WEEKDAYS or parts[0] == "daily")
    if valid:
        hour, _, minute = parts[1].partition(":")
        valid = hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60
    if not valid:
        raise ConfigError(
            where, f"organisation.digest must look like 'mon 08:00' or 'daily 07:30', not {value!r}"
        )
    return text


_MAX_TOPICS = 200
_MAX_TOPIC_LENGTH = 100


def _topics(
    where: str, value: object, *, key: str = "organisation.topics", limit: int = _MAX_TOPICS
) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > limit:
        raise ConfigError(where, f"{key} must be a list of at most {limit}")
    seen: dict[str, str] = {}
    for index, item in enumerate(value):
        topic = " ".join(item.split()) if isinstance(item, str) else ""
        if not topic or len(topic) > _MAX_TOPIC_LENGTH or not topic.isprintable():
            raise ConfigError(
                where,
                f"{key}[{index}] must be printable text of 1 to {_MAX_TOPIC_LENGTH} characters",
            )
        seen.setdefault(topic.casefold(), topic)
    return tuple(seen.values())


def _source(where: str, index: int, value: object) -> Source:
    if not isinstance(value, dict) or bool(value.get("url")) == bool(value.get("directory")):
        raise ConfigError(where, f"sources[{index}] needs either url or directory")
    url, directory = value.get("url"), value.get("directory")
    if url is not None:
        if not isinstance(url, str):
            raise ConfigError(where, f"sources[{index}].url must be a string")
        url = fields.url(where, f"sources[{index}].url", url, mailto=False)
    if directory is not None and not isinstance(directory, str):
        raise ConfigError(where, f"sources[{index}].directory must be a string")
    publish = value.get("publish", False)
    if not isinstance(publish, bool):
        raise ConfigError(where, f"sources[{index}].publish must be true or false, not {publish!r}")
    lang = value.get("lang")
    if lang is not None:
        lang = fields.locale(where, f"sources[{index}].lang", lang)
    urgency = value.get("urgency", "news")
    if urgency not in ("alert", "news"):
        raise ConfigError(where, f"sources[{index}].urgency must be alert or news, not {urgency!r}")
    return Source(
        url=url,
        directory=directory,
        publish=publish,
        lang=lang,
        urgency=urgency,
        topics=_topics(
            where, value.get("topics", []), key=f"sources[{index}].topics", limit=_SOURCE_TOPICS
        ),
        countries=_source_countries(where, index, value.get("countries", [])),
    )


# As a statement's front matter: 20 topics of 100 characters, 30 ISO 3166 alpha-2 codes.
_SOURCE_TOPICS = 20
_SOURCE_COUNTRIES = 30


def _source_countries(where: str, index: int, value: object) -> tuple[str, ...]:
    key = f"sources[{index}].countries"
    if not isinstance(value, list) or len(value) > _SOURCE_COUNTRIES:
        raise ConfigError(where, f"{key} must be a list of at most {_SOURCE_COUNTRIES} codes")
    codes: list[str] = []
    for position, item in enumerate(value):
        code = item.strip().upper() if isinstance(item, str) else ""
        if not re.fullmatch(r"[A-Z]{2}", code):
            raise ConfigError(
                where, f"{key}[{position}] must be an ISO 3166 alpha-2 code like BE, not {item!r}"
            )
        codes.append(code)
    return tuple(dict.fromkeys(codes))


def _missing(where: str, value: object) -> str:
    from mailer.campaigns.missing import parse_missing
    from mailer.errors import InputError

    try:
        return parse_missing(str(value), field="organisation.missing")
    except InputError as exc:
        raise ConfigError(where, str(exc)) from exc


def _locale_profile(where: str, key: str, value: object) -> LocaleProfile:
    if not isinstance(value, dict):
        raise ConfigError(where, f"[locales.{key}] must be a table")
    actions = []
    for index, item in enumerate(value.get("cta", [])):
        if not isinstance(item, dict) or not item.get("kind") or not item.get("url"):
            raise ConfigError(where, f"locales.{key}.cta[{index}] needs kind and url")
        label = item.get("label")
        if label is not None and (not isinstance(label, str) or len(label) > 100):
            raise ConfigError(
                where, f"locales.{key}.cta[{index}].label must be text of at most 100 characters"
            )
        actions.append(
            DefaultAction(
                kind=str(item["kind"]),
                url=fields.url(where, f"locales.{key}.cta[{index}].url", str(item["url"])),
                label=label,
            )
        )
    return LocaleProfile(
        sender_name=fields.optional_text(
            where, f"locales.{key}.sender_name", value.get("sender_name")
        ),
        address=fields.optional_text(where, f"locales.{key}.address", value.get("address")),
        fallback=tuple(
            fields.locale(where, f"locales.{key}.fallback", v) for v in value.get("fallback", [])
        ),
        actions=tuple(actions),
    )


def chain_for(profile: OrgProfile, locale: str | None) -> tuple[str, ...]:
    """The subscriber's fallback chain under this organisation's profile."""
    normal = normalise_locale(locale)
    own = profile.per_locale.get(normal) if normal else None
    explicit = own.fallback if own is not None else ()
    language = normal.split("_")[0] if normal else None
    by_language = (
        profile.per_locale[language].fallback if language and language in profile.per_locale else ()
    )
    return fallback_chain(
        normal, default=profile.default_locale, explicit=explicit, language_fallbacks=by_language
    )
