"""What a link may show and a form may store: the message that was sent, topics on offer, bounded fields."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from mailer.statements import parse_file
from mailer.statements.repository import save
from mailer.store.models import StatementRow, Subscriber
from tests.inprocess import EXAMPLES, InProcess
from tests.servers import free_port
from tests.webserver import serve

PEOPLE = (
    "email,name,locale,topics\n"
    "ana@example.org,Ana,fr,\n"
    "bert@example.org,Bert,nl,\n"
    "carl@example.org,Carl,de,refugees\n"
)


def _site(tmp_path: Path, org_file: Path | None = None) -> tuple[InProcess, int]:
    port = free_port()
    run = InProcess(tmp_path, public_url=f"http://127.0.0.1:{port}", org_file=org_file)
    run.statements("nso-export-licence.fr.txt", "nso-export-licence.nl.md")
    run.people(PEOPLE)
    return run, port


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[InProcess, str]]:
    run, port = _site(tmp_path)
    with serve(run.rt, port) as base:
        yield run, base


def _id(run: InProcess, email: str) -> int:
    with run.rt.db.session() as session:
        return session.scalars(select(Subscriber.id).where(Subscriber.email == email)).one()


def test_a_view_link_opens_only_what_that_person_was_sent(site: tuple[InProcess, str]) -> None:
    run, base = site
    everyone = run.send("nso-export-licence-fr")["id"]
    # A later campaign for one segment: Bert and Carl get ledger rows (skipped), no email.
    staff_only = run.send("nso-export-licence-fr", segment='locale = "fr"', again=True)["id"]
    bert, carl, ana = (
        _id(run, e) for e in ("bert@example.org", "carl@example.org", "ana@example.org")
    )
    view = {who: run.rt.signer.sign(who, "view") for who in (ana, bert, carl)}
    with httpx.Client(base_url=base) as client:
        assert "Teken de petitie" in client.get(f"/view/{everyone}/{view[bert]}").text
        assert client.get(f"/view/{staff_only}/{view[ana]}").status_code == 200
        assert client.get(f"/view/{staff_only}/{view[bert]}").status_code == 404
        assert client.get(f"/view/{everyone}/{view[carl]}").status_code == 404  # not routed
        for campaign in ("99999999999999999999", "9223372036854775808", "0", "-1", "01", "1e3"):
            assert client.get(f"/view/{campaign}/{view[ana]}").status_code == 404, campaign
        # The version and locale that were sent, not what the person chose since.
        with run.rt.db.session() as session:
            session.execute(update(Subscriber).where(Subscriber.id == bert).values(locale="fr"))
        page = client.get(f"/view/{everyone}/{view[bert]}")
        assert page.status_code == 200 and 'lang="nl"' in page.text
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "http" not in policy and "*" not in policy  # nothing remote
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["x-content-type-options"] == "nosniff"


def _preferences(client: httpx.Client, token: str) -> tuple[str, str]:
    page = client.get(f"/preferences/{token}")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return page.text, found.group(1)


def _topics_of(run: InProcess, email: str) -> list[str]:
    with run.rt.db.session() as session:
        return list(
            session.scalars(select(Subscriber.topics).where(Subscriber.email == email)).one()
        )


def test_the_preference_form_stores_only_choices_on_offer(site: tuple[InProcess, str]) -> None:
    run, base = site
    carl = _id(run, "carl@example.org")
    token = run.rt.signer.sign(carl, "preferences")
    with httpx.Client(base_url=base) as client:
        page, csrf = _preferences(client, token)
        assert "freedom of expression" in page  # the profile's list (examples/mailer.toml)
        saved = client.post(
            f"/preferences/{token}",
            data={
                "csrf": csrf,
                "topics": ["SURVEILLANCE", "  privacy ", "refugees", "made-up topic", "x" * 5000],
                "locale": "x" * 5000,
                "alert_pref": "sometimes",
                "country": "ZZ",
            },
        )
        assert saved.status_code == 200
    assert _topics_of(run, "carl@example.org") == ["surveillance", "privacy", "refugees"]
    with run.rt.db.session() as session:
        row = session.get(Subscriber, carl)
        assert row is not None
        assert (row.locale, row.alert_pref, row.country) == ("de", "alerts", None)
        assert row.topic_keys == ";privacy;refugees;surveillance;"


def test_the_form_body_is_bounded_before_it_is_parsed(site: tuple[InProcess, str]) -> None:
    run, base = site
    token = run.rt.signer.sign(_id(run, "carl@example.org"), "preferences")
    database = Path(run.settings.database_url.removeprefix("sqlite:///"))
    size = database.stat().st_size
    with httpx.Client(base_url=base, timeout=60) as client:
        _, csrf = _preferences(client, token)
        # The attack of the report, scaled down: 20 topics of 100 KB in one POST.
        big = {"csrf": csrf, "topics": [f"{n}" + "y" * 100_000 for n in range(20)]}
        assert client.post(f"/preferences/{token}", data=big).status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield f"csrf={csrf}".encode()
            for _ in range(100):
                yield b"&topics=" + b"z" * 10_000

        streamed = client.post(
            f"/preferences/{token}",
            content=chunks(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert streamed.status_code == 413
        parts = [("csrf", csrf), *(("topics", f"t{n}") for n in range(600))]
        many = "".join(
            f'--b\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in parts
        )
        crowded = client.post(
            f"/preferences/{token}",
            content=(many + "--b--\r\n").encode(),
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        )
        assert len(many) < 64 * 1024 and crowded.status_code == 400  # too many fields
        expired = client.post(f"/preferences/{token}", data={"csrf": "old", "topics": "privacy"})
        assert expired.status_code == 400 and 'lang="de"' in expired.text
        assert "Dieses Formular ist abgelaufen" in expired.text
    assert _topics_of(run, "carl@example.org") == ["refugees"]
    assert database.stat().st_size < size + 1_000_000


def _no_topics_profile(tmp_path: Path) -> Path:
    text = (EXAMPLES / "mailer.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?ms)^topics = \[.*?\]\n", "", text, count=1)
    assert "freedom of expression" not in text
    path = tmp_path / "mailer.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_only_published_statements_lend_their_topics(tmp_path: Path) -> None:
    run, port = _site(tmp_path, org_file=_no_topics_profile(tmp_path))
    draft = tmp_path / "draft.md"
    draft.write_text(
        "---\nid: draft-en\nlang: en\ntitle: Not yet\ntopics: [Operation Nightfall]\n---\nBody.\n",
        encoding="utf-8",
    )
    embargo = tmp_path / "embargo.md"
    embargo.write_text(
        "---\nid: embargo-en\nlang: en\ntitle: Tomorrow\ntopics: [Minister X report]\n---\nBody.\n",
        encoding="utf-8",
    )
    now = dt.datetime.now(dt.UTC)
    with run.rt.db.session() as session:
        save(session, parse_file(draft))
        save(session, parse_file(embargo))
        session.execute(
            update(StatementRow)
            .where(StatementRow.id == "nso-export-licence-nl")
            .values(published_at=now - dt.timedelta(hours=1))
        )
        session.execute(
            update(StatementRow)
            .where(StatementRow.id == "embargo-en")
            .values(published_at=now + dt.timedelta(days=2))
        )
    token = run.rt.signer.sign(_id(run, "ana@example.org"), "preferences")
    with serve(run.rt, port) as base, httpx.Client(base_url=base) as client:
        page, csrf = _preferences(client, token)
        assert "surveillance" in page and "NSO Group" in page
        assert "Operation Nightfall" not in page and "Minister X" not in page
        client.post(
            f"/preferences/{token}",
            data={"csrf": csrf, "topics": ["Operation Nightfall", "surveillance"]},
        )
    assert _topics_of(run, "ana@example.org") == ["surveillance"]
