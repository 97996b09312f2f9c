"""Compile a rendered variant into parts and personal fields, then fill it per recipient in microseconds.

The personal fields are slots the template owns: the template writes `slot.<field>`, a
marker that carries a random nonce drawn for this render only, after the statement, the
profile and every other input are fixed. Content cannot spell a marker it has never seen,
so text in a statement, a feed entry or a URL that looks like a marker (the fixed
`__mailer_unsubscribe_url__` of old, or a guess at the new form) stays inert text; only
the template's own slots receive a recipient's signed links.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html import escape

__all__ = ["FIELDS", "Compiled", "Slots", "compile_template"]

# The only fields that differ between two recipients of the same variant.
FIELDS = ("greeting", "unsubscribe_url", "preferences_url", "view_url", "confirm_url")


@dataclass(frozen=True, slots=True)
class Slots:
    """The markers of one render: `mailer-slot-<nonce>-<field>`.

    Letters, digits and dashes only, so a marker passes unchanged through Jinja's
    escaping, premailer and any HTML attribute or URL it is written into."""

    nonce: str
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9a-f]{32}", self.nonce):
            raise ValueError("a slot nonce is 32 hexadecimal digits")
        names = "|".join(name.replace("_", "-") for name in FIELDS)
        object.__setattr__(
            self, "pattern", re.compile(rf"mailer-slot-{self.nonce}-({names})(?![0-9a-z-])")
        )

    @classmethod
    def draw(cls) -> Slots:
        """Fresh markers, with 128 random bits no input can have contained."""
        return cls(secrets.token_hex(16))

    def marker(self, name: str) -> str:
        """The marker a template writes where the personal field `name` goes."""
        if name not in FIELDS:
            raise KeyError(name)
        return f"mailer-slot-{self.nonce}-{name.replace('_', '-')}"

    def markers(self) -> dict[str, str]:
        """Every field's marker, as the templates see them (`{{ slot.unsubscribe_url }}`)."""
        return {name: self.marker(name) for name in FIELDS}


@dataclass(frozen=True, slots=True)
class Compiled:
    """Constant text interleaved with personal fields: parts[0] f[0] parts[1] f[1] ... parts[-1]."""

    parts: tuple[str, ...]
    fields: tuple[str, ...]
    escape: Callable[[str], str]

    def fill(self, values: Mapping[str, str]) -> str:
        """Join the constant parts with the escaped personal values."""
        out = [self.parts[0]]
        for name, part in zip(self.fields, self.parts[1:], strict=True):
            out.append(self.escape(values[name]))
            out.append(part)
        return "".join(out)


def _html_escape(value: str) -> str:
    return escape(value, quote=True)


def _no_escape(value: str) -> str:
    return value


def compile_template(text: str, *, html: bool, slots: Slots) -> Compiled:
    """Split a rendered variant on the markers of its own render (`slots`), and only those;
    HTML values are escaped when filled."""
    pieces = slots.pattern.split(text)
    return Compiled(
        parts=tuple(pieces[0::2]),
        fields=tuple(name.replace("-", "_") for name in pieces[1::2]),
        escape=_html_escape if html else _no_escape,
    )
