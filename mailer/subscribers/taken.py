"""Who took an action: a CSV of addresses matched to subscribers and recorded once per person.

Only subscribers are recorded: an address nobody subscribed with (most petition signers)
leaves no trace, and erasing a person (`forget`) erases their actions with them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Select, String, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from mailer.errors import InputError
from mailer.store.among import among_parameter, dialect_of
from mailer.store.copy import copy_rows
from mailer.store.db import Database
from mailer.store.models import ActionTaker, Subscriber, utcnow
from mailer.subscribers.csvread import read_rows
from mailer.subscribers.segment_sql import action_key
from mailer.subscribers.store import email_key
from mailer.subscribers.validate import normalise_email

__all__ = ["ActionReport", "ActionSummary", "import_actions", "parse_action", "summaries"]

CHUNK = 5000
_MAX_KEPT_PROBLEMS = 10_000  # beyond this only the counts grow: memory stays bounded
_MAX_NAME = 100
_FUTURE = dt.timedelta(days=1)  # clocks differ; a date further ahead is a typo


@dataclass
class ActionReport:
    """Rows of subscribers (new records among them), of unknown addresses, and invalid rows."""

    matched: int = 0
    recorded: int = 0
    unknown: int = 0
    invalid: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)

    def problem(self, line: int, reason: str) -> None:
        """Keep a line's problem for the report (a bounded number of them)."""
        if len(self.problems) < _MAX_KEPT_PROBLEMS:
            self.problems.append((line, reason))


@dataclass(frozen=True, slots=True)
class ActionSummary:
    """One recorded action: how many people took it, and when the first and last did."""

    action: str
    people: int
    first: dt.datetime
    last: dt.datetime


@dataclass(slots=True)
class _Wanted:
    line: int  # the person's first row in the file
    when: dt.datetime
    rows: int = 1


def parse_action(name: str) -> str:
    """The stored form of an action's name; InputError when it is empty, too long or odd."""
    key = action_key(name)
    if not key or len(key) > _MAX_NAME or not key.isprintable():
        raise InputError(f"1 to {_MAX_NAME} printable characters", field="--action")
    return key


def _taken_at(value: str, zone: dt.tzinfo, now: dt.datetime) -> dt.datetime:
    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"not an ISO 8601 date or time: {text[:40]!r}", field="taken_at") from None
    moment = parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
    if moment > now + _FUTURE:
        raise InputError(f"in the future: {text[:40]!r}", field="taken_at")
    return moment.astimezone(dt.UTC)


def import_actions(
    db: Database,
    path: Path,
    *,
    action: str,
    zone: dt.tzinfo = dt.UTC,
    source: str | None = None,
) -> ActionReport:
    """Record who in the file took `action`; idempotent (a person's earliest time is kept).

    `taken_at` (optional, ISO 8601) defaults to now; without a zone it is read in `zone`.
    """
    key = parse_action(action)
    origin = (source or f"import:{path.name}")[:200]
    report = ActionReport()
    now = utcnow()
    chunk: dict[str, _Wanted] = {}
    for line, row, unreadable in read_rows(path):
        if unreadable is not None:  # too long, not UTF-8, malformed: that row alone
            report.invalid += 1
            report.problem(line, unreadable)
            continue
        try:
            address = email_key(normalise_email(row.get("email", "")))
            given = row.get("taken_at", "").strip()
            when = _taken_at(given, zone, now) if given else now
        except InputError as exc:
            report.invalid += 1
            report.problem(line, exc.describe())
            continue
        earlier = chunk.get(address)
        if earlier is None:
            chunk[address] = _Wanted(line, when)
        else:  # the same person again: one record, at their earliest time
            earlier.rows += 1
            earlier.when = min(earlier.when, when)
        if len(chunk) >= CHUNK:
            _flush(db, key, chunk, report, source=origin)
            chunk = {}
    if chunk:
        _flush(db, key, chunk, report, source=origin)
    report.problems.sort()
    return report


@lru_cache(maxsize=4)
def _ids(dialect: str) -> Select[str, int]:
    # Built once per dialect: each chunk's keys and ids are bound as lists (arrays on
    # PostgreSQL), not written into a new statement per chunk.
    return select(Subscriber.email_key, Subscriber.id).where(
        among_parameter(Subscriber.email_key, "keys", dialect, of=String)
    )


@lru_cache(maxsize=4)
def _recorded(dialect: str) -> Select[int, dt.datetime]:
    return select(ActionTaker.subscriber_id, ActionTaker.taken_at).where(
        ActionTaker.action == bindparam("action"),
        among_parameter(ActionTaker.subscriber_id, "ids", dialect),
    )


_EARLIER = (
    update(ActionTaker)
    .where(
        ActionTaker.action == bindparam("row_action"),
        ActionTaker.subscriber_id == bindparam("row_id"),
        ActionTaker.taken_at > bindparam("row_taken_at"),
    )
    .values(taken_at=bindparam("row_taken_at"))
)


def _flush(
    db: Database,
    action: str,
    chunk: dict[str, _Wanted],
    report: ActionReport,
    *,
    source: str,
) -> None:
    with db.session() as session:
        dialect = dialect_of(session)
        ids = {key: id_ for key, id_ in session.execute(_ids(dialect), {"keys": list(chunk)})}
        matched: dict[int, dt.datetime] = {}
        for address, wanted in chunk.items():
            if address in ids:
                matched[ids[address]] = wanted.when
                report.matched += wanted.rows
            else:
                report.unknown += wanted.rows
                report.problem(wanted.line, "email: not a subscriber (nothing recorded)")
        recorded = {
            subscriber_id: when
            for subscriber_id, when in session.execute(
                _recorded(dialect), {"action": action, "ids": list(matched)}
            )
        }
        _insert(session, action, {i: w for i, w in matched.items() if i not in recorded}, source)
        report.recorded += len(matched) - len(recorded)
        earlier = [
            {"row_action": action, "row_id": i, "row_taken_at": matched[i]}
            for i, stored in recorded.items()
            if matched[i] < stored
        ]
        if earlier:
            session.connection().execute(_EARLIER, earlier)


def _insert(session: Session, action: str, rows: dict[int, dt.datetime], source: str) -> None:
    if not rows:
        return
    now = utcnow()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        copy_rows(
            connection,
            "action_takers",
            ("action", "subscriber_id", "taken_at", "source", "recorded_at"),
            ((action, subscriber_id, when, source, now) for subscriber_id, when in rows.items()),
        )
        return
    connection.execute(
        insert(ActionTaker),
        [
            {
                "action": action,
                "subscriber_id": subscriber_id,
                "taken_at": when,
                "source": source,
                "recorded_at": now,
            }
            for subscriber_id, when in rows.items()
        ],
    )


def summaries(session: Session) -> list[ActionSummary]:
    """Every recorded action with its number of people, by name."""
    rows = session.execute(
        select(
            ActionTaker.action,
            func.count(),
            func.min(ActionTaker.taken_at),
            func.max(ActionTaker.taken_at),
        )
        .group_by(ActionTaker.action)
        .order_by(ActionTaker.action)
    )
    return [ActionSummary(a, int(n), first, last) for a, n, first, last in rows]
