"""What an admin (or the person) does to one subscriber: unsubscribe, forget, and why (not) sent."""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from mailer.bounces.listing import events_for
from mailer.errors import InputError, NotFound
from mailer.store.db import Database
from mailer.store.models import BounceEvent, Campaign, Delivery, Subscriber, utcnow
from mailer.subscribers.segments import excluding_term
from mailer.subscribers.store import get_by_email
from mailer.subscribers.suppression import is_suppressed, lift, suppress
from mailer.subscribers.validate import email_key, normalise_email

__all__ = [
    "MAX_SOURCE",
    "erase",
    "final_status_refusal",
    "forget",
    "resubscribe",
    "scrub",
    "unsubscribe",
    "unsubscribe_row",
    "why",
]

log = logging.getLogger("mailer.subscribers")

_REASONS = {
    "pending confirmation": "not sent: the address was never confirmed (double opt-in pending)",
    "unsubscribed": "not sent: unsubscribed",
    "bounced": "not sent: the address bounced and is suppressed",
    "complained": "not sent: the person reported a message as spam and is suppressed",
    "suppressed": "not sent: the address is on the suppression list",
    "not in segment": "not sent: not in the campaign's segment",
    "alerts off": "not sent: alerts are off (digest only)",
    "no email wanted": "not sent: the person wants no email",
    "topic mismatch": "not sent: none of the person's topics is a topic of the statement",
    "forgotten": "not sent: the person was erased",
    "no emails for now": "not sent: the person chose no emails for now (no segment overrides it)",
    "already received": "not sent: the person already received it (another campaign of this "
    "statement; in a digest, each of its statements); `mailer send ... --again` sends a "
    "statement anyway",
}


def unsubscribe_row(session: Session, row: Subscriber, *, how: str) -> bool:
    """Unsubscribe and suppress; True when it changed anything (idempotent)."""
    suppress(session, row.email_key, "unsubscribed")
    if row.status == "unsubscribed":
        return False
    row.status = "unsubscribed"
    row.attributes = {**row.attributes, "unsubscribed_via": how}
    return True


def unsubscribe(session: Session, email: str, *, how: str = "admin") -> bool:
    """Unsubscribe an address now: no further email, even from a campaign in progress."""
    return unsubscribe_row(session, get_by_email(session, email), how=how)


MAX_SOURCE = 300  # characters of a consent source, as the consent columns hold


def final_status_refusal(address: str, status: str) -> str:
    """Why a plain add or import leaves an unsubscribed, bounced or complained person as they
    are, and the one way to bring them back."""
    force = " --force" if status == "complained" else ""
    return (
        f"{address} is {status}: nothing changed (an add or an import never resubscribes "
        f"anyone); if the person asked to come back: mailer subscribers resubscribe {address} "
        f'--source "how they asked"{force}'
    )


def resubscribe(session: Session, email: str, *, source: str, force: bool = False) -> str:
    """Subscribe again a person who unsubscribed, bounced or (with `force`) complained, because
    they asked: their consent is recorded anew (now, `source`, method "resubscribed") and
    their suppression entry is lifted. Returns the status they had.

    An erased address has no person left to resubscribe: only their own signup (double
    opt-in) can add them again, as someone new. InputError says why for every refusal."""
    source = " ".join(source.split())
    if not source:
        raise InputError("say how the person asked to come back", field="--source")
    if len(source) > MAX_SOURCE or not source.isprintable():
        raise InputError(f"printable text of at most {MAX_SOURCE} characters", field="--source")
    address = normalise_email(email)
    row = session.scalars(
        select(Subscriber).where(Subscriber.email_key == email_key(address))
    ).one_or_none()
    if row is None:
        if is_suppressed(session, email_key(address)) == "erased":
            raise InputError(
                f"{address} was erased (subscribers forget): nothing of the person is left to "
                "resubscribe; only their own signup, confirmed by them, can add them again"
            )
        raise NotFound("subscriber", address)
    if row.status == "subscribed":
        return "subscribed"
    if row.status == "pending":
        raise InputError(
            f"{address} is pending (never confirmed), not unsubscribed: nothing to resubscribe; "
            f"if you hold their consent: mailer subscribers add {address} --consented"
        )
    if row.status == "complained" and not force:
        raise InputError(
            f"{address} reported one of your emails as spam (complained): mailing them again "
            "harms your sender reputation with their provider; if they asked you themselves to "
            "come back, add --force"
        )
    previous = row.status
    lift(session, row.email_key)
    row.status = "subscribed"
    row.consent_at = utcnow()
    row.consent_source = source
    row.consent_method = "resubscribed"
    session.flush()
    log.info("resubscribed (was %s)", previous)
    return previous


