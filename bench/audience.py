"""Follow-up audiences at scale: `actions import` speed and `segments count` times.

    .venv/bin/python bench/audience.py [--subscribers 100000] [--database URL]

N generated subscribers (with CSV attributes), a campaign whose ledger says sent for two
in three of them, an action imported from a file of N rows (70 % subscribers, 30 % other
addresses), then each expression counted three times (the best time is printed).
Goals (2 cores): the action import <= 10 s for 100,000 rows, each count < 1 s.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select

from mailer.store import Database, open_database
from mailer.store.models import Campaign, Delivery, Subscriber, utcnow
from mailer.subscribers.importer import import_csv
from mailer.subscribers.segments import count_segment
from mailer.subscribers.taken import import_actions

LOCALES = ["fr", "fr_BE", "nl", "de", "en", "ar"]
TOPICS = ["NSO Group", "surveillance", "death penalty", "refugees", ""]
ACTION = "petition-nso"
EXPRESSIONS = (
    "received(1)",
    'received(1) and not attr.signed_nso = "yes"',
    f'received(1) and not took("{ACTION}")',
    'attr.member_since in ("2019", "2020") or attr.signed_nso is empty',
    'locale in ("fr", "nl") and "surveillance" in topics and alerts',
    " or ".join(
        f'took("{ACTION}") and received(1) and attr.signed_nso = "v{i}"' for i in range(33)
    ),
)


def populate(db: Database, tmp: Path, count: int) -> dict[str, float]:
    """Subscribers, one campaign's ledger and one action; returns the seconds each took."""
    rng = random.Random(19)
    people = tmp / "people.csv"
    with people.open("w", encoding="utf-8") as handle:
        handle.write("email,name,locale,country,topics,signed_nso,member_since\n")
        for index in range(count):
            signed = rng.choice(("yes", "no", ""))
            handle.write(
                f"person{index}@example{index % 97}.org,Person {index},{rng.choice(LOCALES)},BE,"
                f"{rng.choice(TOPICS)},{signed},{2010 + index % 15}\n"
            )
    started = time.perf_counter()
    import_csv(db, people, consented=True)
    imported = time.perf_counter() - started
    with db.session() as session:
        campaign = Campaign(
            kind="manual", statement_id="appeal", translation_key="appeal", state="done"
        )
        session.add(campaign)
        session.flush()
        ids = list(session.scalars(select(Subscriber.id).order_by(Subscriber.id)))
        now = utcnow()
        rows: list[dict[str, Any]] = [
            {
                "campaign_id": campaign.id,
                "subscriber_id": subscriber_id,
                "status": "sent" if index % 3 else "skipped",
                "attempts": 1,
                "updated_at": now,
            }
            for index, subscriber_id in enumerate(ids)
        ]
        session.execute(insert(Delivery), rows)
    signers = tmp / "signers.csv"
    with signers.open("w", encoding="utf-8") as handle:
        handle.write("email,taken_at\n")
        for index in range(count):
            known = index % 10 < 7
            address = (
                f"person{index}@example{index % 97}.org" if known else f"other{index}@example.net"
            )
            handle.write(f"{address},2024-07-{1 + index % 28:02d}\n")
    started = time.perf_counter()
    report = import_actions(db, signers, action=ACTION)
    actions = time.perf_counter() - started
    assert report.matched + report.unknown == count and not report.invalid
    return {"import_s": imported, "actions_s": actions}


def best_count(db: Database, expression: str, tries: int = 3) -> tuple[float, int]:
    """The fastest of `tries` counts (seconds) and the count."""
    best, found = float("inf"), 0
    for _ in range(tries):
        with db.session() as session:
            started = time.perf_counter()
            found = count_segment(session, expression).mailable
            best = min(best, time.perf_counter() - started)
    return best, found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument(
        "--database", default=None, help="SQLAlchemy URL (default: a fresh SQLite file)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailer-bench-") as name:
        tmp = Path(name)
        db = open_database(args.database or f"sqlite:///{tmp}/bench.db")
        times = populate(db, tmp, args.subscribers)
        print(
            f"{args.subscribers:,} subscribers imported in {times['import_s']:.1f} s; "
            f"{args.subscribers:,} action rows imported in {times['actions_s']:.2f} s"
        )
        counts = {}
        for expression in EXPRESSIONS:
            seconds, found = best_count(db, expression)
            counts[expression[:60]] = {"seconds": round(seconds, 3), "count": found}
            print(f"{seconds * 1000:8.0f} ms  {found:>7,}  {expression[:90]}")
        db.dispose()
    summary = {
        "subscribers": args.subscribers,
        "actions_import_s": round(times["actions_s"], 2),
        "counts": counts,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
