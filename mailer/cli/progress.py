"""Follow a campaign until it is done: live bars per locale on a terminal, a table at the end."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mailer.campaigns.status import campaign_status
from mailer.cli.common import console, data_table
from mailer.ledger.states import ACTIVE, CampaignState
from mailer.runtime import Runtime

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["follow", "status_table"]

_ACTIVE = set(ACTIVE)


def _status(rt: Runtime, campaign_id: int) -> dict[str, Any]:
    with rt.db.session() as session:
        return campaign_status(session, campaign_id)


def _busy(status: dict[str, Any]) -> bool:
    # Rows held for a missing translation do not keep the command waiting.
    return status["state"] in _ACTIVE and not (
        status["state"] == CampaignState.RUNNING
        and status["pending"] == status["held"]
        and status["held"]
    )


_LOOK_SECONDS = 0.2  # between two looks at the ledger


def follow(
    rt: Runtime,
    campaign_id: int,
    *,
    live: bool = True,
    pause: Callable[[float], object] = time.sleep,
) -> dict[str, Any]:
    """Poll the ledger until the campaign has nothing left to send now; returns the status.
    `pause` waits between two looks (the embedded worker's ends when a task does)."""
    status = _status(rt, campaign_id)
    if not (live and console.is_terminal):
        while _busy(status):
            pause(_LOOK_SECONDS)
            status = _status(rt, campaign_id)
        return status
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description:>8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        bars: dict[str, Any] = {}
        while True:
            for locale, counts in status["by_locale"].items():
                wanted = counts["total"] - counts["skipped"]
                if wanted <= 0:
                    continue
                if locale not in bars:
                    bars[locale] = progress.add_task(locale or "-", total=wanted, failed=0)
                progress.update(
                    bars[locale],
                    completed=counts["sent"] + counts["failed"],
                    failed=counts["failed"],
                )
            if not _busy(status):
                break
            pause(_LOOK_SECONDS)
            status = _status(rt, campaign_id)
    return status


def status_table(status: dict[str, Any]) -> Table:
    """Per subscriber language and version sent: recipients, sent, failed, pending, skipped and
    why, bounced, complained (print it with `print_table`: ids and keys are never cut)."""
    columns = ("language", "version", "recipients", "sent", "failed", "pending", "skipped")
    table = data_table(
        *columns,
        "why skipped",
        "bounced",
        "complained",
        keep=("language", "version"),
        title=f"campaign {status['id']} · {status.get('label') or status['statement']} · "
        f"{status['state']}",
    )
    # Why it is paused or missed: an operator, the error brake, a relay refusing us.
    table.caption = status.get("reason") or None
    for column in table.columns:
        if column.header not in ("language", "version", "why skipped"):
            column.justify = "right"
    for counts in status.get("by_language", []):
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(counts["skipped_reasons"].items()))
        table.add_row(
            counts["language"] or "-",
            counts["version"] or "-",
            str(counts["total"]),
            str(counts["sent"]),
            str(counts["failed"]),
            str(counts["pending"]),
            str(counts["skipped"]),
            reasons,
            str(counts.get("bounced", 0)),
            str(counts.get("complained", 0)),
        )
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(status["skipped_reasons"].items()))
    if status.get("held"):
        reasons = ", ".join(filter(None, [reasons, f"{status['held']} held for a translation"]))
    table.add_row(
        "all",
        "",
        str(status["total"]),
        str(status["sent"]),
        str(status["failed"]),
        str(status["pending"]),
        str(status["skipped"]),
        reasons,
        str(status.get("bounced", 0)),
        str(status.get("complained", 0)),
        style="bold",
    )
    return table
