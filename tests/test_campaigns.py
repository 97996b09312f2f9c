"""Triggers, digests, schedules and caps, with an injected clock (no sleeps), on a real worker."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailer.campaigns.digest import create_digest, digest_due
from mailer.campaigns.preview_run import dry_run, send_test
from mailer.campaigns.publish import publish
from mailer.campaigns.schedule import start_due
from mailer.campaigns.tick import poll_sources, tick
from mailer.org import load_profile
from mailer.store.models import Campaign, Delivery, StatementRow
from tests.inprocess import EXAMPLES, InProcess
from tests.servers import free_port

UTC = dt.UTC
PROFILE = (EXAMPLES / "mailer.toml").read_text(encoding="utf-8")


def _org(tmp_path: Path, extra: str = "") -> Path:
    """The example profile plus organisation settings (inserted in [organisation])."""
    text = PROFILE.replace(
        'timezone = "Europe/Brussels"\n', f'timezone = "Europe/Brussels"\n{extra}\n', 1
    )
    path = tmp_path / "mailer.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _news(tmp_path: Path, key: str, title: str) -> Path:
    path = tmp_path / f"{key}.en.md"
    path.write_text(
        f"---\ntitle: {title}\nlang: en\nurgency: news\ntopics: [surveillance]\ndate: 2024-07-20\n---\n"
        f"A news item about {title.lower()}, published for the weekly digest.\n",
        encoding="utf-8",
    )
    return path


def _import(run: InProcess, *paths: Path) -> None:
    from mailer.statements import parse_file
    from mailer.statements.repository import save

    with run.rt.db.session() as session:
        for path in paths:
            save(session, parse_file(path))


def test_digest_is_due_weekly_in_the_organisations_time_zone(tmp_path: Path) -> None:
    org = load_profile(_org(tmp_path, 'digest = "mon 08:00"'))
    monday_0759 = dt.datetime(2026, 11, 30, 6, 59, tzinfo=UTC)  # 07:59 in Brussels (UTC+1)
    monday_0800 = dt.datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    last_week = dt.datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert not digest_due(org, last=last_week, now=monday_0759)
    assert digest_due(org, last=last_week, now=monday_0800)
    assert not digest_due(org, last=monday_0800, now=monday_0800 + dt.timedelta(days=3))
    assert digest_due(org, last=monday_0800, now=monday_0800 + dt.timedelta(days=7))


def test_news_waits_for_the_digest_and_alerts_go_at_once(tmp_path: Path) -> None:
    run = InProcess(tmp_path, org_file=_org(tmp_path))
    run.statements("nso-export-licence.en.md")
    run.people("email,locale,alerts\nalert@example.org,en,true\ndigest@example.org,en,false\n")
    _import(
        run,
        _news(tmp_path, "spyware-report", "Spyware report"),
        _news(tmp_path, "court-hearing", "Court hearing"),
    )
    news = publish(run.rt.db, run.rt.org, "spyware-report-en")
    assert news.routed_to_digest
    alert = publish(run.rt.db, run.rt.org, "nso-export-licence-en")
    assert alert.campaign_id is not None
    status = run.resume(alert.campaign_id)
    assert [str(m["To"]) for m in run.messages()] == ["alert@example.org"]
    assert status["skipped_reasons"] == {"alerts off": 1}
    publish(run.rt.db, run.rt.org, "court-hearing-en")
    now = dt.datetime.now(UTC)
    digest = create_digest(run.rt.db, now=now)
    assert digest is not None
    status = run.resume(digest)
    assert status["sent"] == 2
    digests = [m for m in run.messages() if m["X-Mailer-Campaign"] == str(digest)]
    assert {str(m["To"]) for m in digests} == {"alert@example.org", "digest@example.org"}
    by_person = {str(m["To"]): m for m in digests}
    text = by_person["digest@example.org"].get_body(("plain",)).get_content()
    assert "Spyware report" in text and "Court hearing" in text and "Israel" in text
    assert (
        by_person["digest@example.org"]["Subject"]
        == "3 new statements from Amnesty International Belgique (example)"
    )
    # The alert's reader does not get it again in the digest.
    alerted = by_person["alert@example.org"].get_body(("plain",)).get_content()
    assert "Spyware report" in alerted and "Israel" not in alerted
    # Nothing new since: no digest, nothing sent.
    assert create_digest(run.rt.db, now=now + dt.timedelta(days=7)) is None


def test_scheduled_campaigns_start_on_time_or_are_missed(tmp_path: Path) -> None:
    run = InProcess(tmp_path)
    run.statements("nso-export-licence.en.md")
    run.people("email,locale\nana@example.org,en\n")
    base = dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with run.rt.db.session() as session:
        on_time = Campaign(
            kind="manual",
            statement_id="nso-export-licence-en",
            translation_key="nso-export-licence",
            state="scheduled",
            send_at=base,
            items=[],
            missing="fallback",
        )
        late = Campaign(
            kind="manual",
            statement_id="nso-export-licence-en",
            translation_key="nso-export-licence",
            state="scheduled",
            send_at=base - dt.timedelta(hours=2),
            items=[],
            missing="fallback",
        )
        session.add_all([on_time, late])
    assert start_due(run.rt.db, run.rt.org, now=base - dt.timedelta(minutes=1)) == []
    with run.rt.db.session() as session:
        assert session.get(Campaign, late.id).state == "missed"  # type: ignore[union-attr]
    assert start_due(run.rt.db, run.rt.org, now=base + dt.timedelta(seconds=30)) == [on_time.id]
    status = run.resume(on_time.id)
    assert status["sent"] == 1
    with run.rt.db.session() as session:
        missed = session.get(Campaign, late.id)
        assert (
            missed is not None
            and missed.state == "missed"
            and "campaigns resume" in (missed.note or "")
        )


def test_frequency_cap_skips_the_second_alert_but_not_an_urgent_one(tmp_path: Path) -> None:
    run = InProcess(tmp_path, org_file=_org(tmp_path, "max_alerts_per_day = 1"))
    run.people("email,locale\nana@example.org,en\n")
    first, second, urgent = (tmp_path / f"{name}.en.md" for name in ("first", "second", "urgent"))
    for path, extra in ((first, ""), (second, ""), (urgent, "urgent: true\n")):
        path.write_text(
            f"---\ntitle: {path.stem} alert\nlang: en\n{extra}---\nBody of the {path.stem} alert.\n",
            encoding="utf-8",
        )
    _import(run, first, second, urgent)
    statuses = []
    for statement in ("first-en", "second-en", "urgent-en"):
        result = publish(run.rt.db, run.rt.org, statement)
        assert result.campaign_id is not None
        statuses.append(run.resume(result.campaign_id))
    assert [s["sent"] for s in statuses] == [1, 0, 1]
    assert statuses[1]["skipped_reasons"] == {"frequency cap": 1}


class _Feed(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def feed_url() -> Iterator[str]:
    _Feed.body = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Press</title>'
        b"<language>en</language><item><title>Spyware firm loses appeal</title>"
        b"<guid>https://example.org/en/press/42</guid><link>https://example.org/en/press/42</link>"
        b"<description>&lt;p&gt;The court confirmed today that the export licence is withdrawn.&lt;/p&gt;"
        b"</description></item></channel></rss>"
    )
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Feed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/feed.xml"
    finally:
        server.shutdown()


def test_a_feed_entry_triggers_one_alert_however_often_it_is_read(
    tmp_path: Path, feed_url: str
) -> None:
    org = _org(tmp_path, 'digest = "none"').read_text(encoding="utf-8") + (
        f'\n[[sources]]\nurl = "{feed_url}"\npublish = true\nurgency = "alert"\n'
    )
    (tmp_path / "mailer.toml").write_text(org, encoding="utf-8")
    run = InProcess(tmp_path, org_file=tmp_path / "mailer.toml")
    run.people("email,locale\nana@example.org,en\n")
    first = poll_sources(run.rt.db, run.rt.org)
    again = tick(run.rt.db, run.rt.org, now=dt.datetime.now(UTC))
    assert len(first) == 1 and again == []
    run.resume(first[0])
    (message,) = run.messages()
    assert message["Subject"] == "Spyware firm loses appeal"
    with run.rt.db.session() as session:
        assert session.scalar(select(func.count()).select_from(StatementRow)) == 1


def test_dry_run_writes_nothing_and_test_to_sends_each_variant(tmp_path: Path) -> None:
    run = InProcess(tmp_path)
    run.statements(
        "nso-export-licence.fr.txt", "nso-export-licence.nl.md", "nso-export-licence.de.md"
    )
    run.people((EXAMPLES / "subscribers.csv").read_text(encoding="utf-8"))
    plan = dry_run(run.rt, "nso-export-licence-nl")
    with run.rt.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Campaign)) == 0
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
    summary = plan.as_json()
    assert summary["would_send"] == 142
    # No English version: English readers fall back to the default (fr), written in French.
    assert {row["locale"] for row in summary["by_locale"]} == {"fr", "fr_BE", "nl", "nl_BE", "de"}
    french = next(r for r in summary["by_locale"] if r["locale"] == "fr")
    assert french["version"] == "nso-export-licence-fr" and french["count"] == 44 + 24
    assert summary["skipped"]["topic mismatch"] == 44
    sent = send_test(run.rt, "nso-export-licence-nl", "editor@example.org")
    assert len(sent) == len(summary["by_locale"])
    assert {str(m["To"]) for m in run.messages()} == {"editor@example.org"}