def forget(session: Session, email: str) -> None:
    """GDPR erasure: delete the person, their ledger rows and their bounce and complaint
    events (an unmatched report naming the address too); keep only a keyed hash to suppress.

    On SQLite the deleted rows are overwritten with zeros (`secure_delete`), so that the
    freed space of the pages keeps nothing; `scrub` then empties the write-ahead log."""
    row = get_by_email(session, email)
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA secure_delete=ON")
    suppress(session, row.email_key, "erased")
    session.execute(delete(Delivery).where(Delivery.subscriber_id == row.id))
    session.execute(
        delete(BounceEvent).where(
            or_(BounceEvent.subscriber_id == row.id, BounceEvent.recipient == row.email_key)
        )
    )
    session.delete(row)
    session.flush()


def scrub(db: Database, *, attempts: int = 20) -> str | None:
    """After an erasure, make the database files hold no copy of what was deleted.

    SQLite: checkpoint the write-ahead log into the database and truncate it to nothing
    (old page versions, the address among them, live in the WAL until then); a reader in
    the middle of a transaction can hold the checkpoint back, so it is retried for a few
    seconds. PostgreSQL: VACUUM the tables the erasure touched, so that the dead row
    versions are removed from their pages. Returns what could not be done, or None."""
    if db.is_sqlite:
        for _ in range(attempts):
            with db.engine.connect() as connection:
                busy, _log, _done = connection.exec_driver_sql(
                    "PRAGMA wal_checkpoint(TRUNCATE)"
                ).one()
            if not busy:
                return None
            time.sleep(0.25)
        return (
            "the write-ahead log could not be emptied (another process is reading); "
            "it will be on the next checkpoint"
        )
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(
                "VACUUM subscribers, deliveries, bounce_events, action_takers"
            )
    return None


def erase(db: Database, email: str) -> str | None:
    """`forget` in its own transaction, then `scrub`; returns what `scrub` could not do."""
    with db.session() as session:
        forget(session, email)
    problem = scrub(db)
    if problem:
        log.warning("erasure: %s", problem)
    return problem


def why(session: Session, email: str, campaign_id: int) -> dict[str, Any]:
    """Did this person get this campaign, and if not, why not."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("campaign", campaign_id)
    person = get_by_email(session, email)
    row = session.scalars(
        select(Delivery).where(
            Delivery.campaign_id == campaign_id, Delivery.subscriber_id == person.id
        )
    ).one_or_none()
    answer: dict[str, Any] = {
        "email": person.email,
        "campaign": campaign_id,
        "campaign_state": campaign.state,
        # What came back after the relay accepted the message (DSN, ARF, auto-reply).
        "events": events_for(session, person.id, campaign_id=campaign_id),
    }
    if row is None:
        answer.update(
            status="absent",
            explanation="not in the campaign: the person joined after it was planned"
            if campaign.state != "planning"
            else "the campaign is not planned yet",
        )
        return answer
    answer.update(
        status=row.status,
        locale=row.locale,
        version=row.statement_id,
        version_lang=row.version_lang,
        attempts=row.attempts,
        message_id=row.message_id,
        last_reply=row.last_reply,
        sent_at=row.sent_at.isoformat() if row.sent_at else None,
        reason=row.reason,
    )
    if row.status == "sent":
        answer["explanation"] = (
            f"sent at {row.sent_at:%Y-%m-%d %H:%M:%S} UTC in {row.locale} (version {row.statement_id}), "
            f"Message-ID {row.message_id}, server said: {row.last_reply}"
        )
    elif row.status == "failed":
        answer["explanation"] = f"failed after {row.attempts} attempt(s): {row.last_reply}"
    elif row.status in {"pending", "sending"}:
        tail = f"; last reply: {row.last_reply}" if row.last_reply else ""
        answer["explanation"] = f"not sent yet ({row.status}, {row.attempts} attempt(s)){tail}"
    else:
        answer["explanation"] = _REASONS.get(row.reason or "", f"not sent: {row.reason}")
        if row.reason == "not in segment" and campaign.segment:
            answer["explanation"] += _segment_term(session, campaign.segment, person.id, answer)
    if answer["events"]:
        answer["explanation"] += "; then " + "; ".join(
            _event_line(e) for e in reversed(answer["events"])
        )
    return answer


def _event_line(event: dict[str, Any]) -> str:
    status = f" {event['status']}" if event["status"] else ""
    effect = "" if event["effect"] in ("none", "counted") else f", {event['effect']}"
    return f"a {event['kind']} report{status} at {event['at'][:19].replace('T', ' ')} UTC ({event['reason']}{effect})"


def _segment_term(
    session: Session, expression: str, subscriber_id: int, answer: dict[str, Any]
) -> str:
    """Which term of the segment left the person out (evaluated now)."""
    term = excluding_term(session, expression, subscriber_id)
    answer["excluded_by"] = term
    if term is None:
        return f" ({expression}); the person matches it now: their data changed since"
    return f": {term} is false for this person"
