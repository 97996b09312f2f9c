"""The Jinja2 environments: one per fallback chain, with gettext installed and autoescape on HTML.

`_()` and `ngettext()` are jinja2.ext.i18n's "newstyle" ones (variables are formatted and
escaped by the call itself), with one step more: a message that names the organisation
(`org=org_name`) gets the elision its language wants before the name ("d’Amnesty",
`mailer.render.typography`), as a catalog cannot spell it. Filters: `colon` puts a label
before a colon the way the language does ("Signez la pétition :" in French, with a narrow
no-break space), `marked` brackets lines with direction marks (`mailer.render.scripts`).
"""

from __future__ import annotations

import gettext
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from mailer.i18n import translations
from mailer.paths import LOCALE_DIR, TEMPLATES_DIR
from mailer.render.scripts import marked_lines
from mailer.render.typography import elide_before_name

__all__ = ["environment"]


def _calls(tr: gettext.NullTranslations, locale: str) -> dict[str, Any]:
    """`gettext`/`_` and `ngettext` for templates, as jinja2.ext.i18n's newstyle ones, eliding."""

    def finish(context: Context, text: str, variables: dict[str, Any]) -> str:
        rendered: str = (Markup(text) if context.eval_ctx.autoescape else text) % variables
        name = variables.get("org")
        if isinstance(name, str):
            return elide_before_name(rendered, name, locale, forced=context.get("org_elides"))
        return rendered

    @pass_context
    def translate(context: Context, message: str, /, **variables: Any) -> str:
        return finish(context, tr.gettext(message), variables)

    @pass_context
    def translate_plural(
        context: Context, singular: str, plural: str, count: int, /, **variables: Any
    ) -> str:
        variables.setdefault("num", count)
        return finish(context, tr.ngettext(singular, plural, count), variables)

    return {"gettext": translate, "_": translate, "ngettext": translate_plural}


def _colon(tr: gettext.NullTranslations) -> Any:
    _ = tr.gettext

    def colon(label: str) -> str:
        # Translators: a label before what it introduces (a link on the next line);
        # French puts a narrow no-break space (U+202F) before the colon.
        return _("%(label)s:") % {"label": label}

    return colon


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
    tr = translations(chain, locale_dir)
    env.install_gettext_translations(tr, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(_calls(tr, chain[0] if chain else "en"))
    env.filters["colon"] = _colon(tr)
    env.filters["marked"] = marked_lines
    return env
