"""Many messages in flight: several SMTP connections per process, each busy with one message.

A relay 20 ms away answers each message after a round trip, whatever our speed: one
connection carries at most 1 / RTT messages a second. `SMTPTransport` keeps up to
`MAILER_SMTP_CONNECTIONS` connections open and busy, each in a thread of its own with one
message in flight, so that a crash costs at most one duplicate per connection. It uses as
many as pay: it opens more while its connections spend most of their time waiting for the
relay, and fewer when they do not (a relay on loopback: the CPU is the limit, and threads
fighting for it would only slow it down). The level it finds is kept across batches.

Items come from one shared iterator (so the caller's rate limits hold across all of them);
each reply is reported from the connection's thread before that connection sends another
message. A relay that refuses more connections (421 at the greeting, a refused connect)
while others are open is taken at its word: the pool keeps to what it accepts, for a minute.
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
_TICK = 0.01  # how often the caller's `meanwhile` runs while the connections work
_LOOK = 0.1  # how often the pool weighs opening more connections, or fewer
_BUSY_WAITING = 0.6  # connections waiting for the relay this much of the time: open more
_IDLE_WAITING = 0.25  # ... this little: one fewer
_ALL_WAITING = 0.9  # ... nearly all the time: four times as many
_GAIN = 1.2  # doubling the connections must carry this much more, or it is undone
_SAMPLE = 10  # replies a look needs (or a second) before it compares rates
_FIRST_LEVEL = 4


class _Shared:
    """The caller's items, read by several connection threads one at a time; items given back
    by a connection that could not reconnect are served first."""

    def __init__(self, items: Iterable[Outgoing]) -> None:
        self._items = iter(items)
        self._back: deque[Outgoing] = deque()
        self._lock = threading.Lock()
        self.exhausted = False

    def take(self) -> Outgoing | None:
        """The next item, or None when there is none left."""
        with self._lock:
            if self._back:
                return self._back.popleft()
            if self.exhausted:
                return None
            try:
                return next(self._items)
            except StopIteration:
                self.exhausted = True
                return None

    def give_back(self, item: Outgoing) -> None:
        """An item a connection took but could not send: another connection sends it."""
        with self._lock:
            self._back.append(item)

    def leftovers(self) -> list[Outgoing]:
        """Items given back that nobody took."""
        with self._lock:
            left, self._back = list(self._back), deque()
            return left


class _Gate:
    """One connection's view of the shared items: it ends when the pool wants fewer
    connections than this one's rank."""

    def __init__(self, source: _Shared, stream: _Stream, rank: int) -> None:
        self._source, self._stream, self._rank = source, stream, rank

    def __iter__(self) -> Iterator[Outgoing]:
        return self

    def __next__(self) -> Outgoing:
        if self._rank >= self._stream.level:
            raise StopIteration
        item = self._source.take()
        if item is None:
            raise StopIteration
        return item


