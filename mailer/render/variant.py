"""Render one email variant (kind, statement version, locale): pure, no network, no database."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path

from jinja2 import TemplateError

from mailer.errors import RenderError
from mailer.i18n import catalog, translations
from mailer.org import OrgProfile, chain_for
from mailer.paths import LOCALE_DIR
from mailer.render.context import base_context, digest_context, email_context
from mailer.render.dates import long_date
from mailer.render.environment import environment
from mailer.render.inline import inline_css
from mailer.render.personalise import Compiled, Slots, compile_template
from mailer.statements.model import Statement

__all__ = [
    "RenderedEmail",
    "render_confirmation",
    "render_digest",
    "render_email",
    "require_catalog",
]


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """A variant ready to personalise: subject, inlined HTML and text with their personal fields."""

    kind: str
    locale: str
    lang: str
    subject: str
    html: Compiled
    text: Compiled
    greeting_named: str
    greeting_plain: str

    def greeting(self, name: str) -> str:
        """The salutation for a recipient, by name when there is one."""
        return self.greeting_named.replace("\x00", name) if name.strip() else self.greeting_plain


def _render(
    kind: str,
    context: dict[str, object],
    *,
    locale: str,
    chain: tuple[str, ...],
    locale_dir: Path,
    test: bool = False,
) -> RenderedEmail:
    require_catalog(locale, locale_dir)
    env = environment(chain, locale_dir=locale_dir)
    tr = translations(chain, locale_dir)
    # Drawn now, when every input is fixed: no statement can contain these markers.
    slots = Slots.draw()
    context = {**context, "slot": slots.markers()}
    try:
        subject = env.get_template(f"email/{kind}/subject.txt.j2").render(context)
        html = env.get_template(f"email/{kind}/body.html.j2").render(context)
        text = env.get_template(f"email/{kind}/body.txt.j2").render(context)
    except TemplateError as exc:
        raise RenderError(f"template email/{kind} ({locale}): {exc}") from exc
    if test:
        banner = tr.gettext("Test email: no subscriber received it, and its links lead nowhere.")
        subject, html, text = _marked_as_test(subject, html, text, banner)
    return RenderedEmail(
        kind=kind,
        locale=locale,
        lang=locale.replace("_", "-"),
        subject=" ".join(subject.split()),
        html=compile_template(inline_css(html), html=True, slots=slots),
        text=compile_template(text.strip() + "\n", html=False, slots=slots),
        greeting_named=tr.gettext("Dear %(name)s,") % {"name": "\x00"},
        greeting_plain=tr.gettext("Hello,"),
    )


_BODY = re.compile(r"<body\b[^>]*>", re.IGNORECASE)


def _marked_as_test(subject: str, html: str, text: str, banner: str) -> tuple[str, str, str]:
    """A test send (`mailer send --test-to`): subject prefixed "[TEST]", a visible banner at
    the top of the HTML and of the text."""
    shown = escape(banner)
    block = (
        '<div style="background: #fff3b0; border: 2px dashed #1a1a1a; padding: 12px; '
        f'margin: 0 0 12px 0; font-weight: bold; text-align: center;">[TEST] {shown}</div>'
    )
    found = _BODY.search(html)
    at = found.end() if found else 0
    return (
        f"[TEST] {subject}",
        html[:at] + block + html[at:],
        f"[TEST] {banner}\n\n{text}",
    )


def require_catalog(locale: str, locale_dir: Path = LOCALE_DIR) -> None:
    """Refuse a locale whose language has no catalog: its chrome would be another language's.

    The chain would find words anyway (the fallback's catalog, or the English source), and
    Babel would still write the dates in the locale: "Publié le 2 de septiembre" above
    Spanish text, "Bonjour Mateo". An email in one language or none."""
    language = locale.split("_")[0]
    if catalog(locale, locale_dir) is None and catalog(language, locale_dir) is None:
        raise RenderError(
            f"no catalog for {locale}: its greeting, buttons and footer would be in another "
            f"language; add templates/locale/{language}/LC_MESSAGES/messages.po "
            "(README: Adding a language)"
        )


def render_email(
    kind: str,
    statement: Statement,
    *,
    locale: str,
    org: OrgProfile,
    locale_dir: Path = LOCALE_DIR,
    test: bool = False,
    subscribe_url: str = "",
) -> RenderedEmail:
    """Render the templates of `kind` for a statement version in a locale, and inline CSS once
    (`test`: marked as a test send).

    With `subscribe_url` (the public archive) the footer invites to subscribe instead of
    carrying anyone's unsubscribe, preference and view links."""
    chain = chain_for(org, locale)
    context = email_context(statement, org=org, locale=locale, tr=translations(chain, locale_dir))
    context["subscribe_url"] = subscribe_url
    return _render(kind, context, locale=locale, chain=chain, locale_dir=locale_dir, test=test)


def render_confirmation(
    *, locale: str, org: OrgProfile, locale_dir: Path = LOCALE_DIR
) -> RenderedEmail:
    """The double opt-in email of a locale (its one personal link: `confirm_url`)."""
    chain = chain_for(org, locale)
    tr = translations(chain, locale_dir)
    context = base_context(
        org=org, locale=locale, subject="", preheader=tr.gettext("One more step")
    )
    env = environment(chain, locale_dir=locale_dir)
    subject = env.get_template("email/confirm/subject.txt.j2").render(context)
    context["subject"] = " ".join(subject.split())
    return _render("confirm", context, locale=locale, chain=chain, locale_dir=locale_dir)


def render_digest(
    statements: list[Statement],
    *,
    locale: str,
    org: OrgProfile,
    since: dt.date,
    until: dt.date,
    locale_dir: Path = LOCALE_DIR,
) -> RenderedEmail:
    """The digest of a locale: every statement in its best version for that locale."""
    chain = chain_for(org, locale)
    tr = translations(chain, locale_dir)
    period = tr.gettext("%(start)s to %(end)s") % {
        "start": long_date(since, locale),
        "end": long_date(until, locale),
    }
    context = digest_context(statements, org=org, locale=locale, tr=tr, period=period)
    env = environment(chain, locale_dir=locale_dir)
    context["subject"] = " ".join(
        env.get_template("email/digest/subject.txt.j2").render(context).split()
    )
    return _render("digest", context, locale=locale, chain=chain, locale_dir=locale_dir)
