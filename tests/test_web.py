"""Subscriber pages against a running server with a real HTTP client: GET changes nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from mailer.store.models import Delivery, Subscriber
from tests.inprocess import EXAMPLES, InProcess
from tests.servers import free_port
from tests.webserver import serve

PEOPLE = "email,name,locale,topics\nana@example.org,Ana,fr,\nbert@example.org,Bert,nl,\ncarl@example.org,Carl,de,refugees\n"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[InProcess, str]]:
    port = free_port()
    run = InProcess(tmp_path, public_url=f"http://127.0.0.1:{port}")
    run.statements(
        "nso-export-licence.fr.txt", "nso-export-licence.nl.md", "nso-export-licence.en.md"
    )
    run.people(PEOPLE)
    with serve(run.rt, port) as base:
        yield run, base


def _links(run: InProcess, email: str) -> dict[str, str]:
    message = next(m for m in run.messages() if email in str(m["To"]))
    text = message.get_body(("plain",)).get_content()
    found = dict(re.findall(r"(/(?:u|preferences|view/\d+))/(\S+)", text))
    return {
        "u": found["/u"],
        "preferences": found["/preferences"],
        "view": next(k for k in found if k.startswith("/view"))
        + "/"
        + found[next(k for k in found if k.startswith("/view"))],
    }


def _status(run: InProcess, email: str) -> str:
    with run.rt.db.session() as session:
        return session.scalars(select(Subscriber.status).where(Subscriber.email == email)).one()


def test_get_changes_nothing_and_post_unsubscribes_once(site: tuple[InProcess, str]) -> None:
    run, base = site
    run.send("nso-export-licence-fr")
    links = _links(run, "ana@example.org")
    with httpx.Client(base_url=base) as client:
        for _ in range(3):  # a corporate link scanner follows the link, several times
            page = client.get(f"/u/{links['u']}")
            assert (
                page.status_code == 200
                and 'lang="fr"' in page.text
                and "Se désinscrire" in page.text
            )
        assert _status(run, "ana@example.org") == "subscribed"
        assert "ana@example.org" not in page.text  # no page says who is subscribed
        # RFC 8058: the mail client POSTs List-Unsubscribe=One-Click, no cookie, no login.
        first = client.post(f"/u/{links['u']}", data={"List-Unsubscribe": "One-Click"})
        second = client.post(f"/u/{links['u']}", data={"List-Unsubscribe": "One-Click"})
    assert first.status_code == second.status_code == 200
    assert _status(run, "ana@example.org") == "unsubscribed"
    status = run.send("nso-export-licence-fr")
    with run.rt.db.session() as session:
        reason = session.scalars(
            select(Delivery.reason)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.campaign_id == status["id"], Subscriber.email == "ana@example.org")
        ).one()
    assert reason == "unsubscribed"


def test_forged_altered_and_wrong_purpose_tokens_get_404(site: tuple[InProcess, str]) -> None:
    run, base = site
    run.send("nso-export-licence-fr")
    links = _links(run, "bert@example.org")
    with httpx.Client(base_url=base) as client:
        for url in (
            f"/u/{links['u'][:-2]}xx",
            f"/u/{links['preferences']}",  # a preferences token does not unsubscribe
            "/u/forged",
            f"/preferences/{links['u']}",
            "/confirm/forged",
            f"/view/1/{links['u']}",
        ):
            refused = client.get(url)
            assert refused.status_code == 404, url
            # The not-found page, in the default language: not a page of someone's data.
            assert 'lang="fr"' in refused.text and "Ce lien n’est pas valide" in refused.text, url
            assert client.post(url, data={"List-Unsubscribe": "One-Click"}).status_code in (
                404,
                405,
            ), url
        assert client.get("/healthz").text == "ok"
    assert _status(run, "bert@example.org") == "subscribed"


def test_preferences_reach_the_next_campaign(site: tuple[InProcess, str]) -> None:
    run, base = site
    run.send("nso-export-licence-fr")
    links = (
        _links(run, "carl@example.org")
        if any("carl" in str(m["To"]) for m in run.messages())
        else None
    )
    assert links is None  # Carl follows only "refugees": not routed to the NSO alert
    with run.rt.db.session() as session:
        carl = session.scalars(
            select(Subscriber).where(Subscriber.email == "carl@example.org")
        ).one()
        token = run.rt.signer.sign(carl.id, "preferences")
    with httpx.Client(base_url=base) as client:
        page = client.get(f"/preferences/{token}")
        # Carl's own page in his language (the 404 page is in the default, French).
        assert page.status_code == 200 and 'lang="de"' in page.text, page.text
        assert "Ihre Einstellungen" in page.text and "Einstellungen speichern" in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        forged = client.post(
            f"/preferences/{token}",
            data={"locale": "nl", "topics": ["surveillance"], "alert_pref": "alerts"},
        )
        assert forged.status_code == 400
        saved = client.post(
            f"/preferences/{token}",
            data={
                "csrf": csrf,
                "locale": "nl",
                "topics": ["surveillance"],
                "alert_pref": "alerts",
                "country": "BE",
            },
        )
        assert saved.status_code == 200 and 'lang="nl"' in saved.text
        assert "Je voorkeuren zijn opgeslagen." in saved.text, saved.text
    status = run.send("nso-export-licence-fr")
    received = next(
        m
        for m in run.messages()
        if "carl@example.org" in str(m["To"]) and m["X-Mailer-Campaign"] == str(status["id"])
    )
    assert received["Content-Language"] == "nl"


def test_view_online_and_double_opt_in(site: tuple[InProcess, str]) -> None:
    run, base = site
    run.send("nso-export-licence-fr")
    links = _links(run, "bert@example.org")
    with httpx.Client(base_url=base) as client:
        online = client.get(f"{links['view']}")
        assert (
            online.status_code == 200
            and "Teken de petitie" in online.text
            and "Beste Bert," in online.text
        )
    from mailer.subscribers.store import upsert
    from mailer.subscribers.validate import validate_row

    with run.rt.db.session() as session:
        dora = upsert(
            session,
            validate_row({"email": "dora@example.org", "locale": "fr"}),
            consented=False,
            source="web",
        ).subscriber
        token = run.rt.signer.sign_expiring(dora.id)
    with httpx.Client(base_url=base) as client:
        # Dora's page in her language, French: the 404 page is French too, so its words.
        confirm = client.get(f"/confirm/{token}")
        assert confirm.status_code == 200 and 'lang="fr"' in confirm.text, confirm.text
        assert "Je confirme mon inscription" in confirm.text
        assert _status(run, "dora@example.org") == "pending"
        done = client.post(f"/confirm/{token}")
        assert done.status_code == 200
    assert _status(run, "dora@example.org") == "subscribed"


def test_mailto_unsubscribe_through_inbound(site: tuple[InProcess, str], tmp_path: Path) -> None:
    run, _ = site
    run.send("nso-export-licence-fr")
    message = next(m for m in run.messages() if "bert@example.org" in str(m["To"]))
    mailto = re.search(r"<mailto:([^?]+)\?subject=([^>]+)>", str(message["List-Unsubscribe"]))
    assert mailto
    from urllib.parse import unquote

    raw = f"From: bert@example.org\r\nTo: {mailto.group(1)}\r\nSubject: {unquote(mailto.group(2))}\r\n\r\n".encode()
    env = {
        "MAILER_DATABASE_URL": run.settings.database_url,
        "MAILER_SECRET_KEY": "in-process-test-key-of-the-test-suite-0123",
        "MAILER_ORG_FILE": str(EXAMPLES / "mailer.toml"),
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    result = subprocess.run(
        [sys.executable, "-m", "mailer", "inbound"],
        input=raw,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0 and b"unsubscribed" in result.stdout
    assert _status(run, "bert@example.org") == "unsubscribed"
