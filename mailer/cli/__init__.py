"""The admin CLI: parse arguments, call mailer, format the answer; nothing else."""

from __future__ import annotations

import typer

from mailer.cli import actions, bounces, campaigns, segments, statements, subscribers, tools
from mailer.cli.common import friendly

__all__ = ["app", "main"]

app = typer.Typer(
    name="mailer",
    help="Multilingual newsletters and alerts for human-rights organisations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(statements.app, name="statements")
app.add_typer(subscribers.app, name="subscribers")
app.add_typer(segments.app, name="segments")
app.add_typer(campaigns.app, name="campaigns")
app.add_typer(actions.app, name="actions")
app.add_typer(bounces.app, name="bounces")
app.command("send")(friendly(campaigns.send_statement))
app.command("init")(tools.init)
app.command("preview")(tools.preview)
app.command("worker")(tools.worker)
app.command("beat")(tools.beat)
app.command("web")(tools.web)
app.command("tick")(tools.tick)
app.command("digest")(tools.digest)
app.command("doctor")(tools.doctor)
app.command("inbound")(bounces.inbound)
app.command("demo")(tools.demo)


def main() -> None:
    """Console entry point."""
    app()
