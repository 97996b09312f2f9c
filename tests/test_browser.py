"""In headless Chromium (Debian's): open the link of an email the SMTP server received, click, read.

Screenshots of every page in fr and ar go to test-output/web/.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from mailer.transport.factory import parse_smtp_url
from mailer.transport.smtp import SMTPTransport
from tests.inprocess import InProcess
from tests.servers import SMTPServer, free_port
from tests.webserver import serve

OUTPUT = Path(__file__).resolve().parent.parent / "test-output" / "web"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("CI") != "true",
    reason="Chromium is not installed (apt-get install chromium)",
)

EXPECTED = {
    "fr": ("Oui, je me désinscris", "Votre désinscription est confirmée"),
    "ar": ("نعم، ألغِ اشتراكي", "تم إلغاء اشتراكك"),
}


def _link(smtp: SMTPServer, email: str, kind: str) -> str:
    message = next(r.message() for r in smtp.handler.received if r.rcpt_tos == [email])
    text = message.get_body(("plain",)).get_content()
    found = re.search(rf"(http://127\.0\.0\.1:\d+/{kind}/\S+)", text)
    assert found, text
    return found.group(1)


def test_unsubscribe_in_a_real_browser(tmp_path: Path, smtp_server: SMTPServer) -> None:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None, "CI must have Chromium: .ci/run installs Debian's package"
    port = free_port()
    run = InProcess(
        tmp_path,
        public_url=f"http://127.0.0.1:{port}",
        transport=SMTPTransport(parse_smtp_url(smtp_server.url)),
    )
    run.statements("nso-export-licence.fr.txt", "nso-export-licence.ar.md")
    run.people("email,name,locale\nana@example.org,Ana,fr\nsara@example.org,سارة,ar\n")
    run.send("nso-export-licence-fr")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with serve(run.rt, port), sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
            ],
        )
        try:
            for locale, email in (("fr", "ana@example.org"), ("ar", "sara@example.org")):
                page = browser.new_page(viewport={"width": 600, "height": 800})
                page.goto(_link(smtp_server, email, "preferences"))
                assert page.locator("html").get_attribute("dir") == (
                    "rtl" if locale == "ar" else "ltr"
                )
                page.screenshot(path=str(OUTPUT / f"preferences.{locale}.png"), full_page=True)
                page.goto(_link(smtp_server, email, "u"))
                button, confirmation = EXPECTED[locale]
                page.screenshot(path=str(OUTPUT / f"unsubscribe.{locale}.png"), full_page=True)
                page.get_by_role("button", name=button).click()
                page.wait_for_load_state()
                assert confirmation in page.content()
                page.screenshot(path=str(OUTPUT / f"unsubscribed.{locale}.png"), full_page=True)
                page.goto(_link(smtp_server, email, "view/1"))
                page.screenshot(path=str(OUTPUT / f"view.{locale}.png"), full_page=True)
                page.close()
        finally:
            browser.close()
    statuses = {s.email: s.status for s in _subscribers(run)}
    assert statuses == {"ana@example.org": "unsubscribed", "sara@example.org": "unsubscribed"}


def _subscribers(run: InProcess) -> list:  # type: ignore[type-arg]
    from sqlalchemy import select

    from mailer.store.models import Subscriber

    with run.rt.db.session() as session:
        return list(session.scalars(select(Subscriber)))
