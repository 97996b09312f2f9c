"""CSV cells a spreadsheet would run as formulas: neutralised when written, restored when read.

A cell beginning with = + - @, a tab or a carriage return (OWASP's "CSV Injection" list)
gets a single quote in front, which spreadsheets show as text; the importer takes exactly
that quote off again, so an export imported back gives the same values.
"""

from __future__ import annotations

import re

__all__ = ["neutralise", "restore"]

_FORMULA = re.compile(r"'*[=+\-@\t\r]")
_NEUTRALISED = re.compile(r"'+[=+\-@\t\r]")


def neutralise(value: str) -> str:
    """The cell as written: a leading quote when a spreadsheet would read a formula.

    Values that already begin with quotes before such a character get one more, so that
    `restore` is exact for every value."""
    return "'" + value if _FORMULA.match(value) else value


def restore(cell: str) -> str:
    """The value of a cell `neutralise` wrote (other cells are returned as they are)."""
    return cell[1:] if _NEUTRALISED.match(cell) else cell
