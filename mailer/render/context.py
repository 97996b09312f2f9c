"""Build the template context of a statement for one locale: sections, dates, calls to action.

Every URL goes through the scheme allow-list again here (defence in depth: statements are
checked when parsed) and every body block's HTML is rebuilt from an allow-list; a URL that
fails is left out, never shown.
"""

from __future__ import annotations

import gettext
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from mailer.locales import is_rtl
from mailer.org import DefaultAction, OrgProfile
from mailer.render.content import clean_inline_html
from mailer.render.dates import long_date
from mailer.render.scripts import has_italics
from mailer.render.typography import elide_before_name
from mailer.statements.model import Block, CallToAction, Statement
from mailer.urls import safe_url

__all__ = ["Action", "email_context"]


@dataclass(frozen=True, slots=True)
class Action:
    """A call to action as the template shows it."""

    kind: str
    label: str
    url: str


def default_label(kind: str, tr: gettext.NullTranslations) -> str:
    """The localized label of a call to action that brings none."""
    _ = tr.gettext
    labels = {
        "petition": _("Sign the petition"),
        "donate": _("Donate"),
        "share": _("Share"),
        "join": _("Join us"),
        "volunteer": _("Volunteer"),
    }
    return labels.get(kind, _("Learn more"))


def actions_for(
    statement: Statement, org: OrgProfile, locale: str, tr: gettext.NullTranslations
) -> list[Action]:
    """The statement's own calls to action, then the organisation's defaults of other kinds."""
    own: list[CallToAction] = list(statement.cta)
    kinds = {cta.kind for cta in own}
    for default in org.for_locale(locale).actions:
        if default.kind not in kinds:
            own.append(CallToAction(kind=default.kind, url=default.url, label=default.label))
            kinds.add(default.kind)
    return _shown(own, tr)


def _shown(
    actions: Sequence[CallToAction | DefaultAction], tr: gettext.NullTranslations
) -> list[Action]:
    """The buttons whose URL passes the allow-list, labelled."""
    shown = []
    for action in actions:
        url = safe_url(action.url)
        if url is not None:
            shown.append(Action(action.kind, action.label or default_label(action.kind, tr), url))
    return shown


def sections(
    blocks: tuple[Block, ...], *, image_hosts: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """Blocks with consecutive list items grouped into one list section, their HTML rebuilt."""
    out: list[dict[str, Any]] = []
    for block in blocks:
        html = Markup(clean_inline_html(block.html, image_hosts=image_hosts))
        if block.kind == "list_item":
            if out and out[-1]["kind"] == "list":
                out[-1]["items"].append(html)
                out[-1]["text_items"].append(block.text)
                continue
            out.append({"kind": "list", "items": [html], "text_items": [block.text]})
        else:
            out.append({"kind": block.kind, "html": html, "text": block.text})
    return out


def standfirst(statement: Statement) -> str | None:
    """The lead when the editor wrote one of their own (front matter), shown under the title;
    None when it is the first paragraph (or cut from it), which the body shows anyway."""
    lead = " ".join(statement.lead.split())
    first = next((b.text for b in statement.blocks if b.kind == "paragraph"), "")
    first = " ".join(first.split())
    if not lead or first.startswith(lead.removesuffix("…").rstrip()):
        return None
    return lead


def _naming(org: OrgProfile, locale: str, message: str) -> str:
    """A translated message with the organisation's name put in, elided where it must be."""
    return elide_before_name(message % {"org": org.name}, org.name, locale, forced=org.name_elides)


def base_context(*, org: OrgProfile, locale: str, subject: str, preheader: str) -> dict[str, Any]:
    """What the base layout shows for any kind of email."""
    rtl = is_rtl(locale)
    return {
        "lang_tag": locale.replace("_", "-"),
        "dir": "rtl" if rtl else "ltr",
        "align": "right" if rtl else "left",
        "italic": has_italics(locale),
        "subject": subject,
        "preheader": preheader,
        "org_name": org.name,
        "org_elides": org.name_elides,
        "org_website": safe_url(org.website) or "",
        "postal_address": org.postal_address(locale),
    }


def email_context(
    statement: Statement, *, org: OrgProfile, locale: str, tr: gettext.NullTranslations
) -> dict[str, Any]:
    """Everything the alert templates show, except the personal fields."""
    _ = tr.gettext
    published = (
        _("Published on %(date)s") % {"date": long_date(statement.date, locale)}
        if statement.date
        else ""
    )
    return {
        **base_context(
            org=org, locale=locale, subject=statement.title, preheader=statement.lead[:150]
        ),
        "title": statement.title,
        "standfirst": standfirst(statement),
        "kicker": _("Urgent action") if statement.urgent else _("Alert"),
        "published": published,
        "sections": sections(statement.blocks, image_hosts=frozenset(org.image_hosts)),
        "url": safe_url(statement.url),
        "actions": actions_for(statement, org, locale, tr),
        "footer_reason": _naming(
            org,
            locale,
            _("You receive this alert because you subscribed to email alerts from %(org)s."),
        ),
    }


def digest_context(
    statements: list[Statement],
    *,
    org: OrgProfile,
    locale: str,
    tr: gettext.NullTranslations,
    period: str,
) -> dict[str, Any]:
    """What the digest templates show: one entry per statement, the organisation's buttons."""
    _ = tr.gettext
    items = [
        {
            "title": s.title,
            "lead": s.lead,
            "url": safe_url(s.url),
            "published": long_date(s.date, locale) if s.date else "",
            # A fallback item (French in the Arabic digest) is laid out in its own language
            # and direction: its words, and where its full stop goes, are the item's.
            "lang": s.lang.replace("_", "-"),
            "dir": "rtl" if is_rtl(s.lang) else "ltr",
            "align": "right" if is_rtl(s.lang) else "left",
        }
        for s in statements
    ]
    actions = _shown(org.for_locale(locale).actions, tr)
    return {
        **base_context(
            org=org, locale=locale, subject="", preheader=statements[0].title if statements else ""
        ),
        "items": items,
        "period": period,
        "actions": actions,
        "footer_reason": _naming(
            org, locale, _("You receive this digest because you subscribed to emails from %(org)s.")
        ),
    }
