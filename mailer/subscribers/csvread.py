"""Read a subscribers CSV row by row in bounded memory, whatever its shape; a bad row fails alone.

The file is read in binary, one physical line at a time and never more than `MAX_LINE`
bytes of it at once, and handed to the csv module line by line. So:
- a row longer than `MAX_ROW` bytes (one endless line, or a quoted cell running over
  many lines) is rejected with the line it starts on, and reading goes on after it;
- a byte that is not UTF-8 rejects its row, with the row's true line number;
- a header of more than `MAX_COLUMNS` columns refuses the file (line 1): every row would
  be as wide; extra cells in a row beyond the header are ignored;
- a cell longer than `MAX_CELL` characters rejects its row.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from mailer.errors import InputError
from mailer.subscribers.cells import restore

__all__ = ["MAX_CELL", "MAX_COLUMNS", "MAX_LINE", "MAX_ROW", "Row", "read_rows"]

MAX_COLUMNS = 1000  # a CRM export has tens or hundreds; 200,000 is an attack
MAX_CELL = 10_000  # characters in one cell
MAX_ROW = 128 * 1024  # bytes of one row, all its lines together
MAX_LINE = MAX_ROW  # bytes of one physical line read at once
MAX_COLUMN_NAME = 100
_BOM = b"\xef\xbb\xbf"

# (line the row starts on, its cells by column name, the problem when it is rejected)
Row = tuple[int, dict[str, str], str | None]


class _RowTooLong(Exception):
    """Raised from inside the csv module's read: the row it is reading is abandoned."""


class _Lines:
    """The file's physical lines for csv.reader, decoded one by one, each bounded.

    An object, not a generator: a generator that raised once would be finished, while
    the reader must go on with the lines after a rejected row."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.count = 0  # physical lines handed out so far
        self.row_bytes = 0
        self.row_quotes = 0
        self.bad_byte: int | None = None  # offset in the row of its first non-UTF-8 byte

    def start_row(self) -> int:
        """Mark the start of a row; returns the line it starts on."""
        self.row_bytes = 0
        self.row_quotes = 0
        self.bad_byte = None
        return self.count + 1

    def _abandon(self, partial: bool) -> _RowTooLong:
        """Read and drop the rest of an abandoned row: the rest of its line when `partial`,
        then, while a quoted cell is open (an odd count of quotes so far), its next lines."""
        while partial or self.row_quotes % 2:
            chunk = self.handle.readline(65536)
            if not chunk:
                break
            self.row_quotes += chunk.count(b'"')
            partial = not chunk.endswith(b"\n")
            if not partial:
                self.count += 1
        return _RowTooLong()

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self.handle.readline(MAX_LINE + 1)
        if not raw:
            raise StopIteration
        if self.count == 0 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        self.row_quotes += raw.count(b'"')
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            raise self._abandon(partial=True)  # an endless line
        self.count += 1
        self.row_bytes += len(raw)
        if self.row_bytes > MAX_ROW:
            raise self._abandon(partial=False)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if self.bad_byte is None:
                self.bad_byte = self.row_bytes - len(raw) + exc.start
            return raw.decode("utf-8", "surrogateescape")  # row boundaries stay exact


def _header(reader: Iterator[list[str]], lines: _Lines, source: str) -> list[str]:
    lines.start_row()
    try:
        cells = next(reader)
    except StopIteration:
        cells = []
    except _RowTooLong as exc:
        raise InputError(
            f"header row longer than {MAX_ROW // 1024} KB", file=source, line=1
        ) from exc
    except csv.Error as exc:
        raise InputError(f"malformed header row: {exc}", file=source, line=1) from exc
    if lines.bad_byte is not None:
        raise InputError(f"not UTF-8 (byte {lines.bad_byte})", file=source, line=1)
    # A cell our export neutralised against spreadsheet formulas gets its value back.
    header = [restore(cell.strip()).lower() for cell in cells]
    if not any(header):
        raise InputError(
            "empty file: expected a header row with an 'email' column", file=source, line=1
        )
    if len(header) > MAX_COLUMNS:
        raise InputError(
            f"{len(header)} columns in the header row; at most {MAX_COLUMNS}",
            file=source,
            line=1,
        )
    for index, name in enumerate(header):
        if len(name) > MAX_COLUMN_NAME or not name.isprintable():
            raise InputError(
                f"column {index + 1}: a name of at most {MAX_COLUMN_NAME} printable characters",
                file=source,
                line=1,
            )
    named = [name for name in header if name]
    if len(set(named)) != len(named):
        twice = sorted({name for name in named if named.count(name) > 1})
        raise InputError(f"column named twice: {', '.join(twice)}", file=source, line=1)
    if "email" not in header:
        raise InputError(
            f"no 'email' column in the header row (found: {', '.join(named) or 'nothing'})",
            file=source,
            line=1,
        )
    return header


def read_rows(path: Path) -> Iterator[Row]:
    """Every row after the header: UTF-8 with or without BOM, ',' or ';' read from the header."""
    source = str(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=source) from exc
    with handle:
        first = handle.readline(MAX_LINE + 1)
        delimiter = ";" if first.count(b";") > first.count(b",") else ","
        handle.seek(0)
        lines = _Lines(handle)
        # The cell limit is checked on every row below; the csv module's own limit only
        # bounds a cell that runs over many lines.
        csv.field_size_limit(MAX_ROW)
        reader = csv.reader(lines, delimiter=delimiter)
        header = _header(reader, lines, source)
        columns = [(index, name) for index, name in enumerate(header) if name]
        while True:
            start = lines.start_row()
            try:
                cells = next(reader)
            except StopIteration:
                return
            except _RowTooLong:
                yield start, {}, f"row longer than {MAX_ROW // 1024} KB: not read"
                continue
            except csv.Error as exc:
                yield start, {}, f"malformed CSV: {exc}"
                continue
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # a blank line
            row = {name: restore(cells[index]) for index, name in columns if index < len(cells)}
            if lines.bad_byte is not None:
                safe = {k: v.encode("utf-8", "replace").decode("utf-8") for k, v in row.items()}
                yield start, safe, f"not UTF-8 (byte {lines.bad_byte} of the row)"
                continue
            long = None
            if lines.row_bytes > MAX_CELL:  # no cell can be longer than its row
                long = next((name for name, value in row.items() if len(value) > MAX_CELL), None)
            if long is not None:
                yield start, {}, f"{long}: longer than {MAX_CELL:,} characters"
                continue
            yield start, row, None
