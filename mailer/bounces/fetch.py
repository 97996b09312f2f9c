"""`mailer bounces fetch` and the beat's task: every new message of the bounce mailbox,
recorded, then marked.

Messages go in chunks: read, recorded and committed, then marked on the server. A crash
after the commit leaves them unmarked, and the next fetch finds them already recorded
(the recorder is idempotent per message): nothing is lost and nothing counted twice.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError

from mailer.bounces.mailbox import Mailbox, MailboxURL, parse_mailbox_url
from mailer.bounces.record import Recorded, Recorder
from mailer.errors import ConfigError
from mailer.runtime import Runtime

__all__ = ["CHUNK", "FetchResult", "fetch_bounces", "mailbox_url"]

CHUNK = 50  # messages per transaction and per FETCH: at most 50 MiB in memory


@dataclass
class FetchResult:
    """What one fetch did."""

    read: int = 0
    already: int = 0
    effects: Counter[str] = field(default_factory=Counter)
    left: int = 0  # new messages left for the next fetch (time budget spent)

    def summary(self) -> str:
        """One line: how many, and what they did."""
        done = ", ".join(f"{count} {effect}" for effect, count in sorted(self.effects.items()))
        line = f"read {self.read} new message(s)" + (f": {done}" if done else "")
        if self.already:
            line += f"; {self.already} already read"
        if self.left:
            line += f"; {self.left} left for the next fetch"
        return line


def mailbox_url(rt: Runtime) -> MailboxURL:
    """The configured bounce mailbox (ConfigError when MAILER_BOUNCE_MAILBOX is not set)."""
    if not rt.settings.bounce_mailbox:
        raise ConfigError("MAILER_BOUNCE_MAILBOX", "is not set: no bounce mailbox to read")
    return parse_mailbox_url(rt.settings.bounce_mailbox)


def fetch_bounces(
    rt: Runtime,
    *,
    on_message: Callable[[int, str], None] | None = None,
    budget_seconds: float | None = None,
) -> FetchResult:
    """Read every new message of the bounce mailbox; `on_message(uid, line)` for each."""
    result = FetchResult()
    started = time.monotonic()
    with Mailbox(mailbox_url(rt)) as box:
        box.open()
        uids = box.new_messages()
        for first in range(0, len(uids), CHUNK):
            if budget_seconds is not None and time.monotonic() - started > budget_seconds:
                result.left = len(uids) - first
                break
            messages = list(box.fetch(uids[first : first + CHUNK]))
            try:
                recorded = _record(rt, messages, isolate=False)
            except (IntegrityError, DataError, ProgrammingError):
                # Another reader got there first, or one message holds a value the database
                # refuses: the chunk again, each message alone.
                recorded = _record(rt, messages, isolate=True)
            for (uid, _raw, _size), outcome in zip(messages, recorded, strict=True):
                if outcome.new:
                    result.read += 1
                    result.effects.update(outcome.effects)
                else:
                    result.already += 1
                if on_message is not None:
                    on_message(uid, outcome.line)
            box.mark([uid for uid, _raw, _size in messages])  # after the commit
    return result


def _record(
    rt: Runtime, messages: list[tuple[int, bytes, int]], *, isolate: bool
) -> list[Recorded]:
    """Record a chunk in one transaction (committed when this returns)."""
    with rt.db.session() as session:
        recorder = Recorder.of(rt, session, source="mailbox", isolate=isolate)
        return recorder.record_many([(raw, size) for _uid, raw, size in messages])
