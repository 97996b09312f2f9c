"""The signup and archive pages through the pseudo-locale: every visible string of ours is translated."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from mailer.org import load_profile
from mailer.render.environment import environment
from mailer.web.pages import countries, languages
from tests.conftest import EXAMPLES
from tests.test_multilingual import _pseudo_catalogs, _visible_text


def test_public_pages_leave_nothing_untranslated(tmp_path: Path) -> None:
    env = environment(("eo",), locale_dir=_pseudo_catalogs(tmp_path))
    org = load_profile(EXAMPLES / "mailer.toml")
    item = SimpleNamespace(title="A title", date="13 July 2024", lead="A lead.", url="/x")
    form = SimpleNamespace(email="", name="", language="fr", topics=("privacy",), country="BE")
    common = {
        "lang_tag": "eo",
        "dir": "ltr",
        "italic": True,
        "org_name": org.name,
        "postal_address": org.address,
        "page_title": "⟦title⟧",
        "public_url": "https://example.org",
        "current": "fr",
        "languages": languages(org),
    }
    pages = {
        "subscribe": {
            "csrf": "token",
            "topics": list(org.topics),
            "countries": countries("eo"),
            "form": form,
            "notice": "check",
            "error": "email",
        },
        "subscribe_sent": {},
        "subscribe_later": {},
        "archive": {
            "alternates": [("fr", "/archive/fr")],
            "items": [item],
            "newer": "/archive/fr?page=1",
            "older": "/archive/fr?page=3",
        },
    }
    allowed = {
        org.name,
        f"{org.name} · {org.address}",
        *(label for _, label in languages(org)),
        *org.topics,
        *(label for _, label in countries("eo")),
        "—",
        item.title,
        item.date,
        item.lead,
    }
    for name, context in pages.items():
        html = env.get_template(f"web/{name}.html.j2").render(**common, **context)
        for text in _visible_text(html):
            assert text in allowed or "⟦" in text, f"untranslated text on {name}: {text!r}"
    empty = env.get_template("web/archive.html.j2").render(
        **common, alternates=[], items=[], newer="", older=""
    )
    assert any("⟦Nothing has been published" in t for t in _visible_text(empty))
    name_error = env.get_template("web/subscribe.html.j2").render(
        **common, **{**pages["subscribe"], "error": "name", "notice": ""}
    )
    assert any("⟦Please shorten your name" in t for t in _visible_text(name_error))
    bar = env.get_template("web/archive_bar.html.j2").render(
        public_url="https://example.org", current="fr", dir="ltr"
    )
    assert all("⟦" in t for t in _visible_text(f"<html><body>{bar}</body></html>"))
