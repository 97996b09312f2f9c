"""`mailer inbound` and `mailer bounces fetch|list`: reports that come back after the relay
accepted the mail."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer
from sqlalchemy.exc import SQLAlchemyError

from mailer.cli.common import console, err, fail, friendly, open_runtime, print_json
from mailer.errors import ConfigError

__all__ = ["app", "inbound"]

app = typer.Typer(
    help="The bounce mailbox and the recorded bounces and complaints.", no_args_is_help=True
)

# sysexits.h EX_TEMPFAIL: an MTA that pipes a message keeps it and tries again later.
TEMPFAIL = 75


@friendly
def inbound(
    recipient: Annotated[
        str | None,
        typer.Option(
            help="The envelope recipient (its VERP token), when the MTA does not add "
            "Delivered-To; $ORIGINAL_RECIPIENT or $RECIPIENT when the MTA sets them."
        ),
    ] = None,
) -> None:
    """Read one message on stdin (DSN, ARF report, auto-reply or mailto: unsubscribe) and
    record it; prints what it did in one line. Exit 0 for anything understood or ignored,
    75 (try again later) when the database cannot be reached."""
    from mailer.inbound import handle_inbound, read_limited

    try:
        rt = open_runtime()
    except ConfigError as exc:
        # A database that cannot be opened (a server down) is worth a retry; the rest is not.
        fail(" ".join(str(exc).split()), TEMPFAIL if exc.variable == "MAILER_DATABASE_URL" else 2)
    raw, size = read_limited(sys.stdin.buffer)
    envelope = recipient or os.environ.get("ORIGINAL_RECIPIENT") or os.environ.get("RECIPIENT")
    try:
        line = handle_inbound(rt, raw, size=size, recipient=envelope)
    except SQLAlchemyError as exc:
        # Never lose a report to a database that is down: the MTA keeps it and retries.
        fail(f"database error: {' '.join(str(getattr(exc, 'orig', exc)).split())}", TEMPFAIL)
    console.print(line, markup=False)


@app.command("fetch")
@friendly
def fetch() -> None:
    """Read every new message of MAILER_BOUNCE_MAILBOX (IMAP), record it and mark it."""
    from mailer.bounces.fetch import fetch_bounces, mailbox_url
    from mailer.bounces.mailbox import MailboxError

    rt = open_runtime()
    mailbox_url(rt)  # exit 2 when unset or wrong, before connecting

    def say(uid: int, line: str) -> None:
        # Plain writes: a fetch prints a line per message, hundreds a second.
        sys.stdout.write(f"{uid}: {line}\n")

    try:
        result = fetch_bounces(rt, on_message=say)
    except MailboxError as exc:
        sys.stdout.flush()
        fail(str(exc), 1)
    sys.stdout.write(result.summary() + "\n")


@app.command("list")
@friendly
def list_(
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    limit: Annotated[int, typer.Option(help="How many, newest first.", min=1)] = 100,
    unmatched: Annotated[
        bool, typer.Option("--unmatched", help="Only reports that matched nobody.")
    ] = False,
) -> None:
    """The recorded bounce, complaint and reply events, newest first."""
    from mailer.bounces.listing import list_events

    rt = open_runtime()
    with rt.db.session() as session:
        events = list_events(session, limit=limit, unmatched=unmatched)
    if json:
        print_json(events)
        return
    _table(events)


def _table(events: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table()
    for column in ("when (UTC)", "kind", "who", "campaign", "status", "what it did", "reason"):
        table.add_column(column)
    for event in events:
        who = event["email"] or f"unmatched: {event['recipient'] or '(no address)'}"
        table.add_row(
            event["at"][:19].replace("T", " "),
            event["kind"],
            who,
            str(event["campaign"] or "-"),
            event["status"] or "-",
            event["effect"],
            event["reason"],
        )
    console.print(table)
    err.print(f"{len(events)} event(s)", markup=False)
