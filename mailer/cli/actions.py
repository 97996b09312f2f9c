"""`mailer actions`: record who took an action (import), and list the actions recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from mailer.cli.common import console, err, friendly, open_runtime, print_json
from mailer.subscribers.taken import import_actions, summaries

app = typer.Typer(
    help='Who took an action (signed, donated): the took("NAME") segment term.',
    no_args_is_help=True,
)

_SHOWN_PROBLEMS = 50


@app.command("import")
@friendly
def import_(
    csv_path: Annotated[
        Path, typer.Argument(metavar="CSV", help="UTF-8 CSV with an email column (and taken_at).")
    ],
    action: Annotated[
        str, typer.Option("--action", help='The action\'s name, e.g. "petition-nso".')
    ],
) -> None:
    """Record the subscribers in the file as having taken ACTION; others leave no trace.

    Importing the same file again changes nothing; a person's earliest time is kept.
    """
    rt = open_runtime()
    report = import_actions(rt.db, csv_path, action=action, zone=ZoneInfo(rt.org.timezone))
    for line, reason in report.problems[:_SHOWN_PROBLEMS]:
        err.print(f"{csv_path}:{line}: {reason}", markup=False, soft_wrap=True)
    hidden = report.unknown + report.invalid - min(len(report.problems), _SHOWN_PROBLEMS)
    if hidden > 0:
        err.print(f"... and {hidden} more", markup=False)
    console.print(
        f"matched {report.matched} (newly recorded {report.recorded}), "
        f"unknown {report.unknown} (not subscribers: nothing kept), invalid {report.invalid}",
        markup=False,
    )
    if report.invalid:
        raise typer.Exit(1)


@app.command("list")
@friendly
def list_(json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The actions recorded, with how many people took each."""
    rt = open_runtime()
    with rt.db.session() as session:
        rows: list[dict[str, Any]] = [
            {
                "action": s.action,
                "people": s.people,
                "first": s.first.isoformat(),
                "last": s.last.isoformat(),
            }
            for s in summaries(session)
        ]
    if json:
        print_json(rows)
        return
    for row in rows:
        console.print(
            f"{row['action']}: {row['people']} people ({row['first'][:10]} to {row['last'][:10]})",
            markup=False,
        )
    if not rows:
        console.print(
            "no action recorded yet (mailer actions import CSV --action NAME)", markup=False
        )
