"""Publish a translation group from the CLI: stamp it, queue its alert, follow it when asked."""

from __future__ import annotations

from mailer.campaigns.missing import release_held
from mailer.campaigns.plan import announce
from mailer.cli.common import console, err, work_session
from mailer.cli.progress import follow, status_table
from mailer.runtime import Runtime
from mailer.statements.repository import load, mark_published

__all__ = ["publish_group", "release_translations", "run_campaign"]


def publish_group(
    rt: Runtime, statement_id: str, *, wait: bool = True, missing: str | None = None
) -> int:
    """Mark the group published and announce it; returns the alert campaign's id."""
    with rt.db.session() as session:
        statement = load(session, statement_id)
        mark_published(session, statement.translation_key)
    campaign_id, created = announce(rt.db, statement_id, missing=missing or rt.org.missing)
    if not created:
        err.print(
            f"{statement.translation_key}: already announced as campaign {campaign_id}",
            markup=False,
        )
    return run_campaign(rt, campaign_id, wait=wait, statement_id=statement_id)


def run_campaign(
    rt: Runtime, campaign_id: int, *, wait: bool, statement_id: str | None = None
) -> int:
    """Queue the campaign's work; with memory:// (or --wait) follow it to the end."""
    from workers.tasks import announce_statement, start_campaign

    with work_session(rt) as here:
        if statement_id is not None:
            announce_statement.delay(statement_id)
        else:
            start_campaign.delay(campaign_id)
        if here or wait:
            status = follow(rt, campaign_id)
            console.print(status_table(status))
        else:
            console.print(
                f"campaign {campaign_id} queued; follow it with `mailer campaigns status {campaign_id}`"
            )
    return campaign_id


def release_translations(rt: Runtime, translation_keys: list[str], *, wait: bool = True) -> None:
    """A translation arrived: send it to the subscribers held for it in running campaigns."""
    for key in translation_keys:
        for campaign_id in release_held(rt.db, rt.org, translation_key=key):
            err.print(
                f"campaign {campaign_id}: sending the new translation to held subscribers",
                markup=False,
            )
            run_campaign(rt, campaign_id, wait=wait)
