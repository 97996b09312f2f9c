"""The admin CLI: parse arguments, call mailer, format the answer; nothing else."""

from __future__ import annotations

from typing import Annotated

import typer

from mailer import __version__
from mailer.cli.lazy import Entry, LazyGroup

__all__ = ["COMMANDS", "app", "main"]

# Every command, in `mailer --help` order: where it lives and its help line. Only the module
# of the command that runs is imported (tests/test_startup.py checks this table against the
# commands themselves).
COMMANDS = {
    "send": Entry(
        "mailer.cli.send:send_statement",
        "Send a statement's group now, each subscriber in their language.",
    ),
    "init": Entry(
        "mailer.cli.tools:init",
        "Create the database (or migrate it to the newest schema) and the secret key.",
    ),
    "preview": Entry(
        "mailer.cli.previews:preview",
        "Render the alert of a statement per locale to HTML (and PNG) files.",
    ),
    "worker": Entry(
        "mailer.cli.serve:worker",
        "Run a Celery worker on MAILER_BROKER_URL (needs a redis:// broker).",
    ),
    "beat": Entry(
        "mailer.cli.serve:beat",
        "Run the scheduler (celery beat): the sweep, scheduled campaigns, digests. Run one.",
    ),
    "web": Entry(
        "mailer.cli.serve:web",
        "Serve the subscriber pages (unsubscribe, confirm, preferences, view online, signup, "
        "archive, healthz).",
    ),
    "tick": Entry(
        "mailer.cli.tools:tick",
        "Do now what the beat does each minute: due scheduled campaigns, held rows whose wait is "
        "over, the digest, the sources.",
    ),
    "digest": Entry(
        "mailer.cli.tools:digest",
        "Send the digest of what was published since the last one, now (nothing new: nothing sent).",
    ),
    "doctor": Entry(
        "mailer.cli.tools:doctor",
        "Check configuration, profile, database, broker, SMTP, DKIM, catalogs and statements.",
    ),
    "inbound": Entry(
        "mailer.cli.bounces:inbound",
        "Read one message on stdin (DSN, ARF report, auto-reply or mailto: unsubscribe) and "
        "record it; prints what it did in one line. Exit 0 for anything understood or ignored, "
        "75 (try again later) when the database cannot be reached.",
    ),
    "demo": Entry(
        "mailer.cli.demo:demo",
        "Import the examples, publish the seed statement, send its alert, write previews.",
    ),
    "statements": Entry("mailer.cli.statements:app", "Import, list, show and publish statements."),
    "subscribers": Entry("mailer.cli.subscribers:app", "Import, add, list and show subscribers."),
    "segments": Entry("mailer.cli.segments:app", "Save, count and list segments (who gets what)."),
    "campaigns": Entry("mailer.cli.campaigns:app", "Create, send, follow and list campaigns."),
    "actions": Entry(
        "mailer.cli.actions:app",
        'Who took an action (signed, donated): the took("NAME") segment term.',
    ),
    "bounces": Entry(
        "mailer.cli.bounces:app", "The bounce mailbox and the recorded bounces and complaints."
    ),
}


class _Group(LazyGroup):
    table = COMMANDS


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mailer {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="mailer",
    cls=_Group,
    help="Multilingual newsletters and alerts for human-rights organisations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain help (the commands' too: mailer/cli/lazy.py): rich's panels cost more to import
    # than typer itself, before a line is printed.
    rich_markup_mode=None,
)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Multilingual newsletters and alerts for human-rights organisations."""


def main() -> None:
    """Console entry point."""
    from mailer.cli.finish import finish

    try:
        app()
    except SystemExit as done:
        finish(done.code)
    finish(0)
