"""The preference page in the person's own locale: fr_BE offered, chosen and kept; countries in dictionary order."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import html as lxml_html
from sqlalchemy import select

from mailer.store.models import Subscriber
from mailer.web.pages import collation_key, countries
from tests.inprocess import InProcess
from tests.webserver import serve

PEOPLE = (
    "email,name,locale,country\n"
    "lea@example.org,Léa,fr_BE,BE\n"
    "jan@example.org,Jan,de,AT\n"
    "sara@example.org,Sara,ar,\n"
)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[InProcess, str]]:
    run = InProcess(tmp_path)
    run.people(PEOPLE)
    with serve(run.rt) as base:
        yield run, base


def _person(run: InProcess, email: str) -> Subscriber:
    with run.rt.db.session() as session:
        return session.scalars(select(Subscriber).where(Subscriber.email == email)).one()


def _form(page: str) -> tuple[dict[str, str], list[str]]:
    """What a browser would submit unchanged: each select's selected option, the csrf field."""
    document = lxml_html.document_fromstring(page)
    values = {"csrf": document.xpath("//input[@name='csrf']/@value")[0]}
    for name in ("locale", "country"):
        chosen = document.xpath(f"//select[@name='{name}']/option[@selected]/@value")
        first = document.xpath(f"//select[@name='{name}']/option/@value")
        values[name] = (chosen or first)[0]
    values["alert_pref"] = document.xpath("//input[@name='alert_pref'][@checked]/@value")[0]
    return values, document.xpath("//select[@name='country']/option/text()")


def test_a_belgian_french_person_sees_and_keeps_fr_be(site: tuple[InProcess, str]) -> None:
    run, base = site
    lea = _person(run, "lea@example.org")
    token = run.rt.signer.sign(lea.id, "preferences")
    with httpx.Client(base_url=base) as client:
        page = client.get(f"/preferences/{token}")
        assert page.status_code == 200 and 'lang="fr-BE"' in page.text
        document = lxml_html.document_fromstring(page.text)
        chosen = document.xpath("//select[@name='locale']/option[@selected]")
        assert [(o.get("value"), o.text) for o in chosen] == [("fr_BE", "Français (Belgique)")]
        offered = document.xpath("//select[@name='locale']/option/@value")
        assert offered == ["fr", "fr_BE", "nl", "de", "en", "ar"]
        form, _ = _form(page.text)
        saved = client.post(f"/preferences/{token}", data={**form, "alert_pref": "digest"})
        assert saved.status_code == 200
        assert _person(run, "lea@example.org").locale == "fr_BE"
        assert _person(run, "lea@example.org").alert_pref == "digest"
        # Another person's locale is not on offer here: nothing but fr_BE and the profile's.
        form, _ = _form(saved.text)
        client.post(f"/preferences/{token}", data={**form, "locale": "es"})
        assert _person(run, "lea@example.org").locale == "fr_BE"
        client.post(f"/preferences/{token}", data={**form, "locale": "fr"})
        assert _person(run, "lea@example.org").locale == "fr"


def test_the_country_list_is_in_the_dictionary_order_of_the_page(
    site: tuple[InProcess, str],
) -> None:
    run, base = site
    jan = _person(run, "jan@example.org")
    with httpx.Client(base_url=base) as client:
        page = client.get(f"/preferences/{run.rt.signer.sign(jan.id, 'preferences')}")
    _, names = _form(page.text)
    names = [n for n in names if n != "—"]
    where = names.index("Österreich")
    assert names[where - 1 : where + 2] == ["Oman", "Österreich", "Pakistan"]
    assert re.search(r'<option value="AT" selected>Österreich</option>', page.text)


def _base_letters(name: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c)
    ).casefold()


@pytest.mark.parametrize(
    ("locale", "before", "after"),
    [
        ("de", "Oman", "Österreich"),
        ("de", "Ägypten", "Albanien"),
        ("fr", "Équateur", "Espagne"),
        ("fr", "Dominique", "Égypte"),
        ("nl", "Åland", "Albanië"),
        ("nl", "IJsland", "India"),
        # Code points put every alif with a hamza or madda apart (آ first, then أ, then إ);
        # a dictionary files them all under alif, by the letters that follow.
        ("ar", "إثيوبيا", "أرمينيا"),
        ("ar", "أيرلندا", "آيسلندا"),
    ],
)
def test_countries_sort_like_a_dictionary(locale: str, before: str, after: str) -> None:
    names = [name for _, name in countries(locale)]
    assert names.index(before) < names.index(after)
    assert names == sorted(names, key=collation_key)
    assert [_base_letters(n) for n in names] == sorted(_base_letters(n) for n in names)
