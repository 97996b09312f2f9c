"""Render the subscriber pages in the subscriber's language, with the same catalogs as the emails."""

from __future__ import annotations

import unicodedata
from typing import Any

from babel import Locale
from starlette.responses import HTMLResponse

from mailer.i18n import available_catalogs, translations
from mailer.locales import is_rtl, normalise_locale
from mailer.org import OrgProfile, chain_for
from mailer.render.environment import environment
from mailer.render.scripts import has_italics

__all__ = ["collation_key", "countries", "languages", "page", "page_locale"]


def page_locale(org: OrgProfile, locale: str | None) -> str:
    """The first locale of the subscriber's chain that has a catalog (else the default)."""
    known = set(available_catalogs())
    for code in chain_for(org, locale):
        if code in known or code.split("_")[0] in known:
            return code
    return org.default_locale


def page(
    org: OrgProfile, locale: str, template: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    """A page rendered in `locale` (right-to-left when the locale is); the security headers
    are the guard's (`mailer.web.guard`), on every response."""
    chain = chain_for(org, locale)
    tr = translations(chain)
    rtl = is_rtl(locale)
    html = (
        environment(chain)
        .get_template(f"web/{template}.html.j2")
        .render(
            lang_tag=locale.replace("_", "-"),
            dir="rtl" if rtl else "ltr",
            italic=has_italics(locale),
            org_name=org.name,
            org_elides=org.name_elides,
            postal_address=org.postal_address(locale),
            page_title=tr.gettext(context.pop("title_msgid", "Your preferences")),
            **context,
        )
    )
    return HTMLResponse(html, status_code=status)


def languages(org: OrgProfile, own: str | None = None) -> list[tuple[str, str]]:
    """(code, name in that language) for every locale the organisation publishes in, and the
    person's own locale (`fr_BE`, "Français (Belgique)") after its language when it is not
    one of them: the page shows it chosen, and saving keeps it."""
    codes = list(org.locales)
    if own and own not in codes and normalise_locale(own) == own:
        language = own.split("_")[0]
        at = codes.index(language) + 1 if language in codes else len(codes)
        codes.insert(at, own)
    out = []
    for code in codes:
        name = Locale.parse(code).get_display_name(code) or code
        out.append((code, name[:1].upper() + name[1:]))
    return out


def collation_key(text: str) -> tuple[str, str]:
    """Sort like a dictionary of the page's language, near enough for names of countries:
    letters by their base letter whatever their accents or case ("Österreich" among the O's
    in German, "Égypte" among the E's in French, "أ" and "إ" with "ا" in Arabic), then by
    the exact spelling. (ICU's collation, through PyICU, needs the ICU library and a C++
    build: too much weight for one list.)"""
    decomposed = unicodedata.normalize("NFKD", text)
    base = "".join(c for c in decomposed if not unicodedata.combining(c))
    return base.casefold(), text


def countries(locale: str) -> list[tuple[str, str]]:
    """(ISO code, name in the page's language), sorted by name in that language."""
    names = Locale.parse(locale).territories
    pairs = [
        (str(code), str(name))
        for code, name in names.items()
        if len(str(code)) == 2 and str(code).isalpha()
    ]
    return sorted(
        (p for p in pairs if p[0] not in {"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB"}),
        key=lambda p: collation_key(p[1]),
    )
