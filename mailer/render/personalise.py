"""Compile a rendered variant into parts and personal fields, then fill it per recipient in microseconds."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html import escape

__all__ = ["FIELDS", "Compiled", "compile_template", "token"]

# The only fields that differ between two recipients of the same variant.
FIELDS = ("greeting", "unsubscribe_url", "preferences_url", "view_url", "confirm_url")
_TOKEN = re.compile(r"__mailer_(" + "|".join(FIELDS) + r")__")


def token(field: str) -> str:
    """The marker a template writes where a personal field goes."""
    return f"__mailer_{field}__"


@dataclass(frozen=True, slots=True)
class Compiled:
    """Constant text interleaved with personal fields: parts[0] f[0] parts[1] f[1] ... parts[-1]."""

    parts: tuple[str, ...]
    fields: tuple[str, ...]
    escape: Callable[[str], str]

    def fill(self, values: Mapping[str, str]) -> str:
        """Join the constant parts with the escaped personal values."""
        out = [self.parts[0]]
        for field, part in zip(self.fields, self.parts[1:], strict=True):
            out.append(self.escape(values[field]))
            out.append(part)
        return "".join(out)


def _html_escape(value: str) -> str:
    return escape(value, quote=True)


def _no_escape(value: str) -> str:
    return value


def compile_template(text: str, *, html: bool) -> Compiled:
    """Split a rendered variant on its personal-field markers; HTML values are escaped when filled."""
    pieces = _TOKEN.split(text)
    return Compiled(
        parts=tuple(pieces[0::2]),
        fields=tuple(pieces[1::2]),
        escape=_html_escape if html else _no_escape,
    )
