"""Yes-or-no values read strictly, the same in statement front matter and CSV files."""

from __future__ import annotations

__all__ = ["FALSE_WORDS", "TRUE_WORDS", "parse_flag"]

TRUE_WORDS = ("true", "yes", "1")
FALSE_WORDS = ("false", "no", "0")


def parse_flag(value: object) -> bool:
    """True or False from a boolean, 1/0, or one of the words (any case); ValueError otherwise.

    `bool("false")` is True: a quoted `urgent: "false"` must not make a statement urgent."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise ValueError(f"expected true or false (yes/no, 1/0), got {str(value)[:40]!r}")
