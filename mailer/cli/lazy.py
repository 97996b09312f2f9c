"""A command group that imports a command's module only when that command runs; help reads a table."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command, get_group

if TYPE_CHECKING:
    from typer import _click as click

__all__ = ["Entry", "LazyGroup", "first_paragraph", "load_command"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One command of the table: `module:attribute` (a Typer app or a function) and its help
    line, the first paragraph of the real command's help on one line, as `--help` shows it."""

    target: str
    help: str


def load_command(name: str, entry: Entry) -> click.Command:
    """Import the entry's module and build its click command (a group for a Typer app)."""
    module_name, attribute = entry.target.split(":")
    value = getattr(importlib.import_module(module_name), attribute)
    if isinstance(value, typer.Typer):
        command: click.Command = get_group(value)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(value)
        command = get_command(single)
    command.name = name
    _plain(command)
    return command


def first_paragraph(help_text: str | None) -> str:
    """A command's help line as a listing shows it: its help's first paragraph, on one line."""
    return " ".join(inspect.cleandoc(help_text or "").split("\n\n")[0].split())


def _plain(command: click.Command) -> None:
    # Help and usage errors in click's plain text, like `mailer --help`: typer's rich panels
    # import rich's Markdown, Syntax and Traceback renderers first (0.1 s, more than typer).
    # A listing shows each command's whole first paragraph, not click's first 45 characters.
    setattr(command, "rich_markup_mode", None)  # noqa: B010 (click's own commands lack it)
    for sub in getattr(command, "commands", {}).values():
        sub.short_help = sub.short_help or first_paragraph(sub.help)
        _plain(sub)


class _Commands(Mapping[str, "click.Command"]):
    """The group's commands: names from the table, each built on first lookup."""

    def __init__(self, table: Mapping[str, Entry]) -> None:
        self._table = table
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            self._loaded[name] = load_command(name, self._table[name])
        return self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)


class LazyGroup(TyperGroup):
    """The root group: help from `table`, a command's module imported when it is resolved."""

    # `mailer --help` lists every command from the table (name, where it lives, help line);
    # the module behind a command, and the database, queue and rendering libraries it
    # imports, load when the command is resolved to run (or to print its own help).

    table: Mapping[str, Entry] = {}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = _Commands(self.table)  # type: ignore[assignment]
        self._listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.table)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = self.table.get(cmd_name)
        if entry is None:
            return None
        if self._listing:
            # Only the name and the help line are read while the group's help is printed.
            return TyperCommand(name=cmd_name, help=entry.help, short_help=entry.help)
        return self.commands[cmd_name]

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
