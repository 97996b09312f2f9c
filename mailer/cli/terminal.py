"""Text for the admin's terminal: what statements, names, files and errors hold is shown, never obeyed.

A statement title from a feed, a subscriber's name or a CSV cell can carry ESC sequences
(recolour, retitle the window, rewrite the screen, write to the clipboard on some
terminals), a carriage return that overprints the line before, or bidi overrides that
reorder what is read. Every string a command prints goes through `SafeConsole`, which
shows such characters as escapes (`\\x1b`); markup and emoji codes in data are not
interpreted either. JSON stays exact JSON: the same characters are written as `\\u`
escapes, which decode to the same value.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.text import Text

__all__ = ["SafeConsole", "json_safe", "one_line", "terminal_safe"]

# C0 controls but tab and line feed, DEL, C1 controls, line and paragraph separators,
# and the bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNSAFE_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)  # the same, and tab and line feed too
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """The text with every character a terminal would act on shown as an escape."""
    return _UNSAFE.sub(_escape, text)


def one_line(text: str) -> str:
    """`terminal_safe`, with line breaks and tabs escaped too: an error stays one line."""
    return _UNSAFE_LINE.sub(_escape, text)


def json_safe(text: str) -> str:
    """JSON text with DEL, C1 controls, separators and bidi controls as \\u escapes.

    `json.dumps(..., ensure_ascii=False)` escapes C0 controls but writes these raw; as
    `\\u` escapes the document decodes to exactly the same values."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class SafeConsole(Console):
    """A rich Console for data: no markup or emoji codes unless asked, control characters escaped."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("markup", False)
        kwargs.setdefault("emoji", False)
        kwargs.setdefault("highlight", False)
        super().__init__(**kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        """Every str printed, in a line or a table cell, passes here."""
        return super().render_str(terminal_safe(text), **kwargs)
