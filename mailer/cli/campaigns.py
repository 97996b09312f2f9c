"""`mailer campaigns`: create, send, follow and list campaigns."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from sqlalchemy import select

from mailer.campaigns.control import cancel, pause, resume
from mailer.campaigns.missing import parse_missing
from mailer.campaigns.plan import create_campaign
from mailer.campaigns.status import campaign_status, campaign_summary
from mailer.cli.common import console, data_table, friendly, open_runtime, print_json, print_table
from mailer.cli.options import AgainOption, MissingOption, SegmentOption
from mailer.cli.progress import follow, status_table
from mailer.cli.publishing import run_campaign, warn_languages
from mailer.errors import InputError
from mailer.ledger import campaigns
from mailer.store.models import Campaign
from mailer.subscribers.segments import resolve_segment

app = typer.Typer(help="Create, send, follow and list campaigns.", no_args_is_help=True)


@app.command("status")
@friendly
def status(
    campaign_id: Annotated[int, typer.Argument(metavar="ID", help="Campaign id.")],
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Follow live until it is done.")] = False,
) -> None:
    """Counts of a campaign, overall and per locale."""
    rt = open_runtime()
    if watch:
        result = follow(rt, campaign_id)
    else:
        with rt.db.session() as session:
            result = campaign_status(session, campaign_id)
    if json:
        print_json(result)
    else:
        print_table(status_table(result))


@app.command("list")
@friendly
def list_(json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Campaigns in creation order."""
    rt = open_runtime()
    with rt.db.session() as session:
        rows = [
            campaign_summary(c) for c in session.scalars(select(Campaign).order_by(Campaign.id))
        ]
    if json:
        print_json(rows)
        return
    table = data_table(
        "id",
        "kind",
        "statement",
        "state",
        "created",
        "send at",
        keep=("id", "statement", "state", "created", "send at"),
    )
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["kind"],
            row["label"],
            row["state"],
            row["created_at"][:19],
            (row["send_at"] or "")[:19],
        )
    print_table(table)


@app.command("create")
@friendly
def create(
    statement: Annotated[str, typer.Option("--statement", help="Any statement of the group.")],
    segment: SegmentOption = None,
    missing: MissingOption = None,
    again: AgainOption = False,
    at: Annotated[
        str | None,
        typer.Option("--at", help="ISO-8601 time to send (no zone: the organisation's time zone)."),
    ] = None,
    now: Annotated[
        bool,
        typer.Option("--now", help="With an --at already past: schedule it for now instead."),
    ] = False,
) -> None:
    """Create a campaign for a statement's group; prints its id.

    With --at it waits for the beat (or `mailer tick`) to start it at that time; a time
    already past is refused unless --now. Otherwise send it with `campaigns send ID`.
    """
    rt = open_runtime()
    send_at = parse_when(at, rt.org.timezone) if at else None
    if send_at is not None:
        send_at = not_past(send_at, at or "", rt.org.timezone, now=now)
    with rt.db.session() as session:
        expression = resolve_segment(session, segment) if segment else None
        campaign = create_campaign(
            session,
            org=rt.org,
            statement_id=statement,
            kind="manual",
            segment=expression,
            missing=parse_missing(missing) if missing else rt.org.missing,
            again=again,
        )
        warn_languages(session, campaign.translation_key, rt)
        if send_at is not None:
            campaigns.schedule(session, campaign.id, send_at)
        print(campaign.id)


@app.command("send")
@friendly
def send(
    campaign_id: Annotated[int, typer.Argument(metavar="ID", help="Campaign id.")],
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow it until done (always, with memory://).")
    ] = False,
) -> None:
    """Start a campaign now (a scheduled one too), or queue again what it has pending."""
    rt = open_runtime()
    with rt.db.session() as session:
        campaigns.start_now(session, campaign_id)
    run_campaign(rt, campaign_id, wait=wait)


def parse_when(text: str, timezone: str) -> dt.datetime:
    """ISO-8601 to an aware UTC time; a time without zone is in the organisation's zone."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InputError(
            f"not an ISO-8601 time: {text!r} (e.g. 2026-12-01T09:00)", field="--at"
        ) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(timezone))
    return when.astimezone(dt.UTC)


def not_past(send_at: dt.datetime, text: str, timezone: str, *, now: bool) -> dt.datetime:
    """A send time that is not already past: a past one is refused (InputError naming the time
    in the organisation's zone), or with `now` moved to the present."""
    moment = dt.datetime.now(dt.UTC)
    if send_at > moment:
        return send_at
    if now:
        return moment
    local = send_at.astimezone(ZoneInfo(timezone))
    raise InputError(
        f"{text.strip()} is {local:%Y-%m-%d %H:%M} in {timezone} (the organisation's time zone), "
        "already past: give a later time, or add --now to send it now",
        field="--at",
    )


def _control(campaign_id: int, action: str) -> None:
    rt = open_runtime()
    with rt.db.session() as session:
        if action == "pause":
            pause(session, campaign_id)
        elif action == "cancel":
            count = cancel(session, campaign_id)
            console.print(
                f"campaign {campaign_id} cancelled; {count} message(s) will not be sent",
                markup=False,
            )
            return
        else:
            resume(session, campaign_id)
    if action == "pause":
        console.print(f"campaign {campaign_id} paused; workers stop within one batch", markup=False)
        return
    console.print(f"campaign {campaign_id} resumed", markup=False)
    run_campaign(rt, campaign_id, wait=False)


@app.command("pause")
@friendly
def pause_(campaign_id: Annotated[int, typer.Argument(metavar="ID", help="Campaign id.")]) -> None:
    """Pause a running campaign (takes effect within one batch on every worker)."""
    _control(campaign_id, "pause")


@app.command("resume")
@friendly
def resume_(campaign_id: Annotated[int, typer.Argument(metavar="ID", help="Campaign id.")]) -> None:
    """Resume a paused (or missed) campaign: its pending rows are queued again."""
    _control(campaign_id, "resume")


@app.command("cancel")
@friendly
def cancel_(campaign_id: Annotated[int, typer.Argument(metavar="ID", help="Campaign id.")]) -> None:
    """Cancel a campaign: what is not sent yet never will be."""
    _control(campaign_id, "cancel")
