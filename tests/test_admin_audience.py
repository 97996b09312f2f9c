"""Who a manual send reaches: not twice the same group (unless --again), never a person who chose no emails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mailer.campaigns.plan import create_campaign
from mailer.campaigns.preview_run import dry_run
from mailer.subscribers.actions import why
from tests.inprocess import InProcess

PEOPLE = (
    "email,locale,topics,alerts\n"
    "ana@example.org,en,surveillance,true\n"
    "ben@example.org,en,,true\n"
    "quiet@example.org,en,surveillance,none\n"
)


def _send(run: InProcess, *, again: bool = False, segment: str | None = None) -> dict[str, Any]:
    from workers.tasks import start_campaign

    with run.rt.db.session() as session:
        campaign = create_campaign(
            session,
            org=run.rt.org,
            statement_id="nso-export-licence-en",
            segment=segment,
            again=again,
        )
    return run._run(lambda: start_campaign.delay(campaign.id), campaign.id)


def _recipients(run: InProcess) -> list[str]:
    return sorted(str(m["To"]) for m in run.messages())


def test_a_second_send_of_a_group_skips_who_received_it_and_again_sends_anyway(
    tmp_path: Path,
) -> None:
    run = InProcess(tmp_path)
    run.statements("nso-export-licence.en.md", "nso-export-licence.fr.txt")
    run.people(PEOPLE)
    first = _send(run)
    assert first["sent"] == 2
    assert _recipients(run) == ["ana@example.org", "ben@example.org"]

    preview = dry_run(run.rt, "nso-export-licence-fr")  # any member of the group
    assert preview.skipped["already received"] == 2
    assert sum(preview.sending.values()) == 0

    second = _send(run)
    assert second["sent"] == 0
    assert second["skipped_reasons"]["already received"] == 2
    assert len(run.messages()) == 2
    with run.rt.db.session() as session:
        answer = why(session, "ana@example.org", second["id"])
    assert answer["reason"] == "already received"
    assert "--again" in answer["explanation"]

    third = _send(run, again=True)
    assert third["sent"] == 2
    assert len(run.messages()) == 4


def test_no_emails_for_now_wins_over_every_segment(tmp_path: Path) -> None:
    run = InProcess(tmp_path)
    run.statements("nso-export-licence.en.md")
    run.people(PEOPLE)
    preview = dry_run(run.rt, "nso-export-licence-en", segment='locale = "en"')
    assert preview.skipped["no emails for now"] == 1
    status = _send(run, segment='locale = "en"')
    assert status["sent"] == 2
    assert "quiet@example.org" not in _recipients(run)
    assert status["skipped_reasons"] == {"no emails for now": 1}
    with run.rt.db.session() as session:
        answer = why(session, "quiet@example.org", status["id"])
    assert answer["reason"] == "no emails for now"
