"""Many messages in flight: several SMTP connections per process, each busy with one message.

A relay 20 ms away answers each message after a round trip, whatever our speed: one
connection carries at most 1 / RTT messages a second. `SMTPTransport` keeps
`MAILER_SMTP_CONNECTIONS` connections open and busy, each in its own thread, each with one
message in flight, so that a crash costs at most one duplicate per connection. Items come
from one shared iterator (so the caller's rate limits hold across all of them); each reply
is reported from the connection's thread before that connection sends another message.
A relay that refuses more connections (421 at the greeting, a refused connect) while others
are open is taken at its word: the pool shrinks to what it accepts, for a minute.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from mailer.transport.base import Outgoing, Report
from mailer.transport.classify import Reply, Stage
from mailer.transport.smtp import SMTPConnection, SMTPSettings

__all__ = ["SMTPTransport"]

log = logging.getLogger("mailer.smtp")

_REGROW_SECONDS = 60.0  # how long a relay's connection cap is kept before trying more again
_POLL_SECONDS = 0.005  # how often the caller's `meanwhile` runs while the connections work


class _Shared:
    """The caller's items, read by several connection threads one at a time; items given back
    by a connection that could not reconnect are served first."""

    def __init__(self, items: Iterable[Outgoing]) -> None:
        self._items = iter(items)
        self._back: deque[Outgoing] = deque()
        self._lock = threading.Lock()
        self.exhausted = False

    def __iter__(self) -> Iterator[Outgoing]:
        return self

    def __next__(self) -> Outgoing:
        with self._lock:
            if self._back:
                return self._back.popleft()
            if self.exhausted:
                raise StopIteration
            try:
                return next(self._items)
            except StopIteration:
                self.exhausted = True
                raise

    def give_back(self, item: Outgoing) -> None:
        with self._lock:
            self._back.append(item)

    def leftovers(self) -> list[Outgoing]:
        with self._lock:
            left, self._back = list(self._back), deque()
            return left


class SMTPTransport:
    """A pool of persistent SMTP connections, each used by one thread at a time."""

    def __init__(self, settings: SMTPSettings) -> None:
        self.settings = settings
        self._idle: list[SMTPConnection] = []
        self._lock = threading.Lock()
        self._cap: int | None = None  # the relay's limit, when it told us
        self._capped_at = 0.0

    @property
    def connections(self) -> int:
        """Connections kept busy at once (fewer while the relay caps them)."""
        with self._lock:
            if self._cap is not None and time.monotonic() - self._capped_at > _REGROW_SECONDS:
                self._cap = None
            return min(self.settings.connections, self._cap or self.settings.connections)

    def _take(self) -> SMTPConnection:
        with self._lock:
            # Open connections first: a new one costs round trips (and TLS, AUTH).
            self._idle.sort(key=lambda c: c.is_open)
            return self._idle.pop() if self._idle else SMTPConnection(self.settings)

    def _put(self, connection: SMTPConnection) -> None:
        with self._lock:
            self._idle.append(connection)

    def stream(
        self,
        items: Iterable[Outgoing],
        report: Report,
        meanwhile: Callable[[], None] | None = None,
    ) -> None:
        """Deliver the items over up to `connections` connections at once (see the module)."""
        width = self.connections
        if width == 1:
            connection = self._take()
            try:
                for item, reply in connection.send_many(items, meanwhile):
                    report(item, reply)
            finally:
                self._put(connection)
            return
        source = _Shared(items)
        state = _Stream(width)
        threads = [
            threading.Thread(
                target=self._run, args=(source, report, state), name=f"mailer-smtp-{n}", daemon=True
            )
            for n in range(width)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    if meanwhile is not None:
                        meanwhile()
                    thread.join(_POLL_SECONDS)
        finally:
            source.exhausted = True  # the caller failed: the connections stop taking items
            for thread in threads:
                thread.join()
        # Given back by a connection that could not reconnect after the others had finished.
        for item in source.leftovers():
            report(item, state.refusal or Reply(Stage.CONNECT, None, "no connection left"))
        if state.error is not None:
            raise state.error

    def _run(self, source: _Shared, report: Report, state: _Stream) -> None:
        """One connection's thread: open it, then send what the shared source gives."""
        connection = self._take()
        try:
            refused = connection.open()
            if not state.settled(connection, opened=refused is None):
                # The relay took fewer connections than we asked for: use what it accepts.
                self._capped(state.opened, refused)
                return
            if refused is not None:
                state.refusal = refused  # nobody could connect: every item gets the reply

            def unreachable(item: Outgoing, reply: Reply) -> bool:
                # Lost mid-stream and not back: hand the item to a connection still open.
                state.refusal = reply
                if state.open_elsewhere(connection):
                    source.give_back(item)
                    return True
                return False

            for item, reply in connection.send_many(source, unreachable=unreachable):
                report(item, reply)
        except BaseException as exc:  # report() failed: the caller sees it
            state.error = exc
            source.exhausted = True
        finally:
            state.closed(connection)
            self._put(connection)

    def _capped(self, opened: int, refused: Reply | None) -> None:
        with self._lock:
            first = self._cap is None
            self._cap, self._capped_at = max(1, opened), time.monotonic()
        if first:
            log.warning(
                "the relay accepted %d of %d connections (%s): using %d for a minute",
                opened,
                self.settings.connections,
                refused,
                opened,
            )

    def close(self) -> None:
        """QUIT every connection; the next stream opens new ones."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


class _Stream:
    """What the threads of one stream know of each other."""

    def __init__(self, width: int) -> None:
        self._condition = threading.Condition()
        self._connecting = width
        self.opened = 0
        self._open: set[int] = set()
        self.refusal: Reply | None = None
        self.error: BaseException | None = None

    def settled(self, connection: SMTPConnection, *, opened: bool) -> bool:
        """Record this thread's first connect; False when it failed while others succeeded
        (the thread then leaves). Waits until every first connect is done."""
        with self._condition:
            self._connecting -= 1
            if opened:
                self.opened += 1
                self._open.add(id(connection))
            self._condition.notify_all()
            while self._connecting > 0:
                self._condition.wait()
            return opened or self.opened == 0

    def open_elsewhere(self, connection: SMTPConnection) -> bool:
        """True when another connection of this stream is still open (this one is not)."""
        with self._condition:
            self._open.discard(id(connection))
            return bool(self._open)

    def closed(self, connection: SMTPConnection) -> None:
        """This connection's thread is done."""
        with self._condition:
            self._open.discard(id(connection))
