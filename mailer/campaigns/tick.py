"""The beat's minute: due scheduled campaigns, held rows whose wait is over, the digest when due,
new entries of the sources."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.campaigns.digest import create_digest, digest_due, last_digest
from mailer.campaigns.missing import release_held
from mailer.campaigns.publish import publish
from mailer.campaigns.schedule import start_or_miss
from mailer.org import OrgProfile, Source
from mailer.statements.model import Statement
from mailer.statements.repository import content_hash, save
from mailer.statements.sources import FeedEntry, read_directory, read_feed_entries
from mailer.store.db import Database
from mailer.store.models import StatementRow, utcnow

__all__ = ["Ticked", "poll_sources", "tick", "tick_report"]

log = logging.getLogger("mailer.tick")


def poll_sources(db: Database, org: OrgProfile) -> list[int]:
    """Store new entries of every source; publish them when the source says so.
    Returns the alert campaigns to dispatch."""
    campaigns: list[int] = []
    for source in org.sources:
        try:
            found = read_feed_entries(source) if source.url else _entries(read_directory(source))
            entries, problems = found
        except Exception as exc:  # one source's failure is reported; the others are read
            entries, problems = [], [f"unreadable: {type(exc).__name__}: {str(exc)[:200]}"]
        for problem in problems:
            log.warning("source %s: %s", source.name, problem)
        for entry in entries:
            with db.session() as session:
                statement, action = _store(session, source, entry)
            if action == "created" and source.publish:
                result = publish(db, org, statement.id)
                if result.campaign_id is not None and result.created:
                    campaigns.append(result.campaign_id)
    return campaigns


def _entries(read: tuple[list[Statement], list[str]]) -> tuple[list[FeedEntry], list[str]]:
    statements, problems = read
    return [FeedEntry(s, legacy_id=s.id) for s in statements], problems


def _store(session: Session, source: Source, entry: FeedEntry) -> tuple[Statement, str]:
    """Save one entry of a source: 'created', 'updated', 'unchanged', or 'refused'.

    A statement another source (or the admin) wrote is never touched by this one, and a
    published one never changes under a feed: its alert went out with that content, and a
    third-party feed must not rewrite what the organisation sent (import it by hand)."""
    statement = entry.statement
    if entry.legacy_id != statement.id and session.get(StatementRow, statement.id) is None:
        # Written by this feed before ids named their source (the guid alone: the id's key
        # is the group's): the entry keeps that id and group.
        legacy_key = entry.legacy_id.rsplit("-", 1)[0]
        legacy = session.scalars(
            select(StatementRow.id)
            .where(StatementRow.translation_key == legacy_key, StatementRow.source == source.name)
            .limit(1)
        ).first()
        if legacy is not None:
            statement = replace(statement, id=entry.legacy_id, translation_key=legacy_key)
    row = session.get(StatementRow, statement.id)
    if row is None and _published_group(session, statement.translation_key):
        # Another language of an entry already announced (a feed that changed its
        # <language>): new text under an alert that went out, never from a feed.
        log.warning(
            "source %s: entry %s left alone: its group was published already",
            source.name,
            statement.id,
        )
        return statement, "refused"
    if row is not None and row.source != source.name:
        log.warning(
            "source %s: entry %s left alone: that statement came from %s",
            source.name,
            statement.id,
            row.source or "an import",
        )
        return statement, "refused"
    if row is not None and row.published_at is not None:
        if row.content_hash != content_hash(statement):
            log.warning(
                "source %s: entry %s changed in the feed after it was published: kept as published",
                source.name,
                statement.id,
            )
        return statement, "unchanged"
    return statement, save(session, statement)


@dataclass
class Ticked:
    """What one tick did: the campaigns to dispatch, and one line per thing done, to print."""

    campaigns: list[int] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def _published_group(session: Session, translation_key: str) -> bool:
    found = session.scalars(
        select(StatementRow.id)
        .where(
            StatementRow.translation_key == translation_key,
            StatementRow.published_at.is_not(None),
        )
        .limit(1)
    ).first()
    return found is not None


def tick(db: Database, org: OrgProfile, *, now: dt.datetime | None = None) -> list[int]:
    """Everything time starts; returns the campaigns to dispatch. The clock is injectable."""
    return tick_report(db, org, now=now).campaigns


def tick_report(db: Database, org: OrgProfile, *, now: dt.datetime | None = None) -> Ticked:
    """`tick`, saying what it did. Each step's failure is logged and the steps after it run:
    the campaigns started before it are returned whatever fails later (dropping them would
    leave them planning with nobody to dispatch them)."""
    moment = now or utcnow()
    done = Ticked()
    due = start_or_miss(db, org, now=moment)
    done.campaigns.extend(due.started)
    done.lines.extend(f"campaign {cid}: due, started" for cid in due.started)
    done.lines.extend(f"campaign {cid}: {note}" for cid, note in due.missed)
    try:
        # Held rows whose wait is over get their fallback now (a beat, or cron on `tick`).
        released = release_held(db, org, now=moment)
    except Exception as exc:
        log.error("held rows: %s: %s (due campaigns go out all the same)", type(exc).__name__, exc)
        released = []
    for cid in released:
        if cid not in done.campaigns:
            done.campaigns.append(cid)
        done.lines.append(f"campaign {cid}: held rows released (their wait is over)")
    try:
        if digest_due(org, last=last_digest(db), now=moment):
            digest = create_digest(db, now=moment)
            if digest is not None:
                done.campaigns.append(digest)
                done.lines.append(f"digest campaign {digest}: created")
    except Exception as exc:
        log.error("digest: %s: %s (due campaigns go out all the same)", type(exc).__name__, exc)
        done.lines.append(f"digest failed: {type(exc).__name__}: {str(exc)[:200]}")
    try:
        found = poll_sources(db, org)
    except Exception as exc:
        log.error("sources: %s: %s (due campaigns go out all the same)", type(exc).__name__, exc)
        found = []
    done.campaigns.extend(found)
    done.lines.extend(f"campaign {cid}: a new source entry announced" for cid in found)
    return done
