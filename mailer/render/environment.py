"""The Jinja2 environments: one per fallback chain, with gettext installed and autoescape on HTML."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from mailer.i18n import translations
from mailer.paths import LOCALE_DIR, TEMPLATES_DIR

__all__ = ["environment"]


@lru_cache(maxsize=64)
def environment(
    chain: tuple[str, ...], templates: Path = TEMPLATES_DIR, locale_dir: Path = LOCALE_DIR
) -> Environment:
    """An environment whose `_`/`ngettext` translate along `chain`; cached per chain."""
    env = Environment(
        loader=FileSystemLoader(str(templates)),
        autoescape=select_autoescape(
            enabled_extensions=("html", "html.j2"), default_for_string=False
        ),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.install_gettext_translations(translations(chain, locale_dir), newstyle=True)  # type: ignore[attr-defined]
    return env
