"""The beat's minute: due scheduled campaigns, the digest when due, new entries of the sources."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace

from sqlalchemy.orm import Session

from mailer.campaigns.digest import create_digest, digest_due, last_digest
from mailer.campaigns.publish import publish
from mailer.campaigns.schedule import start_due
from mailer.org import OrgProfile, Source
from mailer.statements.model import Statement
from mailer.statements.repository import content_hash, save
from mailer.statements.sources import FeedEntry, read_directory, read_feed_entries
from mailer.store.db import Database
from mailer.store.models import StatementRow, utcnow

__all__ = ["poll_sources", "tick"]

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
        legacy = session.get(StatementRow, entry.legacy_id)
        if legacy is not None and legacy.source == source.name:
            # Written by this feed before ids named their source: it keeps its id and key.
            statement = replace(statement, id=legacy.id, translation_key=legacy.translation_key)
    row = session.get(StatementRow, statement.id)
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


def tick(db: Database, org: OrgProfile, *, now: dt.datetime | None = None) -> list[int]:
    """Everything time starts; returns the campaigns to dispatch. The clock is injectable."""
    moment = now or utcnow()
    campaigns = start_due(db, org, now=moment)
    if digest_due(org, last=last_digest(db), now=moment):
        digest = create_digest(db, now=moment)
        if digest is not None:
            campaigns.append(digest)
    try:
        campaigns.extend(poll_sources(db, org))
    except Exception as exc:
        # The campaigns started above are returned whatever the sources do: dropping them
        # here would leave them planning with nobody to dispatch them.
        log.error("sources: %s: %s (due campaigns go out all the same)", type(exc).__name__, exc)
    return campaigns
