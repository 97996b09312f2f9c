"""The digest per person: their topics, nothing they already received, each item in its own
language and direction, the period stored on the campaign; a digest failure loses nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from mailer.campaigns.digest import create_digest
from mailer.campaigns.plan import create_campaign
from mailer.campaigns.publish import publish
from mailer.campaigns.tick import tick_report
from mailer.ledger import campaigns
from mailer.render.dates import long_date
from mailer.statements import parse_file
from mailer.statements.repository import save
from mailer.store.models import Campaign, Meta
from tests.inprocess import InProcess

UTC = dt.UTC


def _news(run: InProcess, key: str, lang: str, title: str, topics: str) -> str:
    path = run.tmp_path / f"{key}.{lang}.md"
    path.write_text(
        f"---\nid: {key}-{lang}\ntitle: {title}\nlang: {lang}\ntranslation_key: {key}\n"
        f"urgency: news\ntopics: [{topics}]\ndate: 2026-11-20\n---\n"
        f"{title}: a statement published for the digest, with a few words of its own.\n",
        encoding="utf-8",
    )
    with run.rt.db.session() as session:
        save(session, parse_file(path))
    publish(run.rt.db, run.rt.org, f"{key}-{lang}")
    return f"{key}-{lang}"


def _digests(run: InProcess, campaign_id: int) -> dict[str, str]:
    return {
        str(m["To"]): m.get_body(("plain",)).get_content()
        for m in run.messages()
        if m["X-Mailer-Campaign"] == str(campaign_id)
    }


def test_the_digest_follows_each_persons_topics_and_skips_what_they_received(
    tmp_path: Path,
) -> None:
    run = InProcess(tmp_path)
    run.statements("nso-export-licence.en.md")
    run.people(
        "email,locale,topics,alerts\n"
        "detention@example.org,en,détention,false\n"
        "everything@example.org,en,,false\n"
        "alerted@example.org,en,surveillance,true\n"
    )
    alert = publish(run.rt.db, run.rt.org, "nso-export-licence-en")
    assert alert.campaign_id is not None
    run.resume(alert.campaign_id)  # alerted@ receives the NSO alert
    _news(run, "prison-visit", "en", "Prison visit", "Détention")
    _news(run, "spyware-fair", "en", "Spyware fair", "surveillance")
    digest = create_digest(run.rt.db, now=dt.datetime.now(UTC))
    assert digest is not None
    status = run.resume(digest)
    got = _digests(run, digest)
    assert set(got) == {"detention@example.org", "everything@example.org", "alerted@example.org"}
    assert "Prison visit" in got["detention@example.org"]
    assert "Spyware fair" not in got["detention@example.org"]
    assert "Israel" not in got["detention@example.org"]
    for title in ("Prison visit", "Spyware fair", "Israel"):
        assert title in got["everything@example.org"]
    assert "Spyware fair" in got["alerted@example.org"]
    assert "Israel" not in got["alerted@example.org"]  # already received as an alert
    assert "1 new statement" in got["alerted@example.org"]
    assert status["sent"] == 3


def test_a_person_whose_digest_would_only_repeat_gets_none(tmp_path: Path) -> None:
    run = InProcess(tmp_path)
    run.statements("nso-export-licence.en.md")
    run.people("email,locale,alerts\nana@example.org,en,true\n")
    alert = publish(run.rt.db, run.rt.org, "nso-export-licence-en")
    assert alert.campaign_id is not None
    run.resume(alert.campaign_id)
    digest = create_digest(run.rt.db, now=dt.datetime.now(UTC))
    assert digest is not None
    status = run.resume(digest)
    assert status["sent"] == 0 and status["skipped_reasons"] == {"already received": 1}


def test_a_french_fallback_item_in_the_arabic_digest_is_left_to_right(tmp_path: Path) -> None:
    run = InProcess(tmp_path)
    run.statements("nso-export-licence.ar.md")
    run.people("email,locale,alerts\nar@example.org,ar,false\n")
    publish(run.rt.db, run.rt.org, "nso-export-licence-ar")
    _news(run, "prison-visit", "fr", "Visite de prison", "détention")
    digest = create_digest(run.rt.db, now=dt.datetime.now(UTC))
    assert digest is not None
    run.resume(digest)
    (message,) = [m for m in run.messages() if m["X-Mailer-Campaign"] == str(digest)]
    html = message.get_body(("html",)).get_content()
    assert '<html lang="ar" dir="rtl"' in html
    assert 'lang="fr" dir="ltr"' in html and "Visite de prison" in html
    assert 'lang="ar" dir="rtl"' in html.split("<body", 1)[1]


def test_the_digest_period_is_stored_on_the_campaign(tmp_path: Path) -> None:
    run = InProcess(tmp_path)
    run.people("email,locale,alerts\nana@example.org,en,false\n")
    last = dt.datetime.now(UTC) - dt.timedelta(days=2)  # a late digest: two days, not seven
    with run.rt.db.session() as session:
        session.add(Meta(key="digest_last_run", value=last.isoformat()))
    _news(run, "prison-visit", "en", "Prison visit", "détention")
    now = dt.datetime.now(UTC)
    digest = create_digest(run.rt.db, now=now)
    assert digest is not None
    with run.rt.db.session() as session:
        campaign = session.get(Campaign, digest)
        assert campaign is not None
        assert (campaign.period_start, campaign.period_end) == (last, now)
    run.resume(digest)
    (text,) = _digests(run, digest).values()
    zone = ZoneInfo("Europe/Brussels")
    start, end = last.astimezone(zone).date(), now.astimezone(zone).date()
    assert f"{long_date(start, 'en')} to {long_date(end, 'en')}" in text
    week = (now - dt.timedelta(days=7)).astimezone(zone).date()
    assert long_date(week, "en") not in text


def test_a_digest_failure_does_not_lose_the_due_campaigns(tmp_path: Path) -> None:
    run = InProcess(tmp_path)
    run.statements("nso-export-licence.en.md")
    run.people("email,locale\nana@example.org,en\n")
    now = dt.datetime.now(UTC)
    with run.rt.db.session() as session:
        session.add(Meta(key="digest_last_run", value="not a time"))  # a broken record
        campaign = create_campaign(session, org=run.rt.org, statement_id="nso-export-licence-en")
        campaigns.schedule(session, campaign.id, now - dt.timedelta(seconds=10))
    done = tick_report(run.rt.db, run.rt.org, now=now)
    assert done.campaigns == [campaign.id]
    assert any(line.startswith("digest failed: ValueError") for line in done.lines)
    assert run.resume(campaign.id)["sent"] == 1
