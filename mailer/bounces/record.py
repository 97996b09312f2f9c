"""The one recorder: a message read from the bounce address becomes events and their effects,
once. Idempotent per message (the SHA-256 of the bytes read is its key), so a mailbox read
twice, or a fetch that crashed between recording and marking, changes nothing twice.

A message that cannot be read is recorded as such, and the messages around it as usual;
one whose values the database refuses fails alone too (in its own savepoint). What it
prints names no address.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError
from sqlalchemy.orm import Session

from mailer.bounces.assess import Finding, Kind, assess
from mailer.bounces.match import Match, Matcher
from mailer.bounces.mime import MAX_BYTES
from mailer.bounces.read import Form, Report, read_report
from mailer.bounces.soft import soft_bounces
from mailer.bounces.standing import mark_bounced, mark_complained
from mailer.org import OrgProfile
from mailer.store.models import BounceEvent, InboundReport, Subscriber, utcnow
from mailer.subscribers.actions import unsubscribe_row
from mailer.subscribers.store import email_key
from mailer.tokens import TokenSigner

if TYPE_CHECKING:
    from mailer.runtime import Runtime

__all__ = ["Recorded", "Recorder", "digest_of"]

# What a report changes for its person when it is proven to be about our message.
# (A delivery or an auto-reply ends a run of soft bounces: one a stranger wrote must not.)
_ACTING = frozenset({Kind.HARD, Kind.SOFT, Kind.COMPLAINT, Kind.DELIVERED, Kind.AUTO_REPLY})

log = logging.getLogger("mailer.bounces")
_SHOWN = 3


@dataclass
class Recorded:
    """What recording one message did: its line, and each event's effect."""

    line: str
    new: bool = True
    effects: list[str] = field(default_factory=list)


def digest_of(raw: bytes) -> str:
    """The key of a message: the SHA-256 of the bytes mailer reads of it."""
    return hashlib.sha256(raw[:MAX_BYTES]).hexdigest()


