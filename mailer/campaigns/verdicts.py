"""What the send loop does with each reply: the verdict with blame, acted on in the ledger."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import deque
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from mailer.ledger import deliveries
from mailer.runtime import Runtime
from mailer.store.models import utcnow
from mailer.transport.classify import Blame, Outcome, Reply, Stage, Verdict

__all__ = ["MAX_ATTEMPTS", "BatchResult", "Verdicts", "sender_note"]

log = logging.getLogger("mailer.send")

MAX_ATTEMPTS = 8


@dataclass
class BatchResult:
    """What one batch did; `retry` holds the ids to try again later."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    retry: list[int] = field(default_factory=list)
    throttled: bool = False
    stopped: str | None = None
    # Why the batch paused its campaign (a relay refusing our sender), for `campaigns status`.
    paused: str | None = None


class Verdicts:
    """Collects the replies that are not acceptances (from any connection's thread) and applies
    them in the batch's own thread (`apply`), so that the database sees one writer."""

    def __init__(
        self, rt: Runtime, campaign_id: int, result: BatchResult, deadline: dt.datetime
    ) -> None:
        self._rt, self._campaign_id, self._result = rt, campaign_id, result
        self._deadline = deadline
        self._waiting: deque[tuple[int, Reply, Verdict]] = deque()
        self._lock = threading.Lock()
        self.refused_us: Reply | None = None  # the first reply that blames our sender
        # Subscribers whose reply is in the ledger (until then their lease is renewed).
        self.applied: set[int] = set()

    def add(self, subscriber_id: int, reply: Reply, verdict: Verdict) -> None:
        """A reply that is not an acceptance (any thread)."""
        if verdict.blame is Blame.SENDER and verdict.outcome is Outcome.PERMANENT:
            with self._lock:
                self.refused_us = self.refused_us or reply
        self._waiting.append((subscriber_id, reply, verdict))

    def apply(self) -> None:
        """Write what the replies mean into the ledger (the batch's thread)."""
        if not self._waiting:
            return
        written = []
        with self._rt.db.session() as session:
            while self._waiting:
                subscriber_id, reply, verdict = self._waiting.popleft()
                self._one(session, subscriber_id, reply, verdict)
                written.append(subscriber_id)
        self.applied.update(written)  # committed

    def _one(self, session: Session, subscriber_id: int, reply: Reply, verdict: Verdict) -> None:
        result, campaign_id, text = self._result, self._campaign_id, _described(reply)
        if verdict.outcome is Outcome.PERMANENT and verdict.blame is Blame.SENDER:
            # Our sender, credentials or relay: nobody's fault but ours. The row goes back as
            # it was (no attempt spent) and the campaign pauses (see run.py).
            deliveries.give_back(session, campaign_id, [subscriber_id], reply=text)
        elif verdict.outcome is Outcome.PERMANENT:
            reason = "address refused" if verdict.blame is Blame.RECIPIENT else verdict.reason
            deliveries.fail(session, campaign_id, subscriber_id, text, reason)
            if verdict.bounces:
                # The server refused this address for good: suppress it for every campaign.
                deliveries.bounce(session, subscriber_id)
            result.failed += 1
        elif verdict.outcome is Outcome.THROTTLED:
            # The server wants us slower, not this recipient gone: slow every worker down and
            # try again later without spending one of the recipient's attempts.
            self._rt.limiter.slow_down()
            result.throttled = True
            deliveries.throttled(session, campaign_id, subscriber_id, text)
            result.retry.append(subscriber_id)
        else:
            failed = deliveries.retry_later(
                session,
                campaign_id,
                subscriber_id,
                text,
                max_attempts=MAX_ATTEMPTS,
                give_up=utcnow() >= self._deadline,
            )
            if failed:
                result.failed += 1
            else:
                result.retry.append(subscriber_id)
            log.info(
                "campaign %s subscriber %s: temporary failure: %s",
                campaign_id,
                self._rt.signer.digest("log", subscriber_id)[:12],
                text,
            )


def _described(reply: Reply) -> str:
    """The reply as the ledger keeps it: the server's words, or what happened here."""
    where = {Stage.BUILD: "not sent", Stage.CONNECT: "connect"}.get(reply.stage, reply.stage.value)
    return f"{str(reply) or 'no reply'} ({where})" if reply.code is None else str(reply)


def sender_note(reply: Reply) -> str:
    """The pause reason shown by `campaigns status` when the relay refuses our sender."""
    stage = {Stage.MAIL: "MAIL FROM", Stage.CONNECT: "connect/AUTH"}.get(
        reply.stage, reply.stage.value.upper()
    )
    return (
        f"paused itself: the relay refused our sender at {stage}: {str(reply)[:300]}; "
        "nobody was suppressed and no attempt was spent; fix the sender or the relay "
        "account, then `mailer campaigns resume`"
    )
