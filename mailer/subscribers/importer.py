"""Stream a subscribers CSV into the store in chunks: valid rows upserted, invalid ones reported by line."""

from __future__ import annotations

import csv
import multiprocessing
import os
import queue as queues
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Select, String, select
from sqlalchemy.orm import Session

from mailer.errors import InputError, SubscriberRowError
from mailer.private import private_text
from mailer.store.among import among, among_parameter, dialect_of
from mailer.store.db import Database
from mailer.store.models import Subscriber, utcnow
from mailer.subscribers.bulk import insert_subscribers, update_subscribers
from mailer.subscribers.cells import neutralise
from mailer.subscribers.csvread import read_rows
from mailer.subscribers.store import FINAL_STATUSES, MERGED_COLUMNS, email_key, merge
from mailer.subscribers.suppression import address_hash, hasher, legacy_hash, suppressed
from mailer.subscribers.validate import SubscriberData, validate_row

__all__ = ["COLUMNS", "ImportReport", "import_csv", "rejected_path", "write_rejected"]

COLUMNS = ("email", "name", "locale", "country", "topics", "alerts", "lists", "status")
CHUNK = 5000
# Beyond this only the count grows, and a kept row holds only the known columns, each cut
# at _KEPT_CELL characters: the report's memory stays bounded whatever the file.
_MAX_KEPT_REJECTS = 20_000
_KEPT_CELL = 500


@dataclass
class ImportReport:
    """Counts, the rejected rows with their line numbers and reasons, and the rows refused
    because the person is suppressed (by line and reason only: their data is not kept)."""

    created: int = 0
    updated: int = 0
    rejected_count: int = 0
    rejected: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    suppressed: int = 0
    refused: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    pending_ids: list[int] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        """Rows stored (created or updated)."""
        return self.created + self.updated

    def reject(self, line: int, reason: str, row: dict[str, str]) -> None:
        """Count a rejected row and keep it for the report."""
        self.rejected_count += 1
        if len(self.rejected) < _MAX_KEPT_REJECTS:
            self.rejected.append((line, reason[:300], _kept(row)))

    def refuse(self, line: int, reason: str) -> None:
        """Count a row refused because its person is suppressed; keep only line and reason (an
        erased person's row must not become a new copy of their data in the report's file)."""
        self.suppressed += 1
        if len(self.refused) < _MAX_KEPT_REJECTS:
            self.refused.append((line, reason, {}))


# Valid rows by address key: (line, record, keyed hash of the address).
Chunk = dict[str, tuple[int, SubscriberData, str]]
Rejects = list[tuple[int, str, dict[str, str]]]
Repeats = dict[str, int]  # address key -> rows after its first in the same chunk


def _chunks(path: Path, salt: bytes) -> Iterator[tuple[Chunk, Rejects, Repeats]]:
    """Read and validate the file: (valid rows by address, rejected rows, how many more rows
    each address had) per chunk.

    Each address is hashed here (for the suppression list), on the reader's core."""
    chunk: Chunk = {}
    rejects: Rejects = []
    duplicates: Repeats = {}
    for line, row, problem in read_rows(path):
        if problem is None:
            try:
                data = validate_row(row)
            except SubscriberRowError as exc:
                problem = exc.describe()
        if problem is not None:
            rejects.append((line, problem, _kept(row)))
            if len(rejects) >= CHUNK:
                yield {}, rejects, {}  # a file of bad rows stays as flat as one of good rows
                rejects = []
            continue
        key = email_key(data.email)
        earlier = chunk.get(key)
        if earlier is not None:
            # A later row of the same file wins, lists are merged; it counts as the first did.
            duplicates[key] = duplicates.get(key, 0) + 1
        digest = earlier[2] if earlier else address_hash(salt, key)
        chunk[key] = (line, _combine(earlier[1] if earlier else None, data), digest)
        if len(chunk) >= CHUNK:
            yield chunk, rejects, duplicates
            chunk, rejects, duplicates = {}, [], {}
    if chunk or rejects:
        yield chunk, rejects, duplicates


def _kept(row: dict[str, str]) -> dict[str, str]:
    # What a rejected row keeps for the report: the known columns, each cut short.
    return {c: row[c][:_KEPT_CELL] for c in COLUMNS if row.get(c)}


