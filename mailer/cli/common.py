"""What every command shares: settings and runtime, one-line errors, JSON output, waiting on work."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from mailer.cli.terminal import SafeConsole, json_safe, one_line, terminal_safe
from mailer.config import Settings, load_settings
from mailer.errors import CampaignError, ConfigError, InputError, MailerError, NotFound
from mailer.redact import mask_credentials

if TYPE_CHECKING:
    from mailer.runtime import Runtime
    from mailer.store.db import Database

__all__ = [
    "console",
    "data_table",
    "err",
    "fail",
    "friendly",
    "open_runtime",
    "open_store",
    "print_json",
    "print_table",
    "settings",
    "terminal_safe",
    "work_session",
]

# Everything printed is data (titles, names, file names, errors quoting input): no markup
# or emoji codes are read from it and its control characters are shown, not obeyed.
console = SafeConsole(soft_wrap=True)
err = SafeConsole(stderr=True, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line on stderr (passwords in it masked, control characters escaped) and exit."""
    err.print(f"error: {one_line(mask_credentials(message))}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def friendly(func: Callable[P, R]) -> Callable[P, R]:
    """Turn mailer's errors into one line and an exit code (2 usage/config, 1 operation)."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            fail(str(exc), 2)
        except (InputError, NotFound, CampaignError) as exc:
            fail(str(exc), 1)
        except MailerError as exc:
            fail(str(exc), 1)
        except OverflowError:
            # An id past what the database stores (SQLite and BIGINT: 2^63 - 1) names nothing.
            fail("a number given is too large to be an id (at most 9223372036854775807)", 2)
        except SQLAlchemyError as exc:
            # A database that is down, locked or on another schema: one line, not a traceback.
            fail(f"database error: {str(getattr(exc, 'orig', exc)).splitlines()[0]}", 1)
        except KeyboardInterrupt:
            fail(
                "interrupted; pending work stays pending (resume with `mailer campaigns send ID`)",
                1,
            )

    return wrapper


def data_table(*columns: str, keep: Collection[str] = (), title: str | None = None) -> Table:
    """A table whose `keep` columns (ids, keys, times: what an admin copies) are never wrapped
    or cut; the others wrap. Print it with `print_table`."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, no_wrap=column in keep, overflow="fold")
    return table


def print_table(table: Table, out: Console | None = None) -> None:
    """Print a table with its kept (no-wrap) columns whole: a table wider than the terminal
    is printed wider (the terminal wraps the lines, an id stays one piece to copy); into a
    pipe or a file, at the table's natural width, not rich's default of 80 columns."""
    out = out or console
    for column in table.columns:
        if column.no_wrap:
            widths = [cell_len(terminal_safe(str(column.header)))]
            widths += [cell_len(terminal_safe(str(cell))) for cell in column.cells]
            column.min_width = max(widths)
    measured = Measurement.get(out, out.options.update(width=100_000), table)
    width = max(out.width, measured.minimum) if out.is_terminal else measured.maximum
    if width == out.width:
        out.print(table)
        return
    before = out.width
    out.width = min(width, 100_000)
    try:
        out.print(table)
    finally:
        out.width = before


def settings() -> Settings:
    """The settings of this invocation (exit 2 with the variable's name when wrong)."""
    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc), 2)


def open_runtime() -> Runtime:
    """Settings, database (migrated to head), transport; logging configured from the settings."""
    from mailer.logs import configure_logging
    from mailer.runtime import build_runtime

    current = settings()
    configure_logging(current.log_level, json_lines=current.log_format == "json")
    return build_runtime(current)


def open_store() -> Database:
    """Settings and database (migrated to head), logging configured: for commands that only
    read rows, which need no profile, transport or signer (nor the time to load them)."""
    from mailer.logs import configure_logging
    from mailer.store.db import open_database

    current = settings()
    configure_logging(current.log_level, json_lines=current.log_format == "json")
    return open_database(current.database_url)


def print_json(value: Any) -> None:
    """JSON on stdout, UTF-8 kept readable; characters a terminal acts on as \\u escapes."""
    sys.stdout.write(json_safe(json.dumps(value, ensure_ascii=False, indent=2, default=str)) + "\n")


@contextmanager
def work_session(rt: Runtime) -> Iterator[bool]:
    """Configure Celery; with memory://, a worker in this process does the work queued while
    the block runs: started by the first task queued (none queued, none started), stopped when
    the block ends.

    Yields True when the work happens here (so the caller must wait for it).
    """
    from workers.app import configure, set_runtime

    app = configure(rt.settings)
    if not rt.settings.embedded:
        yield False
        return
    from workers.embedded import embedded_worker

    # memory:// has no host; kombu warns about it on every connection.
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    set_runtime(rt)
    try:
        with embedded_worker(app):
            yield True
    finally:
        set_runtime(None)


def wait_until(
    predicate: Callable[[], bool], *, interval: float = 0.2, timeout: float | None = None
) -> bool:
    """Poll until the predicate holds; False on timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not predicate():
        if deadline is not None and time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True
