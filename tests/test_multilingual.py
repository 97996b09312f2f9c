"""One announcement, every subscriber in their own language: chains, waiting, catalogs, RTL, formats."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from lxml import html as lxml_html
from sqlalchemy import select

from mailer.campaigns.missing import parse_missing, release_held
from mailer.errors import InputError
from mailer.org import load_profile
from mailer.paths import LOCALE_DIR
from mailer.render import render_email
from mailer.render.variant import render_confirmation, render_digest
from mailer.statements import parse_file
from mailer.store.models import Delivery, Subscriber
from tests.inprocess import EXAMPLES, InProcess

PEOPLE = (
    "email,locale\n"
    "fr@example.org,fr\nfrbe@example.org,fr_BE\nnl@example.org,nl\nnlbe@example.org,nl_BE\n"
    "de@example.org,de\nen@example.org,en\nar@example.org,ar\npt@example.org,pt\nnone@example.org,\n"
)
# Versions fr, en and ar only; the example profile says nl -> en, de -> fr, ar -> en, default fr.
EXPECTED = {
    "fr@example.org": ("nso-export-licence-fr", "fr"),
    "frbe@example.org": ("nso-export-licence-fr", "fr_BE"),
    "nl@example.org": ("nso-export-licence-en", "en"),
    "nlbe@example.org": ("nso-export-licence-en", "en"),
    "de@example.org": ("nso-export-licence-fr", "fr"),
    "en@example.org": ("nso-export-licence-en", "en"),
    "ar@example.org": ("nso-export-licence-ar", "ar"),
    "pt@example.org": ("nso-export-licence-fr", "fr"),
    "none@example.org": ("nso-export-licence-fr", "fr"),
}


def _assignment(run: InProcess, campaign_id: int) -> dict[str, tuple[str, str]]:
    with run.rt.db.session() as session:
        rows = session.execute(
            select(Subscriber.email, Delivery.statement_id, Delivery.locale)
            .join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .where(Delivery.campaign_id == campaign_id)
        ).all()
    return {email: (statement, locale) for email, statement, locale in rows}


@pytest.mark.parametrize("batch_size", [1, 500])
def test_each_subscriber_gets_the_first_version_of_their_chain(
    tmp_path: Path, batch_size: int
) -> None:
    run = InProcess(tmp_path, batch_size=batch_size)
    run.statements(
        "nso-export-licence.fr.txt", "nso-export-licence.en.md", "nso-export-licence.ar.md"
    )
    run.people(PEOPLE)
    status = run.send("nso-export-licence-ar")
    assert status["sent"] == 9
    assert _assignment(run, status["id"]) == EXPECTED
    by_recipient = {str(m["To"]): m for m in run.messages()}
    for email, (_, locale) in EXPECTED.items():
        message = by_recipient[email]
        assert message["Content-Language"] == locale.replace("_", "-")
        html = message.get_body(("html",)).get_content()
        direction = "rtl" if locale == "ar" else "ltr"
        assert f'<html lang="{locale.replace("_", "-")}" dir="{direction}"' in html
    arabic = by_recipient["ar@example.org"]
    assert arabic["Subject"].startswith("إسرائيل")
    assert "منظمة العفو الدولية بلجيكا" in str(arabic["From"])


def test_waiting_for_a_late_translation_sends_it_once(tmp_path: Path) -> None:
    run = InProcess(tmp_path)
    run.statements("nso-export-licence.fr.txt")
    run.people(
        "email,locale\na@example.org,fr\nb@example.org,nl\nc@example.org,nl_BE\nd@example.org,de\n"
    )
    status = run.send("nso-export-licence-fr", missing=parse_missing("wait=48h"))
    assert (status["sent"], status["held"], status["state"]) == (1, 3, "running")
    assert [str(m["To"]) for m in run.messages()] == ["a@example.org"]
    # The Dutch translation arrives: Dutch subscribers get it, once; the German one still waits.
    run.statements("nso-export-licence.nl.md")
    assert release_held(run.rt.db, run.rt.org, translation_key="nso-export-licence") == [
        status["id"]
    ]
    status = run.resume(status["id"])
    assert (status["sent"], status["held"]) == (3, 1)
    dutch = {str(m["To"]): m["Content-Language"] for m in run.messages()}
    assert dutch == {"a@example.org": "fr", "b@example.org": "nl", "c@example.org": "nl-BE"}
    # Two days later the German subscriber gets the fallback (de -> fr).
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=49)
    assert release_held(run.rt.db, run.rt.org, now=later) == [status["id"]]
    status = run.resume(status["id"])
    assert (status["sent"], status["held"], status["state"]) == (4, 0, "done")
    counts = Counter(str(m["To"]) for m in run.messages())
    assert counts == {
        "a@example.org": 1,
        "b@example.org": 1,
        "c@example.org": 1,
        "d@example.org": 1,
    }
    german = next(m for m in run.messages() if str(m["To"]) == "d@example.org")
    assert german["Content-Language"] == "fr"


def test_missing_policy_syntax() -> None:
    assert parse_missing("fallback") == "fallback"
    assert parse_missing("wait=30m") == "wait:1800"
    assert parse_missing("WAIT=2d") == "wait:172800"
    for bad in ("wait", "wait=", "wait=-1h", "later", "wait=3x"):
        with pytest.raises(InputError, match="--missing"):
            parse_missing(bad)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("fr", "13 juillet 2024"),
        ("nl", "13 juli 2024"),
        ("de", "13. Juli 2024"),
        ("en", "July 13, 2024"),
    ],
)
def test_dates_follow_the_locale(locale: str, expected: str) -> None:
    statement = parse_file(EXAMPLES / "statements" / "nso-export-licence.de.md")
    variant = render_email(
        "alert", statement, locale=locale, org=load_profile(EXAMPLES / "mailer.toml")
    )
    assert expected in variant.text.fill(dict.fromkeys(variant.text.fields, ""))


def test_right_to_left_is_mirrored_where_gmail_keeps_it() -> None:
    statement = parse_file(EXAMPLES / "statements" / "nso-export-licence.ar.md")
    variant = render_email(
        "alert", statement, locale="ar", org=load_profile(EXAMPLES / "mailer.toml")
    )
    html = variant.html.fill(dict.fromkeys(variant.html.fields, ""))
    document = lxml_html.document_fromstring(html)
    assert document.get("dir") == "rtl" and document.get("lang") == "ar"
    # Gmail drops <html>/<body> attributes: the wrapper tables and cells carry the direction.
    tables = document.xpath("//table")
    assert tables and all(t.get("dir") == "rtl" for t in tables)
    cells = document.xpath("//td[@class='content' or @class='footer' or @class='actions']")
    assert cells and all(c.get("align") == "right" and c.get("dir") == "rtl" for c in cells)
    buttons = document.xpath("//td[@class='actions']//table")
    assert buttons and all(b.get("align") == "right" for b in buttons)


def _pseudo_catalogs(tmp_path: Path) -> Path:
    """Mailman's Freedonia: every string wrapped in ⟦⟧ under a locale Babel knows (eo)."""
    with (LOCALE_DIR / "messages.pot").open("rb") as handle:
        template = read_po(handle)
    pseudo = Catalog(locale="eo")
    for message in template:
        if isinstance(message.id, tuple):
            forms = tuple(f"⟦{message.id[min(i, 1)]}⟧" for i in range(pseudo.num_plurals))
            pseudo.add(message.id, forms, flags=message.flags)
        elif message.id:
            pseudo.add(message.id, f"⟦{message.id}⟧", flags=message.flags)
    target = tmp_path / "locale" / "eo" / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / "messages.po").open("wb") as handle:
        write_po(handle, pseudo)
    return tmp_path / "locale"