def _reader(path: Path, salt: bytes, queue: Any) -> None:
    # Runs in a child process: parsing and validation on one core, writes on the other.
    try:
        for item in _chunks(path, salt):
            queue.put(("chunk", item))
        queue.put(("end", None))
    except InputError as exc:
        queue.put(("error", (exc.problem, exc.file, exc.line)))
    except Exception as exc:  # the parent must hear of any end, or it would wait forever
        queue.put(("error", (f"reading failed: {type(exc).__name__}: {exc}", str(path), None)))


def _parallel_chunks(path: Path, salt: bytes) -> Iterator[tuple[Chunk, Rejects, Repeats]]:
    context = multiprocessing.get_context("fork")
    queue = context.Queue(maxsize=4)  # bounded: memory stays flat
    reader = context.Process(target=_reader, args=(path, salt, queue), daemon=True)
    reader.start()
    try:
        while True:
            try:
                kind, payload = queue.get(timeout=5)
            except queues.Empty:
                if reader.is_alive():
                    continue
                raise InputError("the reading process died", file=str(path)) from None
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
            if chunk:
                _flush(
                    session,
                    chunk,
                    duplicates,
                    report,
                    salt=salt,
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


@lru_cache(maxsize=4)
def _existing(dialect: str) -> Select[Any]:
    # Built once per dialect, with a list parameter: a chunk's thousands of keys are bound,
    # not coerced one by one into a new statement (and on PostgreSQL sent as one array).
    columns = (getattr(Subscriber, c) for c in ("id", "email_key", *MERGED_COLUMNS))
    return select(*columns).where(among_parameter(Subscriber.email_key, "keys", dialect, of=String))


def _flush(
    bulk_session: Callable[[], AbstractContextManager[Session]],
    chunk: Chunk,
    repeats: Repeats,
    report: ImportReport,
    *,
    salt: bytes,
    consented: bool,
    source: str,
    on_pending: Callable[[list[int]], None] | None,
) -> None:
    now = utcnow()
    with bulk_session() as session:
        dialect = dialect_of(session)
        existing = {
            row.email_key: dict(row._mapping)
            for row in session.execute(_existing(dialect), {"keys": list(chunk)})
        }
        refused = suppressed(
            session,
            (
                (digest, legacy_hash(salt, key))
                for key, (_, _, digest) in chunk.items()
                if key not in existing
            ),
        )
        inserts, updates = [], []
        for key, (line, data, digest) in chunk.items():
            old = existing.get(key)
            if old is None and digest in refused:
                report.refuse(line, "refused: on the suppression list (unsubscribed or erased)")
                report.suppressed += repeats.get(key, 0)
                continue
            if old is not None and old["status"] in FINAL_STATUSES:
                # Nothing of theirs changes: no import brings back someone who said no, nor
                # rewrites their record (`subscribers resubscribe` does, when they ask).
                report.refuse(line, f"refused: {old['status']}, nothing changed")
                report.suppressed += repeats.get(key, 0)
                continue
            report.updated += repeats.get(key, 0)
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
                    session.scalars(
                        select(Subscriber.id).where(
                            among(Subscriber.email_key, new_keys, dialect, of=String)
                        )
                    )
                )
        if updates:
            update_subscribers(session, updates)
            report.updated += len(updates)
    if on_pending and report.pending_ids:
        on_pending(list(report.pending_ids))
    report.pending_ids.clear()


def rejected_path(path: Path) -> Path:
    """Where an import writes the rows it did not take: `subs.csv` -> `subs.rejected.csv`."""
    return path.with_name(path.stem + ".rejected.csv")


def write_rejected(report: ImportReport, path: Path) -> None:
    """A CSV of the rows not imported, by line: rejected rows with their data (to fix and
    import again), suppressed ones with their line and reason only."""
    rows = sorted([*report.rejected, *report.refused], key=lambda r: r[0])
    with private_text(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "reason", *COLUMNS])
        for line, reason, row in rows:
            # The rejected rows are someone else's data, opened by the admin to fix them.
            writer.writerow(
                [line, neutralise(reason), *(neutralise(row.get(c, "")) for c in COLUMNS)]
            )
