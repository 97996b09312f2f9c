"""A language the profile does not publish in, or has no catalog for: warned, listed, never mixed."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import html as lxml_html

from mailer.campaigns.languages import check_group, language_problem
from mailer.errors import RenderError
from mailer.i18n import available_catalogs
from mailer.org import OrgProfile, load_profile
from mailer.render import render_email
from mailer.statements import parse_file
from tests.conftest import EXAMPLES, Workdir

ORG = load_profile(EXAMPLES / "mailer.toml")
CATALOGS = available_catalogs()
SPANISH = """---
translation_key: nso-export-licence
lang: es
title: "Israel: rechazada la demanda de anular la licencia de exportación de NSO Group"
date: 2024-09-02
---
El 13 de julio, un tribunal de distrito de Tel Aviv rechazó una demanda para obligar al
Ministerio de Defensa a anular la licencia de exportación de la empresa NSO Group.
"""


def _spanish(tmp_path: Path) -> Path:
    path = tmp_path / "nso-export-licence.es.md"
    path.write_text(SPANISH, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("lang", "problem"),
    [
        ("fr", None),
        ("fr_BE", None),  # its language is published, and has a catalog
        ("ar", None),
        ("es", "language es: not among the profile's locales (fr, nl, de, en, ar) and no catalog"),
    ],
)
def test_a_language_is_sendable_only_in_the_profile_and_with_a_catalog(
    lang: str, problem: str | None
) -> None:
    found = language_problem(lang, ORG, CATALOGS)
    assert found == problem if problem is None else found is not None and found.startswith(problem)


def test_in_the_profile_without_a_catalog_or_with_a_catalog_outside_the_profile() -> None:
    spanish_org = replace(ORG, locales=(*ORG.locales, "es"))
    assert "no catalog" in str(language_problem("es", spanish_org, CATALOGS))
    assert "not among" not in str(language_problem("es", spanish_org, CATALOGS))
    only_fr = replace(ORG, locales=("fr",))
    problem = str(language_problem("de", only_fr, CATALOGS))
    assert "not among the profile's locales (fr)" in problem and "catalog" not in problem


def test_a_group_sends_its_good_versions_and_refuses_when_none_is_left(tmp_path: Path) -> None:
    french = parse_file(EXAMPLES / "statements" / "nso-export-licence.fr.txt")
    spanish = parse_file(_spanish(tmp_path))
    check = check_group([french, spanish], ORG, CATALOGS)
    assert check.sendable([french, spanish]) == [french]
    assert [v.statement_id for v in check.refused] == [spanish.id]
    assert check.refusal() is None
    (warning,) = check.warnings()
    assert spanish.id in warning and "language es" in warning and "fallback" in warning
    alone = check_group([spanish], ORG, CATALOGS)
    assert alone.sendable([spanish]) == [] and alone.warnings() == []
    refusal = str(alone.refusal())
    assert spanish.id in refusal and "Adding a language" in refusal


def test_an_email_is_never_rendered_in_a_language_without_a_catalog(tmp_path: Path) -> None:
    spanish = parse_file(_spanish(tmp_path))
    with pytest.raises(RenderError, match=r"no catalog for es: .*templates/locale/es/"):
        render_email("alert", spanish, locale="es", org=ORG)
    with pytest.raises(RenderError, match="no catalog for es_AR"):
        render_email("alert", spanish, locale="es_AR", org=ORG)


def test_no_button_is_made_up_for_a_locale_without_configured_ones() -> None:
    # The example profile gives Arabic no buttons; the built-in profile none at all.
    arabic = parse_file(EXAMPLES / "statements" / "nso-export-licence.ar.md")
    bare = replace(arabic, cta=())
    for statement, org in ((bare, ORG), (bare, OrgProfile())):
        variant = render_email("alert", statement, locale="ar", org=org)
        html = variant.html.fill(dict.fromkeys(variant.html.fields, ""))
        links = lxml_html.document_fromstring(html).xpath("//a/@href")
        assert not [link for link in links if "donate" in link], links
        assert not lxml_html.document_fromstring(html).xpath("//td[@class='actions']")
    own = render_email("alert", arabic, locale="ar", org=ORG)
    html = own.html.fill(dict.fromkeys(own.html.fields, ""))
    assert [c.url for c in arabic.cta] == [
        a for a in lxml_html.document_fromstring(html).xpath("//td[@class='actions']//a/@href")
    ]


def test_import_warns_of_a_language_that_will_not_be_sent(workdir: Workdir) -> None:
    path = _spanish(workdir.path)
    result = workdir.run("statements", "import", str(path))
    assert result.stdout.split() == ["nso-export-licence-es"]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr
    assert str(path) in warnings[0] and re.search(r"\blanguage es\b", warnings[0])
    quiet = workdir.run("statements", "import", str(EXAMPLES / "statements"))
    assert "warning" not in quiet.stderr


def test_preview_of_a_language_without_a_catalog_is_one_line(workdir: Workdir) -> None:
    path = _spanish(workdir.path)
    workdir.run("statements", "import", str(path))
    result = workdir.run(
        "preview", "nso-export-licence-es", "--locale", "es", "--out", "p", check=False
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "no catalog for es" in result.stderr


def test_preview_of_a_group_draws_the_languages_it_is_sent_in(workdir: Workdir) -> None:
    workdir.run("statements", "import", str(EXAMPLES / "statements"), str(_spanish(workdir.path)))
    result = workdir.run("preview", "nso-export-licence-fr", "--out", "p")
    drawn = sorted(p.name for p in (workdir.path / "p").iterdir())
    assert drawn == [f"nso-export-licence.{lang}.html" for lang in ("ar", "de", "en", "fr", "nl")]
    assert "warning: version nso-export-licence-es left out: language es" in result.stderr


def test_a_spanish_reader_gets_the_fallback_and_the_sender_is_warned(workdir: Workdir) -> None:
    # The group has a Spanish version the profile cannot send: a Spanish reader gets the
    # version of their chain (the default, French), in French chrome; `send` says so.
    workdir.run("statements", "import", str(EXAMPLES / "statements"), str(_spanish(workdir.path)))
    workdir.run(
        "subscribers",
        "add",
        "mateo@example.org",
        "--name",
        "Mateo",
        "--locale",
        "es",
        "--consented",
    )
    result = workdir.run("send", "nso-export-licence-es", "--wait")
    assert "warning: version nso-export-licence-es left out: language es" in result.stderr
    messages = [p.read_bytes() for p in workdir.outbox.iterdir()]
    assert len(messages) == 1
    assert b"Content-Language: fr" in messages[0] and b"Bonjour Mateo" in messages[0]
    assert b"rechaz" not in messages[0]


def test_a_group_with_nothing_sendable_is_refused_before_anything_is_made(workdir: Workdir) -> None:
    workdir.run("statements", "import", str(_spanish(workdir.path)))
    workdir.run("subscribers", "add", "mateo@example.org", "--locale", "es", "--consented")
    for command in (
        ("send", "nso-export-licence-es"),
        ("campaigns", "create", "--statement", "nso-export-licence-es"),
        ("statements", "publish", "nso-export-licence-es"),
    ):
        result = workdir.run(*command, check=False)
        assert result.returncode == 1, (command, result.stderr)
        assert result.stderr.count("\n") == 1 and "language es" in result.stderr
    assert workdir.run("campaigns", "list", "--json").stdout.strip() == "[]"
    listed = json.loads(workdir.run("statements", "list", "--json").stdout)
    assert [s["published_at"] for s in listed] == [None]  # nothing half-published
