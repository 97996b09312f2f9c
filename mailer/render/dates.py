"""Dates as the emails write them: Babel's (CLDR's) long format, with the ordinals CLDR leaves out.

CLDR's French long format is `d MMMM y`, which gives "1 décembre 2026"; French writes the
first of the month as an ordinal, "1er décembre 2026" (Imprimerie nationale, Lexique des
règles typographiques), and every other day as a cardinal. The rule is kept here, one
place for every date of every email, per language.
"""

from __future__ import annotations

import datetime as dt

from babel.dates import format_date, get_date_format

__all__ = ["long_date"]

# Language -> what follows the day number on the first of the month.
_FIRST_OF_MONTH = {"fr": "er"}


def long_date(day: dt.date, locale: str) -> str:
    """The long form of `day` in `locale` ("13 juillet 2024", "1er décembre 2026")."""
    suffix = _FIRST_OF_MONTH.get(locale.split("_")[0]) if day.day == 1 else None
    if suffix is None:
        return format_date(day, format="long", locale=locale)
    pattern = get_date_format("long", locale=locale).pattern
    return format_date(day, format=_after_day(pattern, suffix), locale=locale)


def _after_day(pattern: str, suffix: str) -> str:
    """The CLDR pattern with a quoted `suffix` after its day field (`d`, outside quotes)."""
    out: list[str] = []
    quoted = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "'":
            quoted = not quoted
            out.append(char)
        elif char == "d" and not quoted:
            end = index
            while end < len(pattern) and pattern[end] == "d":
                end += 1
            out.append(pattern[index:end] + f"'{suffix}'")
            index = end
            continue
        else:
            out.append(char)
        index += 1
    return "".join(out)
