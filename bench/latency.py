"""Publish to one subscriber with the embedded worker (memory:// broker, in this process) and
print the seconds until the SMTP server accepted the message. Run by bench/throughput.py with
the benchmark's environment; the worker's start is part of the time, as for `mailer send`."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def first_accept(segment: str, statement_id: str) -> float:
    """Seconds from queueing the campaign (worker start included) to the server's 250."""
    from sqlalchemy import select

    from mailer.campaigns.plan import create_campaign
    from mailer.cli.common import work_session
    from mailer.config import load_settings
    from mailer.runtime import build_runtime
    from mailer.store.models import Delivery
    from workers.tasks import start_campaign

    rt = build_runtime(load_settings(os.environ))
    with rt.db.session() as session:
        campaign = create_campaign(
            session, statement_id=statement_id, kind="manual", segment=segment
        )
    start = time.perf_counter()
    with work_session(rt):
        start_campaign.delay(campaign.id)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with rt.db.session() as session:
                sent = session.scalars(
                    select(Delivery.sent_at).where(
                        Delivery.campaign_id == campaign.id, Delivery.status == "sent"
                    )
                ).first()
            if sent is not None:
                return time.perf_counter() - start
            time.sleep(0.005)
    return float("inf")


if __name__ == "__main__":
    print(round(first_accept(sys.argv[1], sys.argv[2]), 3))
