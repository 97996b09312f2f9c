"""Triggers with real Redis, `mailer worker --beat` processes and a real SMTP server."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, Workdir
from tests.processes import configure_for, wait_for_state, worker_process
from tests.servers import RedisServer, SMTPServer
from tests.test_campaigns import _org, feed_url  # noqa: F401 - the fixture is used below

pytestmark = pytest.mark.redis


def test_beat_starts_scheduled_campaigns_marks_missed_ones_and_polls_feeds(
    workdir: Workdir,
    redis_server: RedisServer,
    smtp_server: SMTPServer,
    tmp_path: Path,
    feed_url: str,  # noqa: F811
) -> None:
    profile = _org(tmp_path, 'digest = "none"').read_text(encoding="utf-8")
    profile += f'\n[[sources]]\nurl = "{feed_url}"\npublish = true\nurgency = "alert"\n'
    (workdir.path / "mailer.toml").write_text(profile, encoding="utf-8")
    workdir.env["MAILER_ORG_FILE"] = str(workdir.path / "mailer.toml")
    configure_for(workdir, redis_server, smtp_server, db=11)
    workdir.env.update({"MAILER_TICK_SECONDS": "1", "MAILER_SWEEP_SECONDS": "1"})
    workdir.run("statements", "import", str(EXAMPLES / "statements" / "nso-export-licence.en.md"))
    workdir.run("subscribers", "add", "ana@example.org", "--locale", "en", "--consented")
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4)).isoformat()
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    assert (
        workdir.run(
            "campaigns", "create", "--statement", "nso-export-licence-en", "--at", soon
        ).stdout.strip()
        == "1"
    )
    assert (
        workdir.run(
            "campaigns", "create", "--statement", "nso-export-licence-en", "--at", later
        ).stdout.strip()
        == "2"
    )
    # A time already past is refused; the beat was down for a day: campaign 2's time is
    # two hours past when it comes back.
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    with sqlite3.connect(workdir.path / "mailer.db") as connection:
        connection.execute(
            "UPDATE campaigns SET send_at = ? WHERE id = 2",
            (past.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"),),
        )
    connection.close()
    with worker_process(workdir, concurrency=1, beat=True):
        scheduled = wait_for_state(workdir, 1, {"done"})
        missed = wait_for_state(workdir, 2, {"missed"})
        smtp_server.wait_for(2, timeout=30)  # the scheduled campaign and the feed's alert
        time.sleep(3)  # several more ticks read the feed again
    assert scheduled["sent"] == 1 and missed["sent"] == 0
    subjects = sorted(str(r.message()["Subject"]) for r in smtp_server.handler.received)
    assert subjects.count("Spyware firm loses appeal") == 1
    assert len(subjects) == 2
    campaigns = json.loads(workdir.run("campaigns", "list", "--json").stdout)
    assert [c["state"] for c in campaigns] == ["done", "missed", "done"]