class SMTPTransport:
    """A pool of persistent SMTP connections, each used by one thread at a time."""

    def __init__(self, settings: SMTPSettings) -> None:
        self.settings = settings
        self._idle: list[SMTPConnection] = []
        self._lock = threading.Lock()
        self._cap: int | None = None  # the relay's limit, when it told us
        self._capped_at = 0.0
        # Connections that paid off in the last stream; a new pool starts with a few, the
        # first look tells whether to go up (a distant relay) or down (loopback).
        self._level = min(_FIRST_LEVEL, settings.connections)
        self._ceiling = settings.connections  # more did not pay (a loaded relay or CPU)
        self._ceiling_at = 0.0

    @property
    def in_use(self) -> int:
        """Connections the last stream found worth keeping busy."""
        return self._level

    @property
    def connections(self) -> int:
        """The most connections kept busy at once (fewer while the relay caps them)."""
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
        """Deliver the items over as many connections as pay, up to `connections`."""
        width = self.connections
        if time.monotonic() - self._ceiling_at > _REGROW_SECONDS:
            self._ceiling = width
        source = _Shared(items)
        state = _Stream(min(self._level, width, self._ceiling))
        threads: list[threading.Thread | None] = [None] * width
        looked, busy, done = time.monotonic(), 0.0, 0
        # (level before doubling, its rate, looks to wait: new connections open first)
        trial: tuple[int, float, int] | None = None

        def start() -> None:
            for rank in range(state.level):
                thread = threads[rank]
                if thread is None or not thread.is_alive():
                    thread = threading.Thread(
                        target=self._run,
                        args=(_Gate(source, state, rank), source, report, state),
                        name=f"mailer-smtp-{rank}",
                        daemon=True,
                    )
                    threads[rank] = thread
                    thread.start()

        try:
            start()
            while any(t is not None and t.is_alive() for t in threads):
                if meanwhile is not None:
                    meanwhile()
                time.sleep(_TICK)
                now = time.monotonic()
                if now - looked < _LOOK or source.exhausted or state.capped:
                    continue
                if state.replies - done < _SAMPLE and now - looked < 1.0:
                    continue  # too few replies yet to tell one level from another
                waited, replies = state.waited(), state.replies
                fraction = (waited - busy) / ((now - looked) * state.level)
                rate = (replies - done) / (now - looked)
                looked, busy, done = now, waited, replies
                if trial is not None and trial[2] > 0:
                    trial = (trial[0], trial[1], trial[2] - 1)
                elif trial is not None:
                    # Did doubling pay? Where the relay or our CPU is the limit it does not:
                    # back to the level before, and no higher for a while.
                    before, before_rate, _ = trial
                    trial = None
                    if rate < before_rate * _GAIN:
                        state.level = self._ceiling = before
                        self._ceiling_at = now
                elif fraction > _BUSY_WAITING and state.level < min(width, self._ceiling):
                    trial = (state.level, rate, 1)
                    # Nearly all waiting (a distant relay): four times as many at once.
                    factor = 4 if fraction > _ALL_WAITING else 2
                    state.level = min(width, self._ceiling, state.level * factor)
                    start()
                elif fraction < _IDLE_WAITING and state.level > 1:
                    state.level -= 1
        finally:
            source.exhausted = True  # the caller failed: the connections stop taking items
            for thread in threads:
                if thread is not None:
                    thread.join()
        self._level = max(1, min(state.level, width))
        # Given back by a connection that could not reconnect after the others had finished.
        for item in source.leftovers():
            report(item, state.refusal or Reply(Stage.CONNECT, None, "no connection left"))
        if state.error is not None:
            raise state.error

    def _run(self, gate: _Gate, source: _Shared, report: Report, state: _Stream) -> None:
        """One connection's thread: open it, then send what the shared items give."""
        connection = self._take()
        try:
            state.connecting(+1)
            refused = connection.open()
            if not state.opened(connection, refused):
                # The relay took fewer connections than we asked for: use what it accepts.
                self._capped(state.count_open(), refused)
                return
            if refused is not None:
                # Nobody could connect: every item left gets the reply at once.
                state.refusal = refused
                for item in gate:
                    report(item, refused)
                return

            def unreachable(item: Outgoing, reply: Reply) -> bool:
                # Lost mid-stream and not back: hand the item to a connection still open.
                state.refusal = reply
                if state.open_elsewhere(connection):
                    source.give_back(item)
                    return True
                return False

            for item, reply in connection.send_many(gate, unreachable=unreachable):
                report(item, reply)
                state.replies += 1
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

    def __init__(self, level: int) -> None:
        self._condition = threading.Condition()
        self.level = level  # connections wanted now
        self.capped = False
        self._open: dict[int, SMTPConnection] = {}
        self._all: dict[int, SMTPConnection] = {}
        self._connecting = 0
        self.refusal: Reply | None = None
        self.error: BaseException | None = None
        self.replies = 0  # replies reported so far (all threads; a lost count is harmless)

    def connecting(self, step: int) -> None:
        """A thread starts (+1) or ends (-1) its first connect."""
        with self._condition:
            self._connecting += step
            self._condition.notify_all()

    def opened(self, connection: SMTPConnection, refused: Reply | None) -> bool:
        """Record a first connect; False when it failed while another connection is open (the
        relay caps us: the thread leaves), True otherwise (open, or nobody could connect:
        known once every connect started with it is done)."""
        with self._condition:
            self._connecting -= 1
            self._condition.notify_all()
            self._all[id(connection)] = connection
            if refused is None:
                self._open[id(connection)] = connection
                return True
            while self._connecting > 0 and not self._open:
                self._condition.wait()
            if self._open:
                self.capped = True
                self.level = len(self._open)
                return False
            return True

    def count_open(self) -> int:
        """Connections of this stream open now."""
        with self._condition:
            return len(self._open)

    def open_elsewhere(self, connection: SMTPConnection) -> bool:
        """True when another connection of this stream is still open (this one is not)."""
        with self._condition:
            self._open.pop(id(connection), None)
            return bool(self._open)

    def closed(self, connection: SMTPConnection) -> None:
        """This connection's thread is done."""
        with self._condition:
            self._open.pop(id(connection), None)

    def waited(self) -> float:
        """Seconds the stream's connections have spent waiting for the relay."""
        with self._condition:
            return sum(c.waited for c in self._all.values())
