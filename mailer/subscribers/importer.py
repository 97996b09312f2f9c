"""Stream a subscribers CSV into the store in chunks: valid rows upserted, invalid ones reported by line."""

from __future__ import annotations

import csv
import multiprocessing
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from mailer.errors import InputError, SubscriberRowError
from mailer.store.db import Database
from mailer.store.models import Subscriber, Suppression, utcnow
from mailer.subscribers.bulk import insert_subscribers, update_subscribers
from mailer.subscribers.export import restore
from mailer.subscribers.store import MERGED_COLUMNS, email_key, merge
from mailer.subscribers.suppression import address_hash, hasher
from mailer.subscribers.validate import SubscriberData, validate_row

__all__ = ["COLUMNS", "ImportReport", "import_csv", "write_rejected"]

COLUMNS = ("email", "name", "locale", "country", "topics", "alerts", "lists", "status")
CHUNK = 5000
_MAX_KEPT_REJECTS = 100_000  # beyond this only the count grows: memory stays bounded


@dataclass
class ImportReport:
    """Counts and the rejected rows with their line numbers and reasons."""

    created: int = 0
    updated: int = 0
    rejected_count: int = 0
    rejected: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    pending_ids: list[int] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        """Rows stored (created or updated)."""
        return self.created + self.updated

    def reject(self, line: int, reason: str, row: dict[str, str]) -> None:
        """Count a rejected row and keep it for the report."""
        self.rejected_count += 1
        if len(self.rejected) < _MAX_KEPT_REJECTS:
            self.rejected.append((line, reason, row))


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, row) pairs; UTF-8 with or without BOM, ',' or ';' detected from the header."""
    source = str(path)
    try:
        handle = path.open("r", encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=source) from exc
    with handle:
        try:
            first_line = handle.readline()
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 (byte {exc.start})", file=source, line=1) from exc
        if not first_line.strip():
            raise InputError(
                "empty file: expected a header row with an 'email' column", file=source, line=1
            )
        handle.seek(0)
        if handle.read(1) != "\ufeff":
            handle.seek(0)
        delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
        reader = csv.DictReader(handle, delimiter=delimiter)
        header = [restore((h or "").strip()).lower() for h in (reader.fieldnames or [])]
        if "email" not in header:
            raise InputError(
                f"no 'email' column in the header row (found: {', '.join(h for h in header if h) or 'nothing'})",
                file=source,
                line=1,
            )
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
            # A cell our export neutralised against spreadsheet formulas gets its value back.
            yield (
                reader.line_num,
                {
                    k: ((restore(v) if v.startswith("'") else v) if isinstance(v, str) else "")
                    for k, v in row.items()
                    if k
                },
            )


# Valid rows by address key: (line, record, keyed hash of the address).
Chunk = dict[str, tuple[int, SubscriberData, str]]
Rejects = list[tuple[int, str, dict[str, str]]]


def _chunks(path: Path, salt: bytes) -> Iterator[tuple[Chunk, Rejects, int]]:
    """Read and validate the file: (valid rows by address, rejected rows, duplicates) per chunk.

    Each address is hashed here (for the suppression list), on the reader's core."""
    chunk: Chunk = {}
    rejects: Rejects = []
    duplicates = 0
    for line, row in read_rows(path):
        try:
            data = validate_row(row)
        except SubscriberRowError as exc:
            rejects.append((line, exc.describe(), row))
            continue
        key = email_key(data.email)
        earlier = chunk.get(key)
        if earlier is not None:
            duplicates += 1  # a later row of the same file wins, lists are merged
        digest = earlier[2] if earlier else address_hash(salt, key)
        chunk[key] = (line, _combine(earlier[1] if earlier else None, data), digest)
        if len(chunk) >= CHUNK:
            yield chunk, rejects, duplicates
            chunk, rejects, duplicates = {}, [], 0
    if chunk or rejects:
        yield chunk, rejects, duplicates


def _reader(path: Path, salt: bytes, queue: Any) -> None:
    # Runs in a child process: parsing and validation on one core, writes on the other.
    try:
        for item in _chunks(path, salt):
            queue.put(("chunk", item))
        queue.put(("end", None))
    except InputError as exc:
        queue.put(("error", (exc.problem, exc.file, exc.line)))


def _parallel_chunks(path: Path, salt: bytes) -> Iterator[tuple[Chunk, Rejects, int]]:
    context = multiprocessing.get_context("fork")
    queue = context.Queue(maxsize=4)  # bounded: memory stays flat
    reader = context.Process(target=_reader, args=(path, salt, queue), daemon=True)
    reader.start()
    try:
        while True:
            kind, payload = queue.get()
            if kind == "end":
                return
            if kind == "error":
                problem, file, line = payload
                raise InputError(problem, file=file, line=line)
            yield payload
    finally:
        reader.join(timeout=5)
        if reader.is_alive():
            reader.terminate()


