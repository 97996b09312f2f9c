"""Locale codes: parse, normalise and derive the fallback chain."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from babel import Locale, UnknownLocaleError

__all__ = ["fallback_chain", "is_rtl", "normalise_locale"]


@lru_cache(maxsize=1024)
def normalise_locale(value: str | None) -> str | None:
    """`fr-be`, `FR_be`, `fr_BE` -> `fr_BE`; None when empty or unknown to Babel (CLDR)."""
    if value is None:
        return None
    text = value.strip().replace("-", "_")
    if not text:
        return None
    try:
        locale = Locale.parse(text)
    except (ValueError, UnknownLocaleError):
        return None
    return str(locale)


def is_rtl(locale: str) -> bool:
    """True when the locale's script is written right to left (ar, he, fa, ur, ...)."""
    try:
        return Locale.parse(locale).character_order == "right-to-left"
    except (ValueError, UnknownLocaleError):
        return False


def fallback_chain(
    locale: str | None,
    *,
    default: str,
    explicit: Iterable[str] = (),
    language_fallbacks: Sequence[str] = (),
) -> tuple[str, ...]:
    """The ordered locales to try for a subscriber, without repeats.

    1. the subscriber's locale as given (``fr_BE``);
    2. its language alone (``fr``);
    3. the organisation's explicit fallbacks for that locale (``explicit``), then for
       its language (``language_fallbacks``), in the order written in ``mailer.toml``
       (e.g. ``de -> fr``);
    4. the organisation's default locale.

    A subscriber with no locale, or one Babel does not know, gets the default alone.
    """
    chain: list[str] = []

    def push(code: str | None) -> None:
        if code and code not in chain:
            chain.append(code)

    normal = normalise_locale(locale)
    if normal:
        push(normal)
        push(normal.split("_")[0])
    for code in (*explicit, *language_fallbacks):
        push(code)
        push(code.split("_")[0])
    push(default)
    return tuple(chain)
