"""The public pages in headless Chromium (Debian's): signup and archive in every locale of the
profile, at 375 and 1280 px, and a person subscribing from the page through to the confirmation.

Screenshots go to test-output/web/.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.statements.repository import mark_published
from mailer.store.models import Subscriber
from mailer.transport.factory import parse_smtp_url
from mailer.transport.smtp import SMTPTransport
from tests.inprocess import InProcess
from tests.servers import SMTPServer, free_port
from tests.webserver import serve

OUTPUT = Path(__file__).resolve().parent.parent / "test-output" / "web"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTHS = (375, 1280)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("CI") != "true",
    reason="Chromium is not installed (apt-get install chromium)",
)


def _confirmation(smtp: SMTPServer, email: str, timeout: float = 30) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for received in list(smtp.handler.received):
            if received.rcpt_tos == [email]:
                message = received.message()
                text = message.get_body(("plain",)).get_content()
                found = re.search(r"(http://127\.0\.0\.1:\d+/confirm/\S+)", text)
                assert found, text
                return str(message["Content-Language"]), found.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no confirmation email for {email}")


def test_public_pages_in_every_locale_and_a_signup_in_a_real_browser(
    tmp_path: Path, smtp_server: SMTPServer
) -> None:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None, "CI must have Chromium: .ci/run installs Debian's package"
    port = free_port()
    run = InProcess(
        tmp_path,
        public_url=f"http://127.0.0.1:{port}",
        transport=SMTPTransport(parse_smtp_url(smtp_server.url)),
    )
    run.statements(
        "nso-export-licence.fr.txt",
        "nso-export-licence.nl.md",
        "nso-export-licence.de.md",
        "nso-export-licence.en.md",
        "nso-export-licence.ar.md",
    )
    with run.rt.db.session() as session:
        mark_published(session, "nso-export-licence")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with run.worker(), serve(run.rt, port) as base, sync_playwright() as playwright:
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
            for locale in run.rt.org.locales:
                direction = "rtl" if locale == "ar" else "ltr"
                for width in WIDTHS:
                    page = browser.new_page(viewport={"width": width, "height": 900})
                    for name, path in (
                        ("subscribe", f"/subscribe/{locale}"),
                        ("archive", f"/archive/{locale}"),
                        ("archive-statement", f"/archive/{locale}/nso-export-licence-{locale}"),
                    ):
                        answer = page.goto(base + path)
                        assert answer is not None and answer.status == 200, path
                        assert page.locator("html").get_attribute("dir") == direction
                        assert page.locator("html").get_attribute("lang") == locale
                        # Nothing wider than the screen: no sideways scrolling on a phone.
                        overflow = page.evaluate(
                            "document.documentElement.scrollWidth - window.innerWidth"
                        )
                        assert overflow <= 0 or name == "archive-statement", (path, width)
                        page.screenshot(
                            path=str(OUTPUT / f"{name}.{locale}.{width}.png"), full_page=True
                        )
                    page.close()
            # A person subscribes from the page, in Arabic, and confirms from the email.
            page = browser.new_page(viewport={"width": 375, "height": 900})
            page.goto(base + "/subscribe/ar")
            page.fill("#email", "layla@example.org")
            page.fill("#name", "ليلى")
            page.check("input[name=topics][value='surveillance']")
            page.select_option("select[name=country]", "MA")
            page.get_by_role("button", name="اشترك", exact=True).click()
            page.wait_for_load_state()
            assert "تحقّق من بريدك الوارد" in page.content()
            page.screenshot(path=str(OUTPUT / "subscribe_sent.ar.375.png"), full_page=True)
            language, link = _confirmation(smtp_server, "layla@example.org")
            assert language == "ar"
            page.goto(link)
            assert _status(run, "layla@example.org") == "pending"  # opening the link is not enough
            page.get_by_role("button", name="تأكيد اشتراكي").click()
            page.wait_for_load_state()
            page.screenshot(path=str(OUTPUT / "subscribe_confirmed.ar.375.png"), full_page=True)
            page.close()
        finally:
            browser.close()
    with run.rt.db.session() as session:
        layla = session.scalars(
            select(Subscriber).where(Subscriber.email == "layla@example.org")
        ).one()
        assert (layla.status, layla.locale, layla.country, layla.topics) == (
            "subscribed",
            "ar",
            "MA",
            ["surveillance"],
        )


def _status(run: InProcess, email: str) -> str:
    with run.rt.db.session() as session:
        return session.scalars(select(Subscriber.status).where(Subscriber.email == email)).one()
