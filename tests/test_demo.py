"""`mailer demo` on the embedded defaults: one email per eligible subscriber, in their language."""

from __future__ import annotations

import mailbox
import re
from email import message_from_bytes, policy

from tests.conftest import Workdir
from tests.expectations import eligible_for_nso, language_of

CTA_LABELS = {
    "fr": "Signez la pétition",
    "nl": "Teken de petitie",
    "de": "Petition unterschreiben",
    "en": "Sign the petition",
}


def test_demo_sends_one_localized_email_per_eligible_subscriber(bare_workdir: Workdir) -> None:
    # A new interpreter, as a new user's first command: nothing imported beforehand.
    result = bare_workdir.run("demo", fresh=True)
    assert "sent" in result.stdout
    expected = eligible_for_nso()
    box = mailbox.Maildir(bare_workdir.path / "outbox", create=False)
    messages = [message_from_bytes(box.get_bytes(key), policy=policy.default) for key in box.keys()]  # noqa: SIM118
    assert len(messages) == len(expected)
    recipients = [m["Delivered-To"] for m in messages]
    assert sorted(recipients) == sorted(expected)
    titles = {}
    for message in messages:
        lang = language_of(expected[message["Delivered-To"]])
        assert message["Content-Language"].split("-")[0] == lang
        titles.setdefault(lang, set()).add(str(message["Subject"]))
        html = message.get_body(("html",)).get_content()
        assert re.search(rf'<html[^>]* lang="{lang}', html)
        assert CTA_LABELS[lang] in html
    # One subject per language, each different: the statement title in that language.
    assert all(len(subjects) == 1 for subjects in titles.values())
    assert len({next(iter(s)) for s in titles.values()}) == 4
    assert titles["fr"] == {
        "Israël, Rejet de la demande d’annulation de la licence d’exportation de NSO Group"
    }
    previews = sorted(p.name for p in (bare_workdir.path / "previews").iterdir())
    assert previews == [
        f"nso-export-licence.{lang}.html" for lang in ("ar", "de", "en", "fr", "nl")
    ]


def test_demo_twice_does_not_send_twice(bare_workdir: Workdir) -> None:
    bare_workdir.run("demo")
    second = bare_workdir.run("demo")
    assert "already announced" in second.stderr
    assert len(list(bare_workdir.outbox.iterdir())) == len(eligible_for_nso())
