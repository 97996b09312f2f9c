"""`mailer statements`: import, list, show, publish."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from mailer.cli.common import (
    console,
    data_table,
    err,
    friendly,
    open_runtime,
    open_store,
    print_json,
    print_table,
    terminal_safe,
)
from mailer.cli.options import MissingOption
from mailer.cli.terminal import one_line

# Parsing, language checks and publishing are imported inside the commands that use them:
# `list` and `show` need only the database.
app = typer.Typer(help="Import, list, show and publish statements.", no_args_is_help=True)


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            )
        else:
            found.append(path)
    return found


@app.command("import")
@friendly
def import_(
    paths: Annotated[
        list[Path], typer.Argument(help="Statement files (.md, .txt, .html) or folders.")
    ],
    publish: Annotated[
        bool, typer.Option("--publish", help="Publish each imported group (sends its alert).")
    ] = False,
    translation_key: Annotated[
        str | None, typer.Option(help="Translation key for files that do not declare one.")
    ] = None,
    missing: MissingOption = None,
    update_published: Annotated[
        bool,
        typer.Option(
            "--update-published",
            help="Replace a published statement's content too (view-online pages and the "
            "archive then show the new text, not what was sent).",
        ),
    ] = False,
) -> None:
    """Import statements; prints one id per statement imported.

    A translation of an announcement in progress goes at once to the subscribers held for it.
    A published statement keeps the content its alert went out with unless --update-published.
    """
    from mailer.campaigns.languages import language_problem
    from mailer.campaigns.missing import parse_missing
    from mailer.cli.publishing import publish_group, release_translations
    from mailer.errors import StatementError
    from mailer.i18n import available_catalogs
    from mailer.statements.parse import parse_file
    from mailer.statements.repository import save

    policy = parse_missing(missing) if missing else None
    rt = open_runtime()
    problems = 0
    groups: dict[str, str] = {}
    actions: dict[str, int] = {}
    catalogs = available_catalogs()
    for path in _files(paths):
        try:
            statement = parse_file(path, translation_key=translation_key)
        except StatementError as exc:
            err.print(f"error: {one_line(str(exc))}", markup=False, soft_wrap=True)
            problems += 1
            continue
        except Exception as exc:  # a parser's own bug: this file fails, the others go on
            err.print(
                f"error: {one_line(str(path))}: unreadable ({type(exc).__name__})",
                markup=False,
                soft_wrap=True,
            )
            problems += 1
            continue
        with rt.db.session() as session:
            action = save(session, statement, replace_published=update_published)
        if action == "published":
            err.print(
                f"error: {one_line(str(path))}: {one_line(statement.id)} is published and its "
                "alert went out with the content it has: kept as sent "
                "(--update-published replaces it)",
                markup=False,
                soft_wrap=True,
            )
            problems += 1
            continue
        unsendable = language_problem(statement.lang, rt.org, catalogs)
        if unsendable is not None:
            err.print(
                f"warning: {one_line(str(path))}: {unsendable}: imported, but no email is sent "
                "in it (its readers get their fallback's version) until both are there "
                "(README: Adding a language)",
                markup=False,
                soft_wrap=True,
            )
        actions[action] = actions.get(action, 0) + 1
        groups.setdefault(statement.translation_key, statement.id)
        print(terminal_safe(statement.id))
    summary = ", ".join(f"{n} {a}" for a, n in sorted(actions.items()))
    err.print(
        f"imported {sum(actions.values())} statement(s){': ' + summary if summary else ''}"
        f"{f'; {problems} file(s) rejected' if problems else ''}",
        markup=False,
    )
    release_translations(rt, list(groups))
    if publish:
        for statement_id in groups.values():
            publish_group(rt, statement_id, missing=policy)
    if problems:
        raise typer.Exit(1)


@app.command("list")
@friendly
def list_(json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List statements, grouped by translation key."""
    from mailer.statements.listing import statement_summaries

    rows = statement_summaries(open_store())
    if json:
        print_json(rows)
        return
    table = data_table(
        "id", "lang", "translation key", "published", "title", keep=("id", "translation key")
    )
    for row in rows:
        table.add_row(
            row["id"],
            row["lang"],
            row["translation_key"],
            (row["published_at"] or "")[:16],
            row["title"],
        )
    print_table(table)


@app.command("show")
@friendly
def show(
    statement_id: Annotated[str, typer.Argument(help="Statement id.")],
    json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one statement: metadata, lead and body blocks."""
    from mailer.statements.listing import LISTED, summary
    from mailer.statements.repository import to_statement
    from mailer.store.models import StatementRow

    with open_store().session() as session:
        row = session.get(StatementRow, statement_id)
        if row is None:
            from mailer.errors import NotFound

            raise NotFound("statement", statement_id)
        shown = summary({col.name: getattr(row, col.name) for col in LISTED.c})
        statement = to_statement(row)
    if json:
        print_json(
            {
                **shown,
                "lead": statement.lead,
                "url": statement.url,
                "blocks": [asdict(b) for b in statement.blocks],
                "cta": [asdict(c) for c in statement.cta],
                "source": statement.source,
            }
        )
        return
    console.print(Text(terminal_safe(statement.title), style="bold"))
    console.print(
        f"id {statement.id} · {statement.lang} · group {statement.translation_key} · "
        f"topics {', '.join(statement.topics) or '-'} · {statement.urgency}",
        markup=False,
    )
    for block in statement.blocks:
        prefix = {"heading": "## ", "quote": "> ", "list_item": "* "}.get(block.kind, "")
        console.print(prefix + block.text, markup=False)
        console.print()


@app.command("publish")
@friendly
def publish(
    statement_id: Annotated[str, typer.Argument(help="Any statement of the translation group.")],
    wait: Annotated[
        bool, typer.Option(help="Wait until the alert is sent (always, with memory://).")
    ] = True,
    missing: MissingOption = None,
) -> None:
    """Publish a statement's translation group: its alert goes to matching subscribers."""
    from mailer.campaigns.missing import parse_missing
    from mailer.cli.publishing import publish_group

    policy = parse_missing(missing) if missing else None
    publish_group(open_runtime(), statement_id, wait=wait, missing=policy)
