"""What a locale's script asks of the layout: italics or none, and direction marks in plain text.

Arabic, Hebrew and the scripts of South and East Asia have no italic tradition: a browser
that is asked for italics slants the glyphs mechanically, which reads as a defect (a quote
in an Arabic email set that way looked broken). Emphasis there is upright; quotes keep their
rule and colour. In a plain-text part, a line of one direction inside an email of the
other is bracketed with the direction's mark (U+200E LEFT-TO-RIGHT MARK, U+200F
RIGHT-TO-LEFT MARK; Unicode bidi algorithm, UAX #9), so that its final full stop stays at
its end (".signatures" in an Arabic digest).
"""

from __future__ import annotations

from functools import lru_cache

from babel.core import get_global

__all__ = ["has_italics", "marked_lines", "script_of"]

# ISO 15924 codes of scripts whose typography has no italics.
_UPRIGHT = frozenset(
    {
        "Arab", "Hebr", "Syrc", "Thaa", "Nkoo", "Adlm", "Deva", "Beng", "Guru", "Gujr",
        "Orya", "Taml", "Telu", "Knda", "Mlym", "Sinh", "Thai", "Laoo", "Tibt", "Mymr",
        "Khmr", "Ethi", "Hans", "Hant", "Hani", "Jpan", "Kore", "Hang",
    }
)  # fmt: skip
_MARKS = {"ltr": "\u200e", "rtl": "\u200f"}


@lru_cache(maxsize=256)
def script_of(locale: str) -> str | None:
    """The ISO 15924 script of a locale: its own (`sr_Latn`), else its language's likely one."""
    parts = locale.replace("-", "_").split("_")
    likely = str(get_global("likely_subtags").get(parts[0].lower(), ""))
    for part in (*parts[1:], *likely.split("_")[1:]):
        if len(part) == 4 and part.isalpha():
            return part.title()
    return None


def has_italics(locale: str) -> bool:
    """False for a locale written in a script that is not set in italics."""
    return script_of(locale) not in _UPRIGHT


def marked_lines(text: str, direction: str, around: str) -> str:
    """Each line of `text` (written `direction`) between two marks of its direction, when the
    email around it runs the other way; unchanged otherwise."""
    if direction == around or direction not in _MARKS:
        return text
    mark = _MARKS[direction]
    return "\n".join(f"{mark}{line}{mark}" if line.strip() else line for line in text.split("\n"))
