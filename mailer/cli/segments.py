"""`mailer segments`: add, count, list."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import select

from mailer.cli.common import console, friendly, open_runtime, print_json
from mailer.store.models import Segment
from mailer.subscribers.segments import count_segment, save_segment

app = typer.Typer(help="Save, count and list segments (who gets what).", no_args_is_help=True)


@app.command("add")
@friendly
def add(
    name: Annotated[str, typer.Argument(help="Segment name.")],
    expression: Annotated[
        str, typer.Argument(metavar="EXPR", help='e.g. \'locale in ("fr", "nl") and alerts\'')
    ],
) -> None:
    """Save (or replace) a named segment."""
    rt = open_runtime()
    with rt.db.session() as session:
        created = save_segment(session, name, expression)
    console.print(f"{'saved' if created else 'replaced'} segment {name}", markup=False)


@app.command("count")
@friendly
def count(
    segment: Annotated[
        str, typer.Argument(metavar="NAME-or-EXPR", help="A saved name or an expression.")
    ],
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """How many subscribed, unsuppressed people match (and how many match at all)."""
    rt = open_runtime()
    with rt.db.session() as session:
        result = count_segment(session, segment)
    if json:
        print_json(
            {"expression": result.expression, "count": result.mailable, "matching": result.matching}
        )
    else:
        console.print(
            f"{result.mailable} subscribed ({result.matching} matching in all)", markup=False
        )


@app.command("list")
@friendly
def list_(json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Saved segments."""
    rt = open_runtime()
    with rt.db.session() as session:
        rows = [
            {"name": s.name, "expression": s.expression, "created_at": s.created_at.isoformat()}
            for s in session.scalars(select(Segment).order_by(Segment.name))
        ]
    if json:
        print_json(rows)
        return
    for row in rows:
        console.print(f"{row['name']}: {row['expression']}", markup=False)
