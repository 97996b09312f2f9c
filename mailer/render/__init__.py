"""Rendering: once per (campaign, locale) variant, then a cheap per-recipient fill."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailer.exports import load_export

if TYPE_CHECKING:
    from mailer.render.personalise import FIELDS, Compiled, compile_template
    from mailer.render.variant import RenderedEmail, render_email

__all__ = [
    "FIELDS",
    "Compiled",
    "RenderedEmail",
    "compile_template",
    "render_email",
]

_EXPORTS = {
    "FIELDS": "mailer.render.personalise",
    "Compiled": "mailer.render.personalise",
    "compile_template": "mailer.render.personalise",
    "RenderedEmail": "mailer.render.variant",
    "render_email": "mailer.render.variant",
}


def __getattr__(name: str) -> object:
    return load_export(__name__, _EXPORTS, name)
