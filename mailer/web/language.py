"""The language of a public page: the one the URL names, else the browser's (Accept-Language,
RFC 9110 section 12.5.4), else the organisation's default; always one it publishes in."""

from __future__ import annotations

from mailer.locales import normalise_locale
from mailer.org import OrgProfile

__all__ = ["published_locale", "visitor_locale"]

_MAX_HEADER = 512  # characters of Accept-Language read
_MAX_RANGES = 16


def published_locale(org: OrgProfile, value: str | None) -> str | None:
    """The organisation's locale that `value` names (fr, fr-BE, fr_be...), or None."""
    normal = normalise_locale(value[:20]) if value else None
    if normal is None:
        return None
    if normal in org.locales:
        return normal
    language = normal.split("_")[0]
    return language if language in org.locales else None


def _ranges(header: str) -> list[str]:
    """The header's language ranges, best first (q=0 ranges left out)."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header[:_MAX_HEADER].split(",")[:_MAX_RANGES]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, index, tag.strip()))
    return [tag for _, _, tag in sorted(weighted)]


def visitor_locale(org: OrgProfile, *, named: str | None, accept_language: str | None) -> str:
    """The page's locale: `named` (from the URL) when published, else the best of the
    browser's ranges that is, else the default locale."""
    chosen = published_locale(org, named)
    if chosen:
        return chosen
    for tag in _ranges(accept_language or ""):
        chosen = published_locale(org, tag)
        if chosen:
            return chosen
    return org.default_locale
