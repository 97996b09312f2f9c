"""Publish a translation group from the CLI: stamp it, queue its alert, follow it when asked."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from mailer.campaigns.languages import check_announcement
from mailer.campaigns.missing import release_held
from mailer.campaigns.publish import publish
from mailer.cli.common import console, err, print_table, work_session
from mailer.cli.progress import follow, status_table
from mailer.runtime import Runtime

__all__ = ["publish_group", "release_translations", "run_campaign", "warn_languages"]


def publish_group(
    rt: Runtime, statement_id: str, *, wait: bool = True, missing: str | None = None
) -> int | None:
    """Publish the group: alerts go now (returns the campaign), news waits for the digest."""
    result = publish(rt.db, rt.org, statement_id, missing=missing)
    with rt.db.session() as session:
        warn_languages(session, result.translation_key, rt)
    if result.routed_to_digest:
        console.print(
            f"{result.translation_key}: news, published; it goes out in the next digest",
            markup=False,
        )
        return None
    assert result.campaign_id is not None
    if not result.created:
        err.print(
            f"{result.translation_key}: already announced as campaign {result.campaign_id}",
            markup=False,
        )
    return run_campaign(rt, result.campaign_id, wait=wait)


def warn_languages(session: Session, translation_key: str, rt: Runtime) -> None:
    """One `warning:` line per version left out for its language (its readers get the
    version of their fallback chain)."""
    for line in check_announcement(session, translation_key, rt.org).warnings():
        err.print(f"warning: {line}", markup=False)


def _pause(here: bool) -> Callable[[float], object]:
    """How `follow` waits between two looks: for the embedded worker's next task to end when
    the work happens in this process, else the time between looks."""
    if here:
        from workers.embedded import wait_for_a_task

        return wait_for_a_task
    return time.sleep


def run_campaign(rt: Runtime, campaign_id: int, *, wait: bool) -> int:
    """Queue the campaign's work; with memory:// (or --wait) follow it to the end."""
    from workers.tasks import start_campaign

    with work_session(rt) as here:
        start_campaign.delay(campaign_id)
        if here or wait:
            status = follow(rt, campaign_id, pause=_pause(here))
            print_table(status_table(status))
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
