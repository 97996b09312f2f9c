"""Rendering: once per variant (premailer never per recipient), escaped personal fields, pure output."""

from __future__ import annotations

import subprocess
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path

from mailer.campaigns.status import campaign_status
from mailer.config import load_settings
from mailer.org import load_profile
from mailer.render import render_email
from mailer.render.inline import inline_count
from mailer.runtime import build_runtime
from mailer.statements import parse_file
from mailer.statements.repository import save
from mailer.subscribers.importer import import_csv
from mailer.transport.memory import MemoryTransport
from tests.conftest import EXAMPLES, SEED
from tests.expectations import eligible_for_nso


def test_premailer_runs_once_per_locale_not_per_recipient(tmp_path: Path) -> None:
    from workers.app import configure, set_runtime
    from workers.embedded import embedded_worker
    from workers.tasks import announce_statement

    settings = load_settings(
        {
            "MAILER_DATABASE_URL": f"sqlite:///{tmp_path}/m.db",
            "MAILER_DATA_DIR": str(tmp_path / "data"),
            "MAILER_ORG_FILE": str(EXAMPLES / "mailer.toml"),
            "MAILER_BATCH_SIZE": "7",
        }
    )
    transport = MemoryTransport()
    rt = build_runtime(settings, transport=transport)
    with rt.db.session() as session:
        for path in sorted((EXAMPLES / "statements").iterdir()):
            save(session, parse_file(path))
    import_csv(rt.db, EXAMPLES / "subscribers.csv", consented=True)
    app = configure(settings)
    set_runtime(rt)
    before = inline_count()
    try:
        with embedded_worker(app):
            announce_statement.delay("nso-export-licence-de")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with rt.db.session() as session:
                    if (
                        campaign_status(session, 1)["state"] == "done"
                        if _exists(session)
                        else False
                    ):
                        break
                time.sleep(0.1)
    finally:
        set_runtime(None)
    expected = eligible_for_nso()
    assert len(transport.outbox) == len(expected)
    locales = {locale for locale in expected.values()}
    # fr, fr_BE, nl, nl_BE, de, en: six variants, each inlined exactly once across 20+ batches.
    assert inline_count() - before == len(locales)
    message = message_from_bytes(transport.outbox[0].message, policy=policy.default)
    html = message.get_body(("html",)).get_content()
    assert "<style" in html  # the media queries stay in a style block ...
    assert 'style="' in html and ".lead {" not in html  # ... every other rule is inlined


def _exists(session: object) -> bool:
    from mailer.store.models import Campaign

    return session.get(Campaign, 1) is not None  # type: ignore[attr-defined]


def test_personal_fields_are_escaped_in_html_and_kept_in_text() -> None:
    statement = parse_file(SEED)
    variant = render_email(
        "alert", statement, locale="fr", org=load_profile(EXAMPLES / "mailer.toml")
    )
    fields = {
        "greeting": variant.greeting('Zoë <b>"x"</b> & l\'équipe'),
        "unsubscribe_url": "https://example.org/u/a?b=1&c=2",
        "preferences_url": "https://example.org/p",
        "view_url": "https://example.org/v",
    }
    html = variant.html.fill(fields)
    text = variant.text.fill(fields)
    # Both quotes escaped (an attribute could hold the name), and nothing of it left raw.
    assert "Bonjour Zoë &lt;b&gt;&quot;x&quot;&lt;/b&gt; &amp; l&#x27;équipe," in html
    assert "Zoë <b>" not in html and '<b>"x"' not in html and "l'équipe" not in html
    assert 'href="https://example.org/u/a?b=1&amp;c=2"' in html
    assert 'Bonjour Zoë <b>"x"</b> & l\'équipe,' in text
    assert "https://example.org/u/a?b=1&c=2" in text
    assert variant.subject == statement.title
    assert variant.greeting("  ") == "Bonjour,"


def test_rendering_is_deterministic() -> None:
    statement = parse_file(SEED)
    org = load_profile(EXAMPLES / "mailer.toml")
    first = render_email("alert", statement, locale="fr_BE", org=org)
    second = render_email("alert", statement, locale="fr_BE", org=org)
    assert first.html == second.html and first.text == second.text
    assert first.lang == "fr-BE"


def test_preload_imports_premailer_uncounted_in_a_fresh_process() -> None:
    # `mailer worker` calls it before the pool forks: every child inherits premailer, warm.
    code = (
        "import sys\n"
        "from mailer.render.inline import inline_count, preload\n"
        "assert 'premailer' not in sys.modules\n"
        "preload()\n"
        "assert {'premailer', 'cssutils'} <= set(sys.modules)\n"
        "assert inline_count() == 0\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
