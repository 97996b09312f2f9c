"""`send --test-to`: every version of the group, each marked as a test, with no working personal link."""

from __future__ import annotations

from pathlib import Path

from mailer.campaigns.preview_run import send_test
from tests.inprocess import InProcess

PUBLIC = "http://127.0.0.1:8000"


def test_test_to_sends_every_version_marked_and_without_personal_links(tmp_path: Path) -> None:
    run = InProcess(tmp_path, public_url=PUBLIC)
    run.statements(
        "nso-export-licence.fr.txt",
        "nso-export-licence.nl.md",
        "nso-export-licence.de.md",
        "nso-export-licence.en.md",
        "nso-export-licence.ar.md",
    )
    run.people("email,locale\nana@example.org,en\n")  # the audience needs only English
    sent = send_test(run.rt, "nso-export-licence-en", "editor@example.org")
    assert sorted(sent) == [
        "ar/nso-export-licence-ar",
        "de/nso-export-licence-de",
        "en/nso-export-licence-en",
        "fr/nso-export-licence-fr",
        "nl/nso-export-licence-nl",
    ]
    messages = run.messages()
    assert len(messages) == 5
    for message in messages:
        assert str(message["Subject"]).startswith("[TEST] ")
        html = message.get_body(("html",)).get_content()
        text = message.get_body(("plain",)).get_content()
        assert "[TEST]" in html.split("<body", 1)[1][:600]
        assert text.startswith("[TEST] ")
        for part in (html, text, str(message["List-Unsubscribe"])):
            assert PUBLIC not in part  # no /u/, /preferences/ or /view/ link of anybody
        assert "https://example.org/#test-email" in str(message["List-Unsubscribe"])
        assert "https://example.org/#test-email" in html
    english = next(m for m in messages if m["Content-Language"] == "en")
    assert "Test email: no subscriber received it" in english.get_body(("plain",)).get_content()
