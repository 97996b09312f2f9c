"""`mailer init`, `preview`, `worker` and `demo`."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from mailer.campaigns.audience import choose_version
from mailer.campaigns.languages import check_group
from mailer.cli.common import console, err, fail, friendly, open_runtime, settings, work_session
from mailer.cli.publishing import publish_group
from mailer.config import Settings
from mailer.i18n import available_catalogs
from mailer.locales import normalise_locale
from mailer.paths import EXAMPLES_DIR
from mailer.preview import WIDTHS, find_chromium, preview_html, screenshot
from mailer.redact import mask_url
from mailer.runtime import Runtime, build_runtime
from mailer.statements import parse_file
from mailer.statements.repository import group_of, load, save
from mailer.subscribers.importer import import_csv

DEMO_STATEMENT = "nso-export-licence-fr"


@friendly
def init() -> None:
    """Create the database (or migrate it to the newest schema) and the secret key."""
    rt = open_runtime()
    console.print(f"database ready: {mask_url(rt.settings.database_url)}", markup=False)
    console.print(f"organisation: {rt.org.name} ({', '.join(rt.org.locales)})", markup=False)


def write_previews(
    rt: Runtime, statement_id: str, locales: list[str], out: Path, *, png: bool
) -> list[Path]:
    """One HTML file (and PNGs at 600 and 375 px) per locale; returns the paths written."""
    with rt.db.session() as session:
        versions = group_of(session, load(session, statement_id).translation_key)
    if not locales:
        # Every language the group is sent in; a version that is not sent is said, not drawn.
        check = check_group(versions, rt.org, available_catalogs())
        for warning in check.warnings():
            err.print(f"warning: {warning}", markup=False, soft_wrap=True)
        versions = check.sendable(versions) or versions
    wanted = locales or sorted({v.lang for v in versions})
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for code in wanted:
        locale = normalise_locale(code)
        if locale is None:
            fail(f"--locale: unknown locale {code!r}", 2)
        version = choose_version(locale, versions, rt.org)
        path = out / f"{version.translation_key}.{locale}.html"
        path.write_text(preview_html(version, locale=locale, org=rt.org), encoding="utf-8")
        written.append(path)
        if png:
            for width in WIDTHS:
                image = path.with_suffix(f".{width}.png")
                screenshot(path, image, width=width)
                written.append(image)
    return written


@friendly
def preview(
    statement_id: Annotated[str, typer.Argument(help="Any statement of the translation group.")],
    locale: Annotated[
        list[str] | None, typer.Option("--locale", help="Locale to render (repeatable).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the files.")] = Path("previews"),
    png: Annotated[
        bool, typer.Option("--png", help="Also PNGs at 600 and 375 px (needs chromium).")
    ] = False,
) -> None:
    """Render the alert of a statement per locale to HTML (and PNG) files."""
    if png and find_chromium() is None:
        fail("--png needs Chromium: install Debian's package with `apt-get install chromium`", 1)
    rt = open_runtime()
    for path in write_previews(rt, statement_id, locale or [], out, png=png):
        console.print(str(path), markup=False)


def worker(
    concurrency: Annotated[int, typer.Option(help="Worker processes (default: CPU cores).")] = 0,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    beat: Annotated[
        bool, typer.Option("--beat", help="Also run the scheduler (one per deployment).")
    ] = False,
) -> None:
    """Run a Celery worker on MAILER_BROKER_URL (needs a redis:// broker)."""
    current = _needs_broker()
    from workers.app import configure

    app = configure(current)
    count = concurrency or current.worker_concurrency or (os.cpu_count() or 1)
    argv = [
        "worker",
        f"--loglevel={loglevel}",
        f"--concurrency={count}",
        "--queues=mailer-control,mailer",
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        argv += ["--beat", f"--schedule={current.data_dir / 'beat-schedule'}"]
    app.worker_main(argv)


def beat(
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Run the scheduler (celery beat): the sweep, scheduled campaigns, digests. Run one."""
    current = _needs_broker()
    from workers.app import configure

    app = configure(current)
    current.data_dir.mkdir(parents=True, exist_ok=True)
    app.start(
        ["beat", f"--loglevel={loglevel}", f"--schedule={current.data_dir / 'beat-schedule'}"]
    )


def web(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the subscriber pages (unsubscribe, confirm, preferences, view online, signup,
    archive, healthz)."""
    from mailer.web import create_app
    from mailer.web.server import serve

    rt = open_runtime()
    # With memory:// the signup page's confirmation emails are sent by a worker in this
    # process; with redis:// by the `mailer worker` processes.
    with work_session(rt):
        serve(create_app(rt), host=host, port=port)


@friendly
def tick() -> None:
    """Do now what the beat does each minute: due scheduled campaigns, held rows whose wait is
    over, the digest, the sources.

    Useful on the embedded default (no beat): run it from cron.
    """
    from mailer.campaigns.tick import tick_report
    from mailer.cli.publishing import run_campaign

    rt = open_runtime()
    done = tick_report(rt.db, rt.org)
    for line in done.lines:
        console.print(line, markup=False)
    if not done.lines:
        console.print("nothing due", markup=False)
    for campaign_id in done.campaigns:
        run_campaign(rt, campaign_id, wait=False)


@friendly
def digest() -> None:
    """Send the digest of what was published since the last one, now (nothing new: nothing sent)."""
    from mailer.campaigns.digest import create_digest
    from mailer.cli.publishing import run_campaign

    rt = open_runtime()
    campaign_id = create_digest(rt.db)
    if campaign_id is None:
        console.print("nothing new since the last digest: nothing sent", markup=False)
        return
    console.print(f"digest campaign {campaign_id}", markup=False)
    run_campaign(rt, campaign_id, wait=False)


def doctor() -> None:
    """Check configuration, profile, database, broker, SMTP, DKIM, catalogs and statements.

    One line each: ok, FAIL, warn (to know, not a failure) or skip (not checked, and why);
    exit 1 on any FAIL. Creates and changes nothing."""
    from mailer.doctor import run_checks

    checks = run_checks()
    for check in checks:
        console.print(f"{check.mark:<4} {check.name}: {check.detail}", markup=False)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)


def _needs_broker() -> Settings:
    current = settings()
    if current.embedded:
        fail(
            "MAILER_BROKER_URL is memory://: the worker runs inside each command; "
            "set a redis:// broker to run separate workers and beat",
            2,
        )
    open_runtime().close()  # migrate once, here, not in every worker process
    current.data_dir.mkdir(parents=True, exist_ok=True)
    return current


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
