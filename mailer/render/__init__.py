"""Rendering: once per (campaign, locale) variant, then a cheap per-recipient fill."""

from mailer.render.personalise import FIELDS, Compiled, compile_template
from mailer.render.variant import RenderedEmail, render_email

__all__ = ["FIELDS", "Compiled", "RenderedEmail", "compile_template", "render_email"]
