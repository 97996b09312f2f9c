"""`mailer subscribers`: import, add, list, show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select

from mailer.cli.common import (
    console,
    data_table,
    err,
    fail,
    friendly,
    open_runtime,
    print_json,
    print_table,
    wait_until,
    work_session,
)
from mailer.runtime import Runtime
from mailer.store.models import Subscriber
from mailer.subscribers.actions import (
    erase,
    final_status_refusal,
    resubscribe,
    unsubscribe,
    why,
)
from mailer.subscribers.export import export_csv
from mailer.subscribers.importer import ImportReport, import_csv, rejected_path, write_rejected
from mailer.subscribers.store import FINAL_STATUSES, find_by_email, get_by_email, upsert
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
        "consent_method": row.consent_method,
        "created_at": row.created_at.isoformat(),
        # The extra columns of the imported CSVs (usable in segments as attr.NAME).
        "attributes": dict(sorted(row.attributes.items())),
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
        typer.Option(
            help="Where to write the rows not imported, with their line and reason "
            "(default: NAME.rejected.csv beside NAME.csv).",
        ),
    ] = None,
) -> None:
    """Import subscribers; reports accepted, refused (suppressed) and rejected rows.

    Without --consented, new people are pending and get a confirmation email (double opt-in).
    Exit 1 when a row was rejected (invalid); rows refused because the person unsubscribed,
    bounced, complained or was erased change nothing and are not errors.
    """
    rt = open_runtime()
    from workers.tasks import send_confirmations_task

    with work_session(rt) as here:
        report = import_csv(
            rt.db,
            csv_path,
            consented=consented,
            on_pending=None if consented else (lambda ids: send_confirmations_task.delay(ids)),
        )
        if here and not consented and report.created:
            wait_for_confirmations(rt)
    _report_import(report, csv_path, rejected, consented=consented)


def _report_import(
    report: ImportReport, csv_path: Path, rejected: Path | None, *, consented: bool
) -> None:
    """The import's lines: each row not imported (line and reason), the counts, the file."""
    shown = sorted([*report.rejected, *report.refused], key=lambda r: r[0])[:_SHOWN_REJECTS]
    for line, reason, _ in shown:
        err.print(f"{csv_path}:{line}: {reason}", markup=False, soft_wrap=True)
    total = report.rejected_count + report.suppressed
    if total > len(shown):
        err.print(f"... and {total - len(shown)} more", markup=False)
    why = (
        " (unsubscribed, bounced, complained or erased: nothing changed for them)"
        if report.suppressed
        else ""
    )
    console.print(
        f"accepted {report.accepted} (created {report.created}, updated {report.updated}), "
        f"rejected {report.rejected_count}, refused {report.suppressed} as suppressed{why}",
        markup=False,
    )
    if not consented and report.created:
        console.print(
            "new subscribers are pending until they confirm: confirmation emails are on their way "
            "(use --consented for lists whose consent you already hold)",
            markup=False,
        )
    if report.rejected_count or report.suppressed:
        target = rejected or rejected_path(csv_path)
        try:
            write_rejected(report, target)
            err.print(f"rows not imported written to {target}", markup=False)
        except OSError as exc:
            err.print(f"could not write {target}: {exc.strerror}", markup=False)
    if report.rejected_count:
        raise typer.Exit(1)


def wait_for_confirmations(rt: Runtime) -> None:
    """With the in-process worker, let queued confirmation emails go before exiting."""
    from celery.worker import state

    from workers.app import app as celery_app

    def drained() -> bool:
        with celery_app.connection_for_write() as connection:
            size = connection.default_channel.queue_declare("mailer", passive=True).message_count
        return bool(size == 0) and not state.active_requests and not state.reserved_requests

    wait_until(drained, timeout=600)


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
    """Add or update one subscriber; a new one is pending and gets a confirmation email."""
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
        existing = find_by_email(session, data.email)
        if existing is not None and existing.status in FINAL_STATUSES:
            fail(final_status_refusal(existing.email, existing.status))
        result = upsert(session, data, consented=consented, source="cli")
        subscriber_id, status = result.subscriber.id, result.subscriber.status
        console.print(f"{result.action} {result.subscriber.email} ({status})", markup=False)
    if status == "pending":
        from workers.tasks import send_confirmations_task

        with work_session(rt) as here:
            send_confirmations_task.delay([subscriber_id])
            if here:
                wait_for_confirmations(rt)
        console.print("a confirmation email was sent", markup=False)


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
    table = data_table(
        "email", "name", "status", "locale", "country", "alerts", "topics", keep=("email",)
    )
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
    print_table(table)
    console.print(f"{len(rows)} subscriber(s)", markup=False)


