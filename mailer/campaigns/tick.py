"""The beat's minute: due scheduled campaigns, the digest when due, new entries of the sources."""

from __future__ import annotations

import datetime as dt
import logging

from mailer.campaigns.digest import create_digest, digest_due, last_digest
from mailer.campaigns.publish import publish
from mailer.campaigns.schedule import start_due
from mailer.org import OrgProfile
from mailer.statements.repository import save
from mailer.statements.sources import read_directory, read_feed
from mailer.store.db import Database
from mailer.store.models import utcnow

__all__ = ["poll_sources", "tick"]

log = logging.getLogger("mailer.tick")


def poll_sources(db: Database, org: OrgProfile) -> list[int]:
    """Store new entries of every source; publish them when the source says so.
    Returns the alert campaigns to dispatch."""
    campaigns: list[int] = []
    for source in org.sources:
        try:
            found, problems = read_feed(source) if source.url else read_directory(source)
        except Exception as exc:  # one source's failure is reported; the others are read
            found, problems = [], [f"unreadable: {type(exc).__name__}: {str(exc)[:200]}"]
        for problem in problems:
            log.warning("source %s: %s", source.name, problem)
        for statement in found:
            with db.session() as session:
                action = save(session, statement)
            if action == "created" and source.publish:
                result = publish(db, org, statement.id)
                if result.campaign_id is not None and result.created:
                    campaigns.append(result.campaign_id)
    return campaigns


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
