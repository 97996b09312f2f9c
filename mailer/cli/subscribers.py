"""`mailer subscribers`: import, add, list, show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select

from mailer.cli.common import console, err, friendly, open_runtime, print_json
from mailer.store.models import Subscriber
from mailer.subscribers.importer import import_csv, write_rejected
from mailer.subscribers.store import get_by_email, upsert
from mailer.subscribers.validate import validate_row

app = typer.Typer(help="Import, add, list and show subscribers.", no_args_is_help=True)

_SHOWN_REJECTS = 50


def describe(row: Subscriber) -> dict[str, Any]:
    """A subscriber as the JSON outputs show it."""
    return {
        "email": row.email,
        "name": row.name,
        "status": row.status,
        "locale": row.locale,
        "country": row.country,
        "topics": row.topics,
        "alerts": row.alert_pref == "alerts",
        "alert_pref": row.alert_pref,
        "lists": row.lists,
        "consent_at": row.consent_at.isoformat() if row.consent_at else None,
        "consent_source": row.consent_source,
        "created_at": row.created_at.isoformat(),
    }


@app.command("import")
@friendly
def import_(
    csv_path: Annotated[Path, typer.Argument(metavar="CSV", help="UTF-8 CSV with a header row.")],
    consented: Annotated[
        bool,
        typer.Option("--consented", help="You hold these people's consent: subscribe them now."),
    ] = False,
    rejected: Annotated[
        Path | None,
        typer.Option(help="Where to write rejected rows (default: <CSV>.rejected.csv)."),
    ] = None,
) -> None:
    """Import subscribers; reports accepted and rejected rows (with line numbers)."""
    rt = open_runtime()
    report = import_csv(rt.db, csv_path, consented=consented)
    for line, reason, _ in report.rejected[:_SHOWN_REJECTS]:
        err.print(f"{csv_path}:{line}: {reason}", markup=False, soft_wrap=True)
    if len(report.rejected) > _SHOWN_REJECTS:
        err.print(f"... and {len(report.rejected) - _SHOWN_REJECTS} more", markup=False)
    console.print(
        f"accepted {report.accepted} (created {report.created}, updated {report.updated}), "
        f"rejected {len(report.rejected)}",
        markup=False,
    )
    if not consented and report.created:
        console.print(
            "new subscribers are pending until they confirm; use --consented for lists "
            "whose consent you already hold",
            markup=False,
        )
    if report.rejected:
        target = rejected or csv_path.with_name(csv_path.stem + ".rejected.csv")
        try:
            write_rejected(report, target)
            err.print(f"rejected rows written to {target}", markup=False)
        except OSError as exc:
            err.print(f"could not write {target}: {exc.strerror}", markup=False)
        raise typer.Exit(1)


@app.command("add")
@friendly
def add(
    email: Annotated[str, typer.Argument(help="Email address.")],
    name: Annotated[str | None, typer.Option(help="Name used in the greeting.")] = None,
    locale: Annotated[str | None, typer.Option(help="fr, nl, de, en, fr_BE, ...")] = None,
    country: Annotated[str | None, typer.Option(help="ISO 3166 alpha-2 code.")] = None,
    topics: Annotated[str | None, typer.Option(help="Topics, ';'-separated (empty: all).")] = None,
    alerts: Annotated[
        bool, typer.Option("--alerts/--no-alerts", help="Receive alerts, or only digests.")
    ] = True,
    consented: Annotated[
        bool, typer.Option("--consented", help="Consent already held: subscribe now.")
    ] = False,
) -> None:
    """Add or update one subscriber."""
    data = validate_row(
        {
            "email": email,
            "name": name,
            "locale": locale,
            "country": country,
            "topics": topics,
            "alerts": "true" if alerts else "false",
        }
    )
    rt = open_runtime()
    with rt.db.session() as session:
        result = upsert(session, data, consented=consented, source="cli")
        console.print(
            f"{result.action} {result.subscriber.email} ({result.subscriber.status})", markup=False
        )


@app.command("list")
@friendly
def list_(
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
) -> None:
    """List subscribers."""
    rt = open_runtime()
    with rt.db.session() as session:
        query = select(Subscriber).order_by(Subscriber.id)
        if status:
            query = query.where(Subscriber.status == status)
        rows = [describe(r) for r in session.scalars(query)]
    if json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table()
    for column in ("email", "name", "status", "locale", "country", "alerts", "topics"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["email"],
            row["name"],
            row["status"],
            row["locale"] or "-",
            row["country"] or "-",
            "yes" if row["alerts"] else "no",
            "; ".join(row["topics"]) or "(all)",
        )
    console.print(table)
    console.print(f"{len(rows)} subscriber(s)", markup=False)


@app.command("show")
@friendly
def show(
    email: Annotated[str, typer.Argument(help="Email address.")],
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one subscriber."""
    rt = open_runtime()
    with rt.db.session() as session:
        row = describe(get_by_email(session, email))
    if json:
        print_json(row)
        return
    for key, value in row.items():
        console.print(f"{key:>15}: {value}", markup=False)
