"""Stream a subscribers CSV into the store: valid rows kept, invalid ones reported by line."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mailer.errors import InputError, SubscriberRowError
from mailer.store.db import Database
from mailer.subscribers.store import upsert
from mailer.subscribers.validate import validate_row

__all__ = ["COLUMNS", "ImportReport", "import_csv"]

COLUMNS = ("email", "name", "locale", "country", "topics", "alerts", "lists", "status")
_COMMIT_EVERY = 1000


@dataclass
class ImportReport:
    """Counts and the rejected rows with their line numbers and reasons."""

    created: int = 0
    updated: int = 0
    rejected: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        """Rows stored (created or updated)."""
        return self.created + self.updated


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    source = str(path)
    try:
        handle = path.open("r", encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=source) from exc
    with handle:
        try:
            sample = handle.read(64 * 1024)
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 (byte {exc.start})", file=source) from exc
        handle.seek(0)
        first_line = sample.split("\n", 1)[0]
        delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
        reader = csv.DictReader(handle, delimiter=delimiter)
        try:
            header = [h.strip().lower() for h in (reader.fieldnames or [])]
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"unreadable header: {exc}", file=source, line=1) from exc
        if "email" not in header:
            raise InputError("no 'email' column in the header row", file=source, line=1)
        reader.fieldnames = header
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"not UTF-8 (byte {exc.start})", file=source, line=reader.line_num + 1
                ) from exc
            except csv.Error as exc:
                raise InputError(
                    f"malformed CSV: {exc}", file=source, line=reader.line_num
                ) from exc
            cleaned = {k: (v if isinstance(v, str) else "") for k, v in row.items() if k}
            yield reader.line_num, cleaned


def import_csv(
    db: Database, path: Path, *, consented: bool, source: str | None = None
) -> ImportReport:
    """Validate and upsert every row; commit in chunks so memory stays flat at any size."""
    report = ImportReport()
    origin = source or f"import:{path.name}"
    session = db.sessions()
    try:
        pending = 0
        for line, row in _rows(path):
            try:
                data = validate_row(row)
            except SubscriberRowError as exc:
                report.rejected.append((line, exc.describe(), row))
                continue
            result = upsert(session, data, consented=consented, source=origin)
            if result.action == "created":
                report.created += 1
            else:
                report.updated += 1
            session.expunge(result.subscriber)
            pending += 1
            if pending >= _COMMIT_EVERY:
                session.commit()
                pending = 0
        session.commit()
    finally:
        session.close()
    return report


def write_rejected(report: ImportReport, path: Path) -> None:
    """A CSV of the rejected rows with their line and reason, to fix and import again."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["line", "reason", *COLUMNS])
    for line, reason, row in report.rejected:
        writer.writerow([line, reason, *(row.get(c, "") for c in COLUMNS)])
    path.write_text(buffer.getvalue(), encoding="utf-8")
