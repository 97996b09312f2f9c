"""The public archive on a live server: published statements only, per language, no personal data."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from mailer.errors import ConfigError
from mailer.org import load_profile
from mailer.statements.model import Block, Statement
from mailer.statements.repository import mark_published, save
from mailer.store.models import StatementRow, utcnow
from mailer.web.archive import PAGE_SIZE
from tests.inprocess import EXAMPLES, InProcess
from tests.servers import free_port
from tests.webserver import serve

TRANSLATIONS = (
    "nso-export-licence.fr.txt",
    "nso-export-licence.nl.md",
    "nso-export-licence.en.md",
    "nso-export-licence.ar.md",
)


def _statement(index: int, *, lang: str = "en", key: str | None = None) -> Statement:
    text = f"Statement number {index} about the right to protest."
    return Statement(
        id=f"protest-{index}-{lang}",
        lang=lang,
        translation_key=key or f"protest-{index}",
        title=f"Protest {index}",
        lead=text,
        blocks=(Block("paragraph", text, text),),
        topics=("freedom of expression",),
    )


def _publish(run: InProcess, statement_id: str, when: dt.datetime | None) -> None:
    with run.rt.db.session() as session:
        session.execute(
            update(StatementRow).where(StatementRow.id == statement_id).values(published_at=when)
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcess, str]]:
    """One site for the module: its tests only read it (GET, or methods answered 405)."""
    port = free_port()
    run = InProcess(tmp_path_factory.mktemp("archive"), public_url=f"http://127.0.0.1:{port}")
    run.statements(*TRANSLATIONS)
    with run.rt.db.session() as session:
        mark_published(session, "nso-export-licence")
        for index in range(PAGE_SIZE + 5):
            save(session, _statement(index))
        save(session, _statement(900))  # a draft
        save(session, _statement(901))  # embargoed: stamped for tomorrow
        save(session, _statement(3, lang="fr", key="protest-3"))  # an unpublished translation
    start = utcnow() - dt.timedelta(days=60)
    for index in range(PAGE_SIZE + 5):
        _publish(run, f"protest-{index}-en", start + dt.timedelta(days=index))
    _publish(run, "protest-901-en", utcnow() + dt.timedelta(days=1))
    run.people("email,name,locale\nana.secret@example.org,Ana Secret,fr\n")
    run.send("nso-export-licence-fr")  # a real campaign: personal data exists to leak
    with serve(run.rt, port) as base:
        yield run, base


def test_each_language_lists_its_published_statements_newest_first(
    site: tuple[InProcess, str],
) -> None:
    _, base = site
    with httpx.Client(base_url=base) as client:
        first = client.get("/archive/en")
        second = client.get("/archive/en?page=2")
        assert client.get("/archive/en?page=3").status_code == 404
        for bad in ("/archive/en?page=0", "/archive/en?page=x", "/archive/xx", "/archive/EN"):
            assert client.get(bad).status_code == 404, bad
        french = client.get("/archive/fr")
        default = client.get("/archive", headers={"Accept-Language": "nl"})
    titles = re.findall(r"<h2><a href=\"[^\"]+\">([^<]+)</a></h2>", first.text)
    assert titles[0].startswith("Israel") and len(titles) == PAGE_SIZE  # published just now
    assert titles[1:3] == ["Protest 24", "Protest 23"]
    later = re.findall(r"<h2><a href=\"[^\"]+\">([^<]+)</a></h2>", second.text)
    assert later == [f"Protest {i}" for i in range(5, -1, -1)]
    assert "Protest 900" not in first.text + second.text  # the draft
    assert "Protest 901" not in first.text + second.text  # the embargoed one
    assert 'rel="next"' in first.text and 'rel="prev"' in second.text
    assert first.headers["cache-control"].startswith("public")
    for code in ("fr", "nl", "de", "en", "ar"):
        assert (
            f'<link rel="alternate" hreflang="{code}" href="{base}/archive/{code}">' in first.text
        )
    assert "Israël, Rejet de la demande" in french.text and "Protest 3" not in french.text
    assert '<html lang="fr"' in french.text and '<html lang="nl"' in default.text


def test_a_statement_shows_as_sent_with_nobody_s_data(site: tuple[InProcess, str]) -> None:
    run, base = site
    sent = next(m for m in run.messages() if "ana.secret@example.org" in str(m["To"]))
    assert "Ana Secret" in sent.get_body(("html",)).get_content()
    with httpx.Client(base_url=base) as client:
        page = client.get("/archive/fr/nso-export-licence-fr")
        arabic = client.get("/archive/ar/nso-export-licence-ar")
    assert page.status_code == 200
    html = page.text
    assert "Israël, Rejet de la demande" in html and "Bonjour," in html
    for personal in (
        "Ana",
        "ana.secret",
        "@example.org",
        "/u/",
        "/preferences/",
        "/view/",
        "/confirm/",
    ):
        assert personal not in html, personal
    assert f'<link rel="canonical" href="{base}/archive/fr/nso-export-licence-fr">' in html
    for code in ("fr", "nl", "en", "ar"):
        assert (
            f'<link rel="alternate" hreflang="{code}" href="{base}/archive/{code}/nso-export-licence-{code}">'
            in html
        )
    assert 'hreflang="de"' not in html  # no German version was imported
    # No dead links where the email had personal ones: an invitation to subscribe instead.
    assert 'href="#"' not in html and "Se désinscrire" not in html
    assert f'href="{base}/subscribe/fr"' in html and f'href="{base}/subscribe/ar"' in arabic.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert '<html lang="ar" dir="rtl"' in arabic.text and "مرحبًا،" in arabic.text


@pytest.mark.parametrize(
    "path",
    [
        "/archive/en/protest-900-en",  # draft
        "/archive/en/protest-901-en",  # embargoed
        "/archive/fr/protest-3-fr",  # unpublished translation of a published statement
        "/archive/fr/nso-export-licence-nl",  # another language's version
        "/archive/en/nope",
        "/archive/en/" + "x" * 300,
    ],
)
def test_what_is_not_published_here_is_not_found(site: tuple[InProcess, str], path: str) -> None:
    _, base = site
    answer = httpx.get(base + path)
    assert answer.status_code == 404 and "Protest 90" not in answer.text


def test_only_get_reads_the_archive(site: tuple[InProcess, str]) -> None:
    _, base = site
    for method in ("POST", "PUT", "DELETE"):
        assert httpx.request(method, base + "/archive/fr").status_code == 405


def test_the_organisation_can_turn_the_archive_off(tmp_path: Path) -> None:
    profile = (EXAMPLES / "mailer.toml").read_text(encoding="utf-8")
    assert "archive = true" in profile
    org_file = tmp_path / "mailer.toml"
    org_file.write_text(
        profile.replace("archive = true", "archive = false", 1),
        encoding="utf-8",
    )
    port = free_port()
    run = InProcess(tmp_path, public_url=f"http://127.0.0.1:{port}", org_file=org_file)
    run.statements(*TRANSLATIONS)
    with run.rt.db.session() as session:
        mark_published(session, "nso-export-licence")
    with serve(run.rt, port) as base:
        for path in ("/archive", "/archive/fr", "/archive/fr/nso-export-licence-fr"):
            assert httpx.get(base + path).status_code == 404, path
        assert httpx.get(base + "/subscribe").status_code == 200
    bad = tmp_path / "bad.toml"
    bad.write_text(profile.replace("archive = true", 'archive = "no"', 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"organisation\.archive must be true or false"):
        load_profile(bad)