def import_csv(
    db: Database,
    path: Path,
    *,
    consented: bool,
    source: str | None = None,
    on_pending: Callable[[list[int]], None] | None = None,
    parallel: bool | None = None,
) -> ImportReport:
    """Validate and upsert every row in chunks; memory stays flat at any file size.

    Large files are read and validated in a second process while this one writes
    (`parallel`, by default for files over 8 MB on a machine with two cores or more).
    `on_pending` receives the ids of people created pending (to send them a confirmation).
    """
    if parallel is None:
        try:
            parallel = path.stat().st_size > 8 * 1024 * 1024 and (os.cpu_count() or 1) > 1
        except OSError:
            parallel = False
    report = ImportReport()
    origin = source or f"import:{path.name}"
    with db.session() as session:
        salt = hasher(session)
    with db.bulk_session() as session:
        chunks = _parallel_chunks(path, salt) if parallel else _chunks(path, salt)
        for chunk, rejects, duplicates in chunks:
            for line, reason, row in rejects:
                report.reject(line, reason, row)
            report.updated += duplicates
            if chunk:
                _flush(
                    session,
                    chunk,
                    report,
                    consented=consented,
                    source=origin,
                    on_pending=on_pending,
                )
    return report


def _combine(earlier: SubscriberData | None, later: SubscriberData) -> SubscriberData:
    if earlier is None:
        return later
    lists = tuple(dict.fromkeys((*(earlier.lists or ()), *(later.lists or ()))))
    return SubscriberData(
        email=later.email,
        name=later.name if later.name is not None else earlier.name,
        locale=later.locale or earlier.locale,
        country=later.country or earlier.country,
        topics=later.topics if later.topics is not None else earlier.topics,
        alert_pref=later.alert_pref or earlier.alert_pref,
        lists=lists or None,
        status=later.status or earlier.status,
        attributes=(*earlier.attributes, *later.attributes),
        consent_at=later.consent_at or earlier.consent_at,
        consent_source=later.consent_source or earlier.consent_source,
        consent_method=later.consent_method or earlier.consent_method,
    )


# Built once, with expanding parameters: a chunk's thousands of keys are bound, not coerced
# one by one into a new statement.
_EXISTING = select(*(getattr(Subscriber, c) for c in ("id", "email_key", *MERGED_COLUMNS))).where(
    Subscriber.email_key.in_(bindparam("keys", expanding=True))
)
_SUPPRESSED = select(Suppression.email_hash).where(
    Suppression.email_hash.in_(bindparam("hashes", expanding=True))
)


def _flush(
    bulk_session: Callable[[], AbstractContextManager[Session]],
    chunk: Chunk,
    report: ImportReport,
    *,
    consented: bool,
    source: str,
    on_pending: Callable[[list[int]], None] | None,
) -> None:
    now = utcnow()
    with bulk_session() as session:
        existing = {
            row.email_key: dict(row._mapping)
            for row in session.execute(_EXISTING, {"keys": list(chunk)})
        }
        suppressed = set(
            session.scalars(
                _SUPPRESSED,
                {
                    "hashes": [
                        digest for key, (_, _, digest) in chunk.items() if key not in existing
                    ]
                },
            )
        )
        inserts, updates = [], []
        for key, (line, data, digest) in chunk.items():
            old = existing.get(key)
            if old is None and digest in suppressed:
                report.reject(
                    line,
                    "email: on the suppression list (unsubscribed or erased): not added",
                    {"email": data.email},
                )
                continue
            values = merge(old, data, consented=consented, source=source, method="import", now=now)
            if old is None:
                inserts.append(
                    {
                        "email": data.email,
                        "email_key": key,
                        "email_hash": digest,
                        "created_at": now,
                        "updated_at": now,
                        **values,
                    }
                )
            else:
                updates.append({"id": old["id"], "updated_at": now, **values})
        if inserts:
            insert_subscribers(session, inserts)
            report.created += len(inserts)
            new_keys = [row["email_key"] for row in inserts if row["status"] == "pending"]
            if new_keys:
                report.pending_ids.extend(
                    session.scalars(select(Subscriber.id).where(Subscriber.email_key.in_(new_keys)))
                )
        if updates:
            update_subscribers(session, updates)
            report.updated += len(updates)
    if on_pending and report.pending_ids:
        on_pending(list(report.pending_ids))
    report.pending_ids.clear()


def write_rejected(report: ImportReport, path: Path) -> None:
    """A CSV of the rejected rows with their line and reason, to fix and import again."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "reason", *COLUMNS])
        for line, reason, row in report.rejected:
            writer.writerow([line, reason, *(row.get(c, "") for c in COLUMNS)])
