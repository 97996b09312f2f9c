"""Elision before the organisation's name: "les e-mails d’Amnesty", not "de Amnesty".

French drops the vowel of "de", "le", "la", "que" (and "lorsque", "puisque", "jusque")
before a word that starts with a vowel or a mute h, and writes an apostrophe (Grevisse,
Le Bon Usage, § 44-45). The name is a variable of the message ("de %(org)s"), so no catalog
can spell it: the templates' `_()` and `ngettext()` (see `mailer.render.environment`) and
the strings made in Python pass the result here. Whether an h is mute is a fact of the word,
not of its spelling ("l’homme", "le handicap"): names starting with h are left as they are
unless the profile says `name_elides = true` (which also forces, or with false prevents,
elision for any other name).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from markupsafe import Markup, escape

__all__ = ["elide_before_name", "name_elides"]

# Language -> the words that elide before a vowel, as they are written then.
_ELIDING = {
    "fr": {
        "de": "d’",
        "le": "l’",
        "la": "l’",
        "que": "qu’",
        "lorsque": "lorsqu’",
        "puisque": "puisqu’",
        "jusque": "jusqu’",
    }
}
_VOWELS = frozenset("aeiou")
_OPENING = "«“‘\"'( \u00a0\u202f"


def name_elides(name: str, *, forced: bool | None = None) -> bool:
    """True when a French word before `name` elides: a vowel (accented or not) first, or
    what the profile says (`forced`)."""
    if forced is not None:
        return forced
    first = unicodedata.normalize("NFD", name.lstrip(_OPENING))[:1].casefold()
    return first in _VOWELS


@lru_cache(maxsize=64)
def _pattern(language: str, name: str) -> re.Pattern[str]:
    words = "|".join(sorted(_ELIDING[language], key=len, reverse=True))
    # A word of its own (not the end of "monde"), then one space of any kind, then the name.
    return re.compile(rf"(?<!\w)({words})[ \u00a0]+(?={re.escape(name)})", re.IGNORECASE)


def elide_before_name(text: str, name: str, locale: str, *, forced: bool | None = None) -> str:
    """`text` with the words before each `name` elided where the locale's language wants it.

    Markup stays Markup: the name is then looked for in its escaped form, and only an
    apostrophe is written."""
    language = locale.split("_")[0]
    if language not in _ELIDING or not name or not name_elides(name, forced=forced):
        return text
    found = str(escape(name)) if isinstance(text, Markup) else name
    table = _ELIDING[language]

    def elided(match: re.Match[str]) -> str:
        word = match.group(1)
        short = table[word.lower()]
        return short[:1].upper() + short[1:] if word[:1].isupper() else short

    result = _pattern(language, found).sub(elided, str(text))
    return Markup(result) if isinstance(text, Markup) else result
