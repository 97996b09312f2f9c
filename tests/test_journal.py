"""The send journal: accepted messages survive a killed process and reach the ledger once."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import select

from mailer.ledger.journal import Journal, Mark, fold, replay_orphans
from mailer.store.db import Database, open_database
from mailer.store.models import Campaign, Delivery, Subscriber, utcnow

ROOT = Path(__file__).resolve().parent.parent


def _ledger(url: str, rows: int) -> tuple[Database, int]:
    db = open_database(url)
    with db.session() as session:
        campaign = Campaign(kind="manual", statement_id="s", translation_key="s", state="running")
        session.add(campaign)
        people = [
            Subscriber(email=f"p{i}@example.org", email_key=f"p{i}@example.org", email_hash=f"h{i}")
            for i in range(rows)
        ]
        session.add_all(people)
        session.flush()
        session.add_all(
            Delivery(campaign_id=campaign.id, subscriber_id=p.id, status="sending") for p in people
        )
        return db, campaign.id


def _rows(db: Database, campaign_id: int) -> list[Delivery]:
    with db.session() as session:
        return list(
            session.scalars(
                select(Delivery)
                .where(Delivery.campaign_id == campaign_id)
                .order_by(Delivery.subscriber_id)
            )
        )


def test_a_mark_survives_its_line(tmp_path: Path) -> None:
    moment = utcnow()
    mark = Mark(3, 17, moment, "<3.abc@example.org>", "250 2.0.0\tOK\r\nqueued")
    parsed = Mark.parse(mark.line())
    assert parsed == Mark(3, 17, moment, "<3.abc@example.org>", "250 2.0.0 OK  queued")
    assert Mark.parse(mark.line()[:-1]) is None  # torn by a kill mid-write
    assert Mark.parse(b"garbage\n") is None


def test_fold_writes_marks_once(database_url: str) -> None:
    db, campaign_id = _ledger(database_url, 3)
    ids = [row.subscriber_id for row in _rows(db, campaign_id)]
    moment = utcnow().replace(microsecond=123456)
    marks = [Mark(campaign_id, i, moment, f"<m{i}>", "250 OK") for i in ids[:2]]
    with db.engine.connect() as ledger:
        fold(ledger, marks)
        fold(ledger, marks)  # a replay of what was already folded changes nothing
    rows = _rows(db, campaign_id)
    assert [(r.status, r.attempts, r.message_id) for r in rows] == [
        ("sent", 1, f"<m{ids[0]}>"),
        ("sent", 1, f"<m{ids[1]}>"),
        ("sending", 0, None),
    ]
    assert rows[0].sent_at == moment and rows[0].last_reply == "250 OK"
    assert rows[0].lease_until is None


def test_a_live_journal_is_left_alone_and_a_finished_one_is_gone(tmp_path: Path) -> None:
    db, campaign_id = _ledger(f"sqlite:///{tmp_path}/ledger.db", 2)
    journal = Journal(tmp_path / "journal")
    ids = [row.subscriber_id for row in _rows(db, campaign_id)]
    journal.append(Mark(campaign_id, ids[0], utcnow(), "<m>", "250 OK"))
    assert replay_orphans(db, tmp_path / "journal") == 0  # its stream still holds it
    assert journal.path.exists()
    journal.close()
    assert list((tmp_path / "journal").iterdir()) == []


def test_a_killed_process_journal_is_replayed(tmp_path: Path) -> None:
    # A real process journals two accepted messages and is killed before folding them.
    db, campaign_id = _ledger(f"sqlite:///{tmp_path}/ledger.db", 3)
    ids = [row.subscriber_id for row in _rows(db, campaign_id)]
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        from mailer.ledger.journal import Journal, Mark
        from mailer.store.models import utcnow
        journal = Journal(Path({str(tmp_path / "journal")!r}))
        for i in {ids[:2]!r}:
            journal.append(Mark({campaign_id}, i, utcnow(), f"<m{{i}}>", "250 OK"))
        print("journaled", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert child.returncode == -signal.SIGKILL and "journaled" in child.stdout
    assert [r.status for r in _rows(db, campaign_id)] == ["sending"] * 3
    assert replay_orphans(db, tmp_path / "journal") == 2
    rows = _rows(db, campaign_id)
    assert [r.status for r in rows] == ["sent", "sent", "sending"]
    assert rows[0].message_id == f"<m{ids[0]}>"
    assert list((tmp_path / "journal").iterdir()) == []
    assert replay_orphans(db, tmp_path / "journal") == 0


def test_a_journal_whose_fold_failed_is_kept_for_a_replayer(tmp_path: Path) -> None:
    db, campaign_id = _ledger(f"sqlite:///{tmp_path}/ledger.db", 1)
    (row,) = _rows(db, campaign_id)
    journal = Journal(tmp_path / "journal")
    journal.append(Mark(campaign_id, row.subscriber_id, utcnow(), "<m>", "250 OK"))
    journal.release()  # what send_batch does when the database refused the fold
    assert journal.path.exists()
    assert replay_orphans(db, tmp_path / "journal") == 1
    assert _rows(db, campaign_id)[0].status == "sent"
