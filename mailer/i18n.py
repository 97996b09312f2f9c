"""Gettext catalogs, compiled in memory from the `.po` files and chained along a fallback chain."""

from __future__ import annotations

import gettext
import io
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from mailer.paths import LOCALE_DIR

__all__ = ["available_catalogs", "catalog", "translations"]

DOMAIN = "messages"


def available_catalogs(locale_dir: Path = LOCALE_DIR) -> tuple[str, ...]:
    """The locales that have a catalog, sorted."""
    return tuple(
        sorted(p.parent.parent.name for p in locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    )


@lru_cache(maxsize=64)
def _compiled(locale: str, locale_dir: Path) -> bytes | None:
    """The `.mo` bytes of exactly this locale, compiled in memory (no build output in the tree)."""
    path = locale_dir / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        parsed = read_po(handle, locale=locale, domain=DOMAIN)
    buffer = io.BytesIO()
    # Fuzzy entries are drafts: leave them out, as msgfmt does.
    write_mo(buffer, parsed, use_fuzzy=False)
    return buffer.getvalue()


def catalog(locale: str, locale_dir: Path = LOCALE_DIR) -> gettext.GNUTranslations | None:
    """The catalog of exactly this locale, without fallback, or None when there is none."""
    compiled = _compiled(locale, locale_dir)
    return None if compiled is None else gettext.GNUTranslations(io.BytesIO(compiled))


@lru_cache(maxsize=256)
def _chained(chain: tuple[str, ...], locale_dir: Path) -> gettext.NullTranslations:
    # Babel's Translations.load does not chain catalogs along a fallback chain, so
    # each catalog found is linked to the next by hand; the English source strings
    # are the last resort (gettext returns the msgid when nothing translates it).
    found = [c for c in (catalog(locale, locale_dir) for locale in chain) if c is not None]
    if not found:
        return gettext.NullTranslations()
    head = found[0]
    for later in found[1:]:
        head.add_fallback(later)
    return head


def translations(chain: Sequence[str], locale_dir: Path = LOCALE_DIR) -> gettext.NullTranslations:
    """Translations that try each locale of the chain in order, then the English source."""
    return _chained(tuple(chain), locale_dir)
