"""A batch keeps its connections busy with the campaign's next rows: every row is sent exactly
once and the campaign ends without a sweep, through a real worker and a real SMTP server."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from mailer.campaigns.plan import create_campaign
from mailer.campaigns.status import campaign_status
from mailer.transport.factory import parse_smtp_url
from mailer.transport.pool import SMTPTransport
from tests.inprocess import InProcess
from tests.servers import SMTPServer


def _until_done(run: InProcess, campaign_id: int) -> dict[str, Any]:
    from workers.app import configure, set_runtime
    from workers.embedded import embedded_worker
    from workers.tasks import start_campaign

    app = configure(run.settings)
    set_runtime(run.rt)
    try:
        with embedded_worker(app):
            start_campaign.delay(campaign_id)
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                with run.rt.db.session() as session:
                    status = campaign_status(session, campaign_id)
                if status["state"] == "done":
                    return status
                time.sleep(0.1)
    finally:
        set_runtime(None)
    raise AssertionError(f"campaign {campaign_id} did not finish: {status}")


def test_batches_follow_the_campaign_and_lose_nothing(
    tmp_path: Path, smtp_server: SMTPServer
) -> None:
    smtp_server.handler.delay = 0.005  # a relay a little away: several connections pay
    transport = SMTPTransport(parse_smtp_url(smtp_server.url, connections=8))
    run = InProcess(tmp_path, batch_size=40, transport=transport)
    run.statements("nso-export-licence.en.md")
    people = [f"p{i:04d}@example.org" for i in range(1200)]
    run.people("email,locale\n" + "".join(f"{a},en\n" for a in people))
    with run.rt.db.session() as session:
        campaign = create_campaign(session, org=run.rt.org, statement_id="nso-export-licence-en")
    status = _until_done(run, campaign.id)
    transport.close()
    assert status["state"] == "done" and status["sent"] == len(people)
    received = Counter(r.rcpt_tos[0] for r in smtp_server.handler.received)
    assert set(received) == set(people) and max(received.values()) == 1
