"""Publish to one subscriber with the embedded worker (memory:// broker, in this process) and
print the seconds until the SMTP server accepted the message. Run by bench/throughput.py with
the benchmark's environment; the worker's start is part of the time, as for `mailer send`."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def first_sent_at(rt: Any, campaign_id: int, timeout: float = 60.0) -> dt.datetime | None:
    """When the campaign's first message was accepted (the ledger's sent_at), once recorded."""
    from sqlalchemy import select

    from mailer.store.models import Delivery

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with rt.db.session() as session:
            sent: dt.datetime | None = session.scalars(
                select(Delivery.sent_at).where(
                    Delivery.campaign_id == campaign_id, Delivery.status == "sent"
                )
            ).first()
        if sent is not None:
            return sent
        time.sleep(0.005)
    return None


def first_accept(segment: str, statement_id: str) -> float:
    """Seconds from queueing the campaign (worker start included) to the server's 250."""
    from mailer.campaigns.plan import create_campaign
    from mailer.cli.common import work_session
    from mailer.config import load_settings
    from mailer.runtime import build_runtime
    from mailer.store.models import utcnow
    from workers.tasks import start_campaign

    rt = build_runtime(load_settings(os.environ))
    with rt.db.session() as session:
        campaign = create_campaign(
            session,
            org=rt.org,
            statement_id=statement_id,
            kind="manual",
            segment=segment,
            again=True,  # a measurement: the recipient may have received the group before
        )
    published = utcnow()
    with work_session(rt):
        start_campaign.delay(campaign.id)
        sent = first_sent_at(rt, campaign.id)
    return float("inf") if sent is None else (sent - published).total_seconds()


if __name__ == "__main__":
    print(round(first_accept(sys.argv[1], sys.argv[2]), 3))
