"""`mailer send`: one statement's group to its audience now (or a dry run, or a test address)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from mailer.campaigns.missing import parse_missing
from mailer.campaigns.plan import create_campaign
from mailer.campaigns.preview_run import DryRun, dry_run, send_test
from mailer.cli.common import console, data_table, friendly, open_runtime, print_json, print_table
from mailer.cli.options import AgainOption, MissingOption, SegmentOption
from mailer.cli.publishing import run_campaign, warn_languages
from mailer.subscribers.segments import resolve_segment
from mailer.subscribers.validate import normalise_email

__all__ = ["dry_run_table", "send_statement"]


@friendly
def send_statement(
    statement_id: Annotated[str, typer.Argument(help="Any statement of the translation group.")],
    segment: SegmentOption = None,
    missing: MissingOption = None,
    dry_run_: Annotated[
        bool, typer.Option("--dry-run", help="Print who would get what; send nothing.")
    ] = False,
    test_to: Annotated[
        str | None,
        typer.Option(
            "--test-to",
            help="Send every locale variant of the group to this address only, marked [TEST], "
            "its links to the public site (no working unsubscribe link).",
        ),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="With --dry-run: print JSON.")] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow it until done (always, with memory://).")
    ] = False,
    again: AgainOption = False,
) -> None:
    """Send a statement's group now, each subscriber in their language.

    Without --segment it is routed like an alert (alerts on, a topic in common). People who
    already received a campaign of the group are skipped unless --again; people who chose
    no emails for now are skipped whatever the segment.
    """
    rt = open_runtime()
    with rt.db.session() as session:
        expression = resolve_segment(session, segment) if segment else None
    policy = parse_missing(missing) if missing else rt.org.missing
    if dry_run_:
        result = dry_run(rt, statement_id, segment=expression, missing=policy, again=again)
        if json:
            print_json(result.as_json())
        else:
            print_table(dry_run_table(result))
        return
    if test_to:
        address = normalise_email(test_to)
        for variant in send_test(rt, statement_id, address, segment=expression):
            console.print(f"sent {variant} to {address}", markup=False)
        return
    with rt.db.session() as session:
        campaign = create_campaign(
            session,
            org=rt.org,
            statement_id=statement_id,
            kind="manual",
            segment=expression,
            missing=policy,
            again=again,
        )
        warn_languages(session, campaign.translation_key, rt)
    console.print(f"campaign {campaign.id}", markup=False)
    run_campaign(rt, campaign.id, wait=wait)


def dry_run_table(result: DryRun) -> Table:
    """Per locale and version: how many, and a few of them; then why others are skipped."""
    table = data_table(
        "locale",
        "version",
        "recipients",
        "for example",
        keep=("locale", "version"),
        title=f"would send {sum(result.sending.values())} email(s); nothing was sent",
    )
    for (locale, version), count in sorted(result.sending.items()):
        table.add_row(locale, version, str(count), ", ".join(result.samples.get(locale, [])))
    if result.held:
        table.add_row("-", "held for a translation", str(result.held), "")
    for reason, count in sorted(result.skipped.items()):
        table.add_row("-", f"skipped: {reason}", str(count), "")
    return table
