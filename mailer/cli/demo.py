"""`mailer demo`: the examples imported, the seed statement published and sent, previews written."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.markup import escape

from mailer.cli.common import console, err, friendly, settings
from mailer.cli.previews import write_previews
from mailer.cli.publishing import publish_group
from mailer.paths import EXAMPLES_DIR
from mailer.redact import mask_url
from mailer.runtime import build_runtime
from mailer.statements.parse import parse_file
from mailer.statements.repository import save
from mailer.subscribers.importer import import_csv

__all__ = ["DEMO_STATEMENT", "demo"]

DEMO_STATEMENT = "nso-export-licence-fr"


@friendly
def demo() -> None:
    """Import the examples, publish the seed statement, send its alert, write previews."""
    current = settings()
    if current.org_file is None:
        # The example organisation's profile: its locales, senders and default buttons.
        current = replace(current, org_file=EXAMPLES_DIR / "mailer.toml")
    rt = build_runtime(current)
    statements_dir = EXAMPLES_DIR / "statements"
    console.print(f"[bold]1.[/bold] statements from {escape(str(statements_dir))}", markup=True)
    for path in sorted(statements_dir.iterdir()):
        statement = parse_file(path)
        with rt.db.session() as session:
            action = save(session, statement)
        console.print(f"   {statement.id} ({statement.lang}) {action}", markup=False)
    report = import_csv(rt.db, EXAMPLES_DIR / "subscribers.csv", consented=True)
    console.print(
        f"[bold]2.[/bold] subscribers: {report.created} created, {report.updated} updated, "
        f"{len(report.rejected)} rejected",
        markup=True,
    )
    console.print(f"[bold]3.[/bold] publishing {DEMO_STATEMENT} and its translations", markup=True)
    campaign_id = publish_group(rt, DEMO_STATEMENT)
    previews = write_previews(rt, DEMO_STATEMENT, [], Path("previews"), png=False)
    console.print("[bold]4.[/bold] where to look", markup=True)
    transport = rt.settings.transport_url
    if transport.startswith("maildir:"):
        console.print(
            f"   emails:   {transport.split(':', 1)[1]}/new/ (one file per email)", markup=False
        )
    else:
        console.print(f"   emails:   sent through {mask_url(transport)}", markup=False)
    for path in previews:
        console.print(f"   preview:  {path}", markup=False)
    console.print(f"   status:   mailer campaigns status {campaign_id}", markup=False)
    err.print("open a preview in a browser, or an email with any mail client", markup=False)