def _visible_text(html: str) -> list[str]:
    document = lxml_html.document_fromstring(html)
    for hidden in document.xpath("//style|//title|//*[contains(@class, 'preheader')]"):
        hidden.drop_tree()
    return [
        t.strip()
        for t in document.xpath("//body//text()")
        if t.strip() and t.strip() not in {"·", "\xa0"}
    ]


def test_nothing_visible_escapes_translation(tmp_path: Path) -> None:
    locale_dir = _pseudo_catalogs(tmp_path)
    org = load_profile(EXAMPLES / "mailer.toml")
    statement = parse_file(EXAMPLES / "statements" / "nso-export-licence.fr.txt")
    # Content the organisation wrote is not ours to translate: the statement and its profile.
    allowed = {
        statement.title,
        *(b.text for b in statement.blocks),
        org.name,
        f"{org.name} · {org.address}",
    }
    digest = render_digest(
        [statement],
        locale="eo",
        org=org,
        since=dt.date(2024, 7, 8),
        until=dt.date(2024, 7, 15),
        locale_dir=locale_dir,
    )
    allowed |= {statement.lead}
    for variant in (
        render_email("alert", statement, locale="eo", org=org, locale_dir=locale_dir),
        render_confirmation(locale="eo", org=org, locale_dir=locale_dir),
        digest,
    ):
        fields = {f: "" for f in variant.html.fields} | {"greeting": variant.greeting("Ana")}
        for text in _visible_text(variant.html.fill(fields)):
            if text in allowed or re.fullmatch(r"\s*", text):
                continue
            assert "⟦" in text, f"untranslated text in {variant.kind}: {text!r}"
        assert "⟦" in variant.subject or variant.kind == "alert"
