"""The words around a statement: French elision, spacing and ordinals, scripts without italics, mixed directions."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace

import pytest
from babel.dates import format_date
from babel.messages.pofile import read_po
from lxml import html as lxml_html

from mailer.org import load_profile
from mailer.paths import LOCALE_DIR
from mailer.render import render_email
from mailer.render.dates import long_date
from mailer.render.typography import elide_before_name, name_elides
from mailer.render.variant import RenderedEmail, render_confirmation, render_digest
from mailer.statements import parse_file
from tests.conftest import EXAMPLES

ORG = load_profile(EXAMPLES / "mailer.toml")
FRENCH = replace(
    parse_file(EXAMPLES / "statements" / "nso-export-licence.fr.txt"), date=dt.date(2026, 12, 1)
)
ARABIC = parse_file(EXAMPLES / "statements" / "nso-export-licence.ar.md")
NNBSP = "\u202f"


def _parts(variant: RenderedEmail) -> tuple[str, str]:
    fields = {f: "" for f in (*variant.html.fields, *variant.text.fields)}
    fields["greeting"] = variant.greeting("Ana")
    return variant.html.fill(fields), variant.text.fill(fields)


@pytest.mark.parametrize("locale", ["fr", "fr_BE", "fr_CA"])
def test_the_first_of_the_month_is_an_ordinal_in_french(locale: str) -> None:
    assert long_date(dt.date(2026, 12, 1), locale) == "1er décembre 2026"
    assert long_date(dt.date(2026, 11, 24), locale) == "24 novembre 2026"


@pytest.mark.parametrize("locale", ["nl", "nl_BE", "de", "en", "ar"])
def test_other_languages_keep_their_cldr_dates(locale: str) -> None:
    for day in (dt.date(2026, 12, 1), dt.date(2026, 11, 24)):
        assert long_date(day, locale) == format_date(day, format="long", locale=locale)


def test_alert_and_digest_write_1er() -> None:
    html, text = _parts(render_email("alert", FRENCH, locale="fr_BE", org=ORG))
    assert "Publié le 1er décembre 2026" in text and "Publié le 1er décembre 2026" in html
    digest = render_digest(
        [FRENCH], locale="fr", org=ORG, since=dt.date(2026, 11, 24), until=dt.date(2026, 12, 1)
    )
    html, text = _parts(digest)
    assert "du 24 novembre 2026 au 1er décembre 2026" in text
    assert "du 24 novembre 2026 au 1er décembre 2026" in html


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("les e-mails de Amnesty", "Amnesty", "les e-mails d’Amnesty"),
        ("De Amnesty et que Amnesty", "Amnesty", "D’Amnesty et qu’Amnesty"),
        ("le Écho de la rue", "Écho", "l’Écho de la rue"),
        (
            "les e-mails de Human Rights Watch",
            "Human Rights Watch",
            "les e-mails de Human Rights Watch",
        ),
        ("les e-mails de Ligue des droits", "Ligue des droits", "les e-mails de Ligue des droits"),
        ("le monde Amnesty", "Amnesty", "le monde Amnesty"),  # "de" inside "monde" is no word
        ("de\u00a0Amnesty", "Amnesty", "d’Amnesty"),
    ],
)
def test_french_elides_before_a_vowel(text: str, name: str, expected: str) -> None:
    assert elide_before_name(text, name, "fr") == expected
    assert elide_before_name(text, name, "nl") == text


def test_a_mute_h_is_the_profiles_to_say() -> None:
    assert not name_elides("Humanité & Inclusion")
    assert name_elides("Humanité & Inclusion", forced=True)
    assert not name_elides("Amnesty", forced=False)
    assert (
        elide_before_name("les e-mails de Humanité", "Humanité", "fr", forced=True)
        == "les e-mails d’Humanité"
    )


def test_every_french_email_says_d_amnesty() -> None:
    digest = render_digest(
        [FRENCH], locale="fr", org=ORG, since=dt.date(2026, 11, 24), until=dt.date(2026, 12, 1)
    )
    for variant in (
        render_email("alert", FRENCH, locale="fr", org=ORG),
        render_confirmation(locale="fr", org=ORG),
        digest,
    ):
        html, text = _parts(variant)
        for part in (html, text, variant.subject):
            assert not re.search(r"\bde\s+Amnesty International Belgique", part), variant.kind
        assert "d’Amnesty International Belgique" in html + variant.subject, variant.kind
    dutch = render_confirmation(locale="nl", org=ORG)
    assert "van Amnesty International Belgique" in _parts(dutch)[1]


def test_a_name_with_a_consonant_or_an_aspirated_h_keeps_de() -> None:
    for name in ("Ligue des droits humains", "Handicap International"):
        _, text = _parts(render_confirmation(locale="fr", org=replace(ORG, name=name)))
        assert f"les e-mails de {name}" in text
    mute = replace(ORG, name="Humanité Solidarité", name_elides=True)
    assert (
        "les e-mails d’Humanité Solidarité" in _parts(render_confirmation(locale="fr", org=mute))[1]
    )


def test_french_catalog_puts_a_narrow_no_break_space_before_double_punctuation() -> None:
    with (LOCALE_DIR / "fr" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    checked = 0
    for message in catalog:
        if not message.id:
            continue
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        for form in forms:
            for found in re.finditer(r"(.)([:;?!])", form):
                checked += 1
                assert found.group(1) == NNBSP, f"{form!r}: {found.group()!r}"
    assert checked >= 5


def test_labels_joined_with_a_colon_follow_the_language() -> None:
    _, french = _parts(render_email("alert", FRENCH, locale="fr", org=ORG))
    assert f"Signez la pétition{NNBSP}:\n" in french and f"Se désinscrire{NNBSP}:\n" in french
    english = parse_file(EXAMPLES / "statements" / "nso-export-licence.en.md")
    _, text = _parts(render_email("alert", english, locale="en", org=ORG))
    assert "Unsubscribe:\n" in text and NNBSP not in text


def _styles(html: str, xpath: str) -> list[str]:
    return [e.get("style") or "" for e in lxml_html.document_fromstring(html).xpath(xpath)]


def test_arabic_quotes_are_not_set_in_italics_latin_ones_are() -> None:
    arabic, _ = _parts(render_email("alert", ARABIC, locale="ar", org=ORG))
    quotes = _styles(arabic, "//p[contains(@class, 'quote')]")
    assert quotes and all("font-style:normal" in s.replace(" ", "") for s in quotes), quotes
    assert "italic" not in arabic
    french, _ = _parts(render_email("alert", FRENCH, locale="fr", org=ORG))
    quotes = _styles(french, "//p[contains(@class, 'quote')]")
    assert quotes and all("font-style:italic" in s.replace(" ", "") for s in quotes)


def test_a_french_item_in_the_arabic_digest_keeps_its_language_and_direction() -> None:
    digest = render_digest(
        [ARABIC, FRENCH],
        locale="ar",
        org=ORG,
        since=dt.date(2026, 11, 24),
        until=dt.date(2026, 12, 1),
    )
    html, text = _parts(digest)
    document = lxml_html.document_fromstring(html)
    assert document.get("dir") == "rtl"
    french = document.xpath("//*[@lang='fr']")
    assert [e.tag for e in french] == ["h2", "p"]
    assert all(
        e.get("dir") == "ltr" and "text-align:left" in e.get("style").replace(" ", "")
        for e in french
    )
    arabic = document.xpath("//h2[@lang='ar']")
    assert arabic and arabic[0].get("dir") == "rtl"
    # The text part: each French line between left-to-right marks, nothing else marked.
    marked = [line for line in text.splitlines() if line.startswith("\u200e")]
    assert all(line.endswith("\u200e") for line in marked)
    french_words = " ".join(line.strip("\u200e") for line in marked)
    assert french_words == f"{FRENCH.title} {FRENCH.lead}"
    _, same = _parts(
        render_digest(
            [FRENCH], locale="fr", org=ORG, since=dt.date(2026, 11, 24), until=dt.date(2026, 12, 1)
        )
    )
    assert "\u200e" not in same and "\u200f" not in same


def test_a_lead_of_its_own_is_shown_under_the_title_not_only_hidden() -> None:
    from mailer.statements import parse_text

    written = parse_text(
        "---\ntitle: Court ruling\nlang: en\n"
        "lead: The court sided with the spyware company, again.\n---\n"
        "On 13 July, a district court rejected the petition.\n\nA second paragraph.\n",
        fmt="markdown",
        source="ruling.md",
    )
    html, text = _parts(render_email("alert", written, locale="en", org=ORG))
    document = lxml_html.document_fromstring(html)
    assert [p.text_content() for p in document.xpath("//p[@class='lead']")] == [written.lead]
    assert "On 13 July" in html and text.index(written.lead) < text.index("On 13 July")
    assert document.xpath("//div[@class='preheader']")[0].text_content().startswith(written.lead)
    # A lead that is the first paragraph (the examples', or one cut from it) is not repeated.
    english = parse_file(EXAMPLES / "statements" / "nso-export-licence.en.md")
    html, text = _parts(render_email("alert", english, locale="en", org=ORG))
    assert text.count(english.lead[:40]) == 1 and html.count(english.lead[:40]) == 2  # + preheader