class Recorder:
    """Records messages in one session (the caller commits)."""

    def __init__(
        self,
        session: Session,
        *,
        signer: TokenSigner,
        org: OrgProfile,
        secret_key: str,
        source: str,
        isolate: bool = True,
    ) -> None:
        self.session, self.signer, self.org, self.source = session, signer, org, source
        self.matcher = Matcher(session, signer=signer, org=org, secret_key=secret_key)
        # Each message in its own savepoint (one that fails to be written fails alone); a
        # batch may go without, and do it again with them when its commit fails.
        self.isolate = isolate
        self._recorded: set[str] = set()

    @classmethod
    def of(cls, rt: Runtime, session: Session, *, source: str, isolate: bool = True) -> Recorder:
        """A recorder with the runtime's signer, profile and secret key."""
        return cls(
            session,
            signer=rt.signer,
            org=rt.org,
            secret_key=rt.settings.secret_key,
            source=source,
            isolate=isolate,
        )

    def record(
        self,
        raw: bytes,
        *,
        size: int | None = None,
        recipient: str | None = None,
        now: dt.datetime | None = None,
    ) -> Recorded:
        """Read, judge, match and record one message; says what it did in one line."""
        return self.record_many([(raw, size)], recipient=recipient, now=now)[0]

    def record_many(
        self,
        messages: list[tuple[bytes, int | None]],
        *,
        recipient: str | None = None,
        now: dt.datetime | None = None,
    ) -> list[Recorded]:
        """Record (bytes, full size) messages: all read first (pure), the people and
        campaigns they name loaded in a few queries, then each recorded."""
        now = now or utcnow()
        digests = [digest_of(raw) for raw, _size in messages]
        earlier = {
            digest: outcome
            for digest, outcome in self.session.execute(
                select(InboundReport.digest, InboundReport.outcome).where(
                    InboundReport.digest.in_(set(digests))
                )
            )
        }
        readings: list[tuple[Report | None, tuple[Finding, ...]] | None] = []
        for (raw, size), digest in zip(messages, digests, strict=True):
            if digest in earlier or digest in self._recorded:
                readings.append(None)
                continue
            self._recorded.add(digest)
            readings.append(self._read(raw, size, recipient))
        self.matcher.preload(r[0] for r in readings if r is not None and r[0] is not None)
        results: list[Recorded] = []
        for digest, reading in zip(digests, readings, strict=True):
            if reading is None:
                outcome = earlier.get(digest)
                results.append(
                    Recorded(f"already read: {outcome}" if outcome else "already read", new=False)
                )
            else:
                results.append(self._store(digest, *reading, now))
        return results

    def _read(
        self, raw: bytes, size: int | None, recipient: str | None
    ) -> tuple[Report | None, tuple[Finding, ...]]:
        try:
            report = read_report(raw, languages=self.org.locales, size=size, recipient=recipient)
            return report, assess(report)
        except Exception as exc:
            # Reading is pure: whatever a hostile message makes it trip on fails that message
            # alone, recorded as unreadable, and the mailbox goes on.
            log.warning("a report could not be read: %s", type(exc).__name__)
            return None, ()

    def _store(
        self, digest: str, report: Report | None, findings: tuple[Finding, ...], now: dt.datetime
    ) -> Recorded:
        if not self.isolate:
            return self._write(report, findings, digest, now)
        try:
            with self.session.begin_nested():
                result = self._write(report, findings, digest, now)
                self.session.flush()
        except IntegrityError as exc:
            if self.session.get(InboundReport, digest) is not None:
                return Recorded("already read (by another reader at the same time)", new=False)
            log.warning("a report could not be recorded: %s", type(exc).__name__)
            return self._unrecordable(digest, now)
        except (DataError, ProgrammingError) as exc:  # a value the database refused
            log.warning("a report could not be recorded: %s", type(exc).__name__)
            return self._unrecordable(digest, now)
        return result

    def _write(
        self, report: Report | None, findings: tuple[Finding, ...], digest: str, now: dt.datetime
    ) -> Recorded:
        inbound = InboundReport(
            digest=digest,
            source=self.source,
            form=report.form.name.lower() if report else "unreadable",
            outcome="",
            received_at=now,
        )
        events: list[BounceEvent] = []
        result = self._apply(report, findings, inbound, events, now)
        # Added once complete: one INSERT each, no UPDATE of what a query's autoflush wrote.
        inbound.outcome = result.line[:300]
        self.session.add(inbound)
        self.session.add_all(events)
        return result

    def _unrecordable(self, digest: str, now: dt.datetime) -> Recorded:
        line = "could not be recorded: ignored"
        with self.session.begin_nested():
            self.session.add(
                InboundReport(
                    digest=digest,
                    source=self.source,
                    form="unreadable",
                    outcome=line,
                    received_at=now,
                )
            )
        return Recorded(line, effects=["unreadable"])

    def _apply(
        self,
        report: Report | None,
        findings: tuple[Finding, ...],
        inbound: InboundReport,
        events: list[BounceEvent],
        now: dt.datetime,
    ) -> Recorded:
        if report is None:
            return Recorded("unreadable: ignored", effects=["unreadable"])
        result = Recorded("")
        segments = [self._finding(report, f, inbound, events, now, result) for f in findings]
        if not segments:
            segments = [f"ignored: {report.note or 'not a report'}"]
            result.effects.append("ignored")
        shown = "; ".join(segments[:_SHOWN])
        if len(segments) > _SHOWN:
            shown += f"; and {len(segments) - _SHOWN} more"
        prefix = "" if report.form in (Form.OTHER, Form.UNSUBSCRIBE) else f"{report.form.value}: "
        notes = f" [{'; '.join(report.problems)}]" if report.problems else ""
        result.line = f"{prefix}{shown}{notes}"
        return result

    def _finding(
        self,
        report: Report,
        finding: Finding,
        inbound: InboundReport,
        events: list[BounceEvent],
        now: dt.datetime,
        result: Recorded,
    ) -> str:
        if finding.kind is Kind.UNSUBSCRIBE:
            return self._unsubscribe(report.token or "", inbound, events, now, result)
        match = self.matcher.match(report, finding)
        row = self.session.get(Subscriber, match.subscriber_id) if match.subscriber_id else None
        event = BounceEvent(
            report=inbound,
            kind=finding.kind.value,
            effect="none",
            subscriber_id=row.id if row else None,
            campaign_id=match.campaign_id,
            matched_by=match.by if row else None,
            # An unmatched report keeps the address it names, so that it can be listed.
            recipient=None if row or not finding.address else email_key(finding.address)[:320],
            status=finding.status,
            code=finding.code,
            diagnostic=finding.diagnostic[:500] or None,
            reason=finding.reason[:200],
            blame=finding.blame,
            created_at=now,
        )
        effect, text = self._effect(finding, row, match, events, now)
        event.effect = effect
        events.append(event)
        result.effects.append("recorded" if effect == "none" else effect)
        status = f"{finding.status} " if finding.status else ""
        if row is None:
            why = match.note or "nobody it names is ours"
            return f"kept unmatched ({why}): {finding.kind.value} {status}{finding.reason}".strip()
        return f"{text}: {status}{finding.reason} (matched by {match.by})"

    def _effect(
        self,
        finding: Finding,
        row: Subscriber | None,
        match: Match,
        events: list[BounceEvent],
        now: dt.datetime,
    ) -> tuple[str, str]:
        if row is None:
            return "unmatched", ""
        if match.by == "address" and finding.kind in _ACTING:
            # Anyone can write a report naming anyone: without our VERP token or one of our
            # Message-IDs (both keyed), a report could cut a person off every alert at a
            # stranger's word. Kept against the person, shown by `why`, never acted on.
            return "unverified", (
                "recorded, not acted on (it carries neither our VERP token nor one of our "
                "Message-IDs, so anyone could have written it)"
            )
        if finding.kind is Kind.HARD:
            if mark_bounced(self.session, row):
                return "bounced", "bounced"
            return "bounced", f"suppressed (already {row.status})"
        if finding.kind is Kind.SOFT:
            # This report's soft bounces are not in the database yet: counted with it.
            pending = [
                (e.kind, e.campaign_id, e.created_at)
                for e in events
                if e.subscriber_id == row.id and e.kind == Kind.SOFT.value
            ]
            pending.append((Kind.SOFT.value, match.campaign_id, now))
            counted = soft_bounces(self.session, row.id, now, pending=pending)
            limit, days = self.org.soft_bounce_limit, self.org.soft_bounce_days
            if counted.reached(limit, days):
                mark_bounced(self.session, row)
                return (
                    "bounced",
                    f"bounced after {counted.count} soft bounces over {counted.days:.0f} days",
                )
            return "counted", f"soft bounce {counted.count} of {limit}"
        if finding.kind is Kind.COMPLAINT:
            changed = mark_complained(self.session, row)
            return "complained", (
                "complained: unsubscribed and suppressed" if changed else "already complained"
            )
        if finding.kind is Kind.POLICY:
            where = f"campaign {match.campaign_id}" if match.campaign_id else "its message"
            return "none", f"recorded against {where}, subscriber untouched"
        if finding.kind is Kind.AUTO_REPLY:
            return "none", "ignored (recorded)"
        if finding.kind is Kind.DELIVERED:
            return "none", "delivered"
        return "none", "recorded, nothing done"

    def _unsubscribe(
        self,
        token: str,
        inbound: InboundReport,
        events: list[BounceEvent],
        now: dt.datetime,
        result: Recorded,
    ) -> str:
        subscriber_id = self.signer.verify(token, "unsubscribe")
        if subscriber_id is None:
            result.effects.append("ignored")
            return "ignored: the token is not valid"
        row = self.session.get(Subscriber, subscriber_id)
        if row is None:
            result.effects.append("ignored")
            return "ignored: nobody to unsubscribe"
        changed = unsubscribe_row(self.session, row, how="mailto")
        events.append(
            BounceEvent(
                report=inbound,
                kind=Kind.UNSUBSCRIBE.value,
                effect="unsubscribed" if changed else "none",
                subscriber_id=row.id,
                matched_by="token",
                reason="mailto: unsubscribe",
                created_at=now,
            )
        )
        result.effects.append("unsubscribed" if changed else "recorded")
        return "unsubscribed" if changed else "already unsubscribed"