@app.command("show")
@friendly
def show(
    email: Annotated[str, typer.Argument(help="Email address.")],
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one subscriber, with the bounces, complaints and replies recorded for them."""
    from mailer.bounces.listing import events_for
    from mailer.bounces.soft import soft_bounces
    from mailer.store.models import utcnow

    rt = open_runtime()
    with rt.db.session() as session:
        person = get_by_email(session, email)
        row = describe(person)
        row["soft_bounces"] = soft_bounces(session, person.id, utcnow()).count
        row["events"] = events_for(session, person.id)
    if json:
        print_json(row)
        return
    attributes = row.pop("attributes")
    events = row.pop("events")
    for key, value in row.items():
        console.print(f"{key:>15}: {value}", markup=False)
    for name, value in attributes.items():
        console.print(f"{'attr.' + name:>15}: {value}", markup=False)
    for event in events:
        status = f" {event['status']}" if event["status"] else ""
        campaign = f" campaign {event['campaign']}" if event["campaign"] else ""
        console.print(
            f"{'event':>15}: {event['at'][:19]} {event['kind']}{status}{campaign}: "
            f"{event['reason']} ({event['effect']})",
            markup=False,
        )


@app.command("export")
@friendly
def export(csv_path: Annotated[Path, typer.Argument(metavar="CSV", help="File to write.")]) -> None:
    """Write every subscriber, attributes as columns, to a CSV that `subscribers import` reads
    back unchanged; cells a spreadsheet would run as formulas get a leading quote."""
    rt = open_runtime()
    count = export_csv(rt.db, csv_path)
    console.print(f"exported {count} subscriber(s) to {csv_path}", markup=False)


@app.command("unsubscribe")
@friendly
def unsubscribe_(email: Annotated[str, typer.Argument(help="Email address.")]) -> None:
    """Unsubscribe and suppress an address (takes effect on campaigns in progress too)."""
    rt = open_runtime()
    with rt.db.session() as session:
        changed = unsubscribe(session, email)
    console.print("unsubscribed" if changed else "already unsubscribed", markup=False)


@app.command("resubscribe")
@friendly
def resubscribe_(
    email: Annotated[str, typer.Argument(help="Email address.")],
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help='How the person asked to come back ("email of 2026-12-01 to info@"): recorded '
            "as their consent, with the time.",
        ),
    ],
    force: Annotated[
        bool,
        typer.Option("--force", help="Also for a person who complained (reported spam)."),
    ] = False,
) -> None:
    """Subscribe again someone who unsubscribed or bounced, because they asked.

    Records the consent (time, source), lifts the suppression entry. Refuses a complained
    person without --force, and an erased one always (only their own signup adds them again).
    """
    rt = open_runtime()
    with rt.db.session() as session:
        previous = resubscribe(session, email, source=source, force=force)
        address = get_by_email(session, email).email
    if previous == "subscribed":
        console.print(f"{address} is already subscribed: nothing changed", markup=False)
    else:
        console.print(
            f"resubscribed {address} (was {previous}); consent recorded: {' '.join(source.split())}",
            markup=False,
        )


@app.command("forget")
@friendly
def forget_(email: Annotated[str, typer.Argument(help="Email address.")]) -> None:
    """Erase a person (GDPR): only a keyed hash stays, so no import can add them again.

    The database files keep no copy (see the README for what else may: outboxes, backups)."""
    rt = open_runtime()
    problem = erase(rt.db, email)
    console.print("erased; the address is suppressed", markup=False)
    if problem:
        err.print(f"warning: {problem}", markup=False)


@app.command("why")
@friendly
def why_(
    email: Annotated[str, typer.Argument(help="Email address.")],
    campaign: Annotated[int, typer.Option("--campaign", help="Campaign id.")],
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Why this subscriber did or did not get a campaign."""
    rt = open_runtime()
    with rt.db.session() as session:
        answer = why(session, email, campaign)
    if json:
        print_json(answer)
    else:
        console.print(
            f"{answer['email']} / campaign {campaign}: {answer['explanation']}", markup=False
        )
