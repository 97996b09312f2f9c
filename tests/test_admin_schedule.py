"""What time starts: held rows released by `tick`, a past --at refused, a missed campaign said and shown."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

from mailer.campaigns.missing import parse_missing
from mailer.campaigns.plan import create_campaign
from mailer.campaigns.status import campaign_status
from mailer.campaigns.tick import tick_report
from mailer.cli.common import print_table
from mailer.cli.progress import status_table
from mailer.cli.terminal import SafeConsole
from mailer.ledger import campaigns
from tests.conftest import EXAMPLES, Workdir
from tests.inprocess import InProcess

UTC = dt.UTC


def test_tick_releases_held_rows_whose_wait_is_over(tmp_path: Path) -> None:
    run = InProcess(tmp_path)
    run.statements("nso-export-licence.fr.txt")
    run.people("email,locale\na@example.org,fr\nd@example.org,de\n")
    status = run.send("nso-export-licence-fr", missing=parse_missing("wait=48h"))
    assert (status["sent"], status["held"]) == (1, 1)
    soon = tick_report(run.rt.db, run.rt.org, now=dt.datetime.now(UTC) + dt.timedelta(hours=1))
    assert status["id"] not in soon.campaigns  # still waiting
    later = tick_report(run.rt.db, run.rt.org, now=dt.datetime.now(UTC) + dt.timedelta(hours=49))
    assert status["id"] in later.campaigns
    assert f"campaign {status['id']}: held rows released (their wait is over)" in later.lines
    status = run.resume(status["id"])
    assert (status["sent"], status["held"], status["state"]) == (2, 0, "done")
    german = next(m for m in run.messages() if str(m["To"]) == "d@example.org")
    assert german["Content-Language"] == "fr"


def test_the_tick_that_marks_a_campaign_missed_says_so_and_status_shows_the_note(
    tmp_path: Path,
) -> None:
    run = InProcess(tmp_path)
    run.statements("nso-export-licence.en.md")
    run.people("email,locale\nana@example.org,en\n")
    due = dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with run.rt.db.session() as session:
        campaign = create_campaign(session, org=run.rt.org, statement_id="nso-export-licence-en")
        campaigns.schedule(session, campaign.id, due)
    done = tick_report(run.rt.db, run.rt.org, now=due + dt.timedelta(hours=3))
    assert done.campaigns == []
    (line,) = done.lines
    assert line.startswith(f"campaign {campaign.id}: missed: due 2026-12-01 09:00 UTC")
    with run.rt.db.session() as session:
        status = campaign_status(session, campaign.id)
    out = io.StringIO()
    print_table(status_table(status), SafeConsole(file=out, width=80, color_system=None))
    shown = " ".join(out.getvalue().split())
    assert "missed: due 2026-12-01 09:00 UTC" in shown
    assert f"mailer campaigns resume {campaign.id}" in shown
    assert "nso-export-licence ·" in shown  # the group, not a version that sorts first


def test_a_past_at_is_refused_unless_now_and_tick_says_what_it_started(workdir: Workdir) -> None:
    workdir.run("statements", "import", str(EXAMPLES / "statements" / "nso-export-licence.en.md"))
    workdir.run("subscribers", "add", "ana@example.org", "--locale", "en", "--consented")
    refused = workdir.run(
        "campaigns",
        "create",
        "--statement",
        "nso-export-licence-en",
        "--at",
        "2020-03-01T09:00",
        check=False,
    )
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "2020-03-01 09:00 in Europe/Brussels" in refused.stderr
    assert "--now" in refused.stderr
    made = workdir.run(
        "campaigns",
        "create",
        "--statement",
        "nso-export-licence-en",
        "--at",
        "2020-03-01T09:00",
        "--now",
    )
    campaign_id = int(made.stdout.strip())
    ticked = workdir.run("tick")
    assert f"campaign {campaign_id}: due, started" in ticked.stdout
    assert "nothing due" not in ticked.stdout
    status = json.loads(workdir.run("campaigns", "status", str(campaign_id), "--json").stdout)
    assert (status["state"], status["sent"]) == ("done", 1)
