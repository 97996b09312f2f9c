"""One SMTP connection, kept open across messages: STARTTLS or implicit TLS, AUTH, PIPELINING,
SMTPUTF8, reconnect on drop. `SMTPTransport` (pool.py) keeps several of them busy at once."""

from __future__ import annotations

import contextlib
import itertools
import smtplib
import ssl
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass

from mailer.transport.address import ascii_address
from mailer.transport.base import Outgoing, build_failure
from mailer.transport.classify import Reply, Stage
from mailer.transport.wire import envelope_refused, read_reply, reply_text

__all__ = ["SMTPConnection", "SMTPSettings"]


@dataclass(frozen=True, slots=True)
class SMTPSettings:
    """Where and how to connect."""

    host: str
    port: int
    security: str = "none"  # none | starttls | tls
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    max_per_connection: int = 1000
    verify_tls: bool = True
    connections: int = 1  # connections kept busy at once by SMTPTransport


class _Unaddressable(Exception):
    """The item's addresses cannot travel on this connection (nothing was sent)."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        super().__init__(reply.text)


class SMTPConnection:
    """One connection to the relay, opened on first use; not thread-safe (one user at a time)."""

    def __init__(self, settings: SMTPSettings) -> None:
        self.settings = settings
        self._conn: smtplib.SMTP | None = None
        self._sent_on_conn = 0
        # The item a lost connection interrupted before its data (set by the send loops).
        self._interrupted: Outgoing | None = None
        # Seconds spent waiting for the server's verdict on a message's data: how much a
        # second connection would overlap (pool.py reads it).
        self.waited = 0.0

    @property
    def is_open(self) -> bool:
        """True while a connection is established."""
        return self._conn is not None

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.settings.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        conn: smtplib.SMTP
        if s.security == "tls":
            conn = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=self._tls_context())
        else:
            conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            conn.ehlo()
            if s.security == "starttls":
                conn.starttls(context=self._tls_context())
                conn.ehlo()
            if s.username:
                conn.login(s.username, s.password or "")
        except BaseException:
            conn.close()
            raise
        self._sent_on_conn = 0
        return conn

    def open(self) -> Reply | None:
        """Connect when not connected (or rotate after `max_per_connection` messages); None when
        ready, else the reply that says why not (stage CONNECT)."""
        if self._conn is not None and self._sent_on_conn < self.settings.max_per_connection:
            return None
        self.drop(polite=True)
        where = f"{self.settings.host}:{self.settings.port}"
        try:
            self._conn = self._connect()
        except smtplib.SMTPResponseException as exc:
            # Refused at the greeting, EHLO, STARTTLS or AUTH (535: our credentials).
            return Reply(Stage.CONNECT, exc.smtp_code, reply_text(exc.smtp_error))
        except (OSError, smtplib.SMTPException) as exc:
            return Reply(Stage.CONNECT, None, f"cannot connect to {where}: {exc}")
        return None

    def drop(self, *, polite: bool) -> None:
        """Close the connection (QUIT first when polite)."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if polite:
                conn.quit()
            else:
                conn.close()
        except (OSError, smtplib.SMTPException):
            conn.close()

    def send(self, item: Outgoing) -> Reply:
        """MAIL, RCPT, DATA for one message; one reconnect when dropped before DATA."""
        # Read the stream to its end: leaving it early would drop the connection.
        ((_, reply),) = list(self.send_many((item,)))
        return reply

    def send_many(
        self,
        items: Iterable[Outgoing],
        meanwhile: Callable[[], None] | None = None,
        unreachable: Callable[[Outgoing, Reply], bool] | None = None,
    ) -> Iterator[tuple[Outgoing, Reply]]:
        """Each item on this connection, its reply yielded before the next data leaves.

        With PIPELINING (RFC 2920) a message's data, its final dot and the next message's
        MAIL, RCPT and DATA go in one write: one round trip per message, and the next message
        is built, and `meanwhile` run, while the server stores this one. A connection lost
        before an item's data is sent gets one reconnect for that item; lost after, the item
        gets a reply without a code (the server may have kept it: at worst one duplicate,
        never a loss). When the server cannot be reached, every item left gets that reply,
        unless `unreachable` takes the item back (it returns True): then this stream ends.
        """
        queue = iter(items)
        item = next(queue, None)
        retried: Outgoing | None = None
        while item is not None:
            refused = self.open()
            if refused is not None:
                if unreachable is not None and unreachable(item, refused):
                    return  # other connections carry on with it
                # No server to talk to: every item left waits for a later attempt.
                for left in itertools.chain((item,), queue):
                    yield left, refused
                return
            conn = self._conn
            assert conn is not None
            self._interrupted = None
            if conn.has_extn("pipelining"):
                again = yield from self._stream(conn, item, queue, meanwhile)
            else:
                again = yield from self._one_by_one(conn, item, queue, meanwhile)
            if again is None:
                return
            if again is not self._interrupted:
                item = again  # rotated, or a loss already reported: nothing to retry
                continue
            if again is retried:
                yield again, Reply(Stage.CONNECT, None, "connection lost twice before the data")
                item = next(queue, None)
            else:
                item = retried = again

    def _one_by_one(
        self,
        conn: smtplib.SMTP,
        item: Outgoing,
        queue: Iterator[Outgoing],
        meanwhile: Callable[[], None] | None,
    ) -> Generator[tuple[Outgoing, Reply], None, Outgoing | None]:
        """MAIL, RCPT, DATA and their replies in turn, for servers without PIPELINING; returns
        the item to send on a new connection, or None when the queue is done."""
        current: Outgoing | None = item
        while current is not None:
            if self._sent_on_conn >= self.settings.max_per_connection:
                return current  # rotation, not a loss: the caller reconnects
            if meanwhile is not None:
                meanwhile()  # nothing to overlap with here: before each transaction
            try:
                waiting = time.perf_counter()
                reply = self._transaction(conn, current)
                self.waited += time.perf_counter() - waiting
            except _AfterData as exc:
                self.drop(polite=False)
                yield current, _lost(exc)
                return next(queue, None)
            except (OSError, smtplib.SMTPServerDisconnected):
                self.drop(polite=False)
                self._interrupted = current
                return current
            yield current, reply
            current = next(queue, None)
        return None

    def _stream(
        self,
        conn: smtplib.SMTP,
        item: Outgoing,
        queue: Iterator[Outgoing],
        meanwhile: Callable[[], None] | None,
    ) -> Generator[tuple[Outgoing, Reply], None, Outgoing | None]:
        """The pipelined loop; returns the item to send on a new connection, or None."""
        sock = conn.sock
        assert sock is not None
        if conn.file is None:
            conn.file = sock.makefile("rb")
        reader = conn.file
        current: Outgoing | None = item
        following: Outgoing | None = None
        data_sent = False
        try:
            # The first item that can be addressed here, its envelope sent.
            current, envelope = yield from _addressable(conn, current, queue)
            if current is None:
                return None
            sock.sendall(envelope)
            body = _body(current)
            while True:
                refused = envelope_refused(reader)
                if refused is None and isinstance(body, Reply):
                    # Its data cannot be built, and the server waits for it: only a dropped
                    # connection leaves no message behind (RFC 5321 4.1.1.4).
                    self.drop(polite=False)
                    yield current, body
                    return next(queue, None)
                if refused is not None:
                    data_code, reply = refused
                    yield current, reply
                    following, next_envelope = yield from _addressable(conn, None, queue)
                    # End a DATA the server accepted anyway (RFC 2920 3.1), then RSET.
                    cleanup = (b".\r\n" if data_code == 354 else b"") + b"RSET\r\n"
                    sock.sendall(cleanup + next_envelope)
                    for _ in range(2 if data_code == 354 else 1):
                        read_reply(reader)
                    if following is None:
                        return None
                    current, following = following, None
                    body = _body(current)
                    continue
                assert not isinstance(body, Reply)
                rotate = self._sent_on_conn + 1 >= self.settings.max_per_connection
                next_envelope = b""
                if not rotate:
                    following, next_envelope = yield from _addressable(conn, None, queue)
                data_sent = True
                # The data, its final dot and the next envelope in one write (RFC 2920).
                sock.sendall(body + next_envelope if next_envelope else body)
                # While the server stores this message: build the next one, run the caller's
                # bulk work, then wait for the reply.
                next_body: bytes | Reply = _body(following) if following else b""
                if meanwhile is not None:
                    meanwhile()
                waiting = time.perf_counter()
                code, text = read_reply(reader)
                self.waited += time.perf_counter() - waiting
                data_sent = False
                if code == 250:
                    self._sent_on_conn += 1
                yield current, Reply(Stage.DATA, code, text)
                if following is None:
                    if rotate:
                        self.drop(polite=True)
                        return next(queue, None)
                    return None
                current, following, body = following, None, next_body
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            self.drop(polite=False)
            if data_sent:
                assert current is not None
                yield current, _lost(exc)
                # The next envelope was in flight with the data: that item is interrupted.
                self._interrupted = following
                return following if following is not None else next(queue, None)
            self._interrupted = current
            return current
        except BaseException:
            # The caller stopped reading mid-stream, or failed: the server's state is unknown,
            # so the connection is not reused.
            self.drop(polite=False)
            raise

    def _transaction(self, conn: smtplib.SMTP, item: Outgoing) -> Reply:
        try:
            sender, recipient, options = _addresses(conn, item)
        except _Unaddressable as exc:
            return exc.reply
        try:
            message = item.build()
        except Exception as exc:  # a bad message fails alone
            return build_failure(exc)
        code, text = conn.mail(sender, options)
        if code != 250:
            self._reset(conn)
            return Reply(Stage.MAIL, code, reply_text(text))
        code, text = conn.rcpt(recipient)
        if code not in (250, 251):
            self._reset(conn)
            return Reply(Stage.RCPT, code, reply_text(text))
        try:
            code, text = conn.data(message)
        except smtplib.SMTPDataError as exc:
            self._reset(conn)
            return Reply(Stage.DATA, exc.smtp_code, reply_text(exc.smtp_error))
        except (TimeoutError, smtplib.SMTPServerDisconnected, ConnectionError) as exc:
            # The server may have stored the message before the line dropped: retrying
            # risks one duplicate, never a loss.
            raise _AfterData(str(exc)) from exc
        if code == 250:
            self._sent_on_conn += 1
        return Reply(Stage.DATA, code, reply_text(text))

    @staticmethod
    def _reset(conn: smtplib.SMTP) -> None:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            conn.rset()

    def close(self) -> None:
        """QUIT the connection; the next send opens a new one."""
        self.drop(polite=True)


class _AfterData(smtplib.SMTPServerDisconnected):
    """The connection dropped during DATA."""


def _addresses(conn: smtplib.SMTP, item: Outgoing) -> tuple[str, str, list[str]]:
    """Envelope sender, recipient and MAIL parameters for this connection: the ASCII form
    (an IDN domain as its A-label), or UTF-8 with SMTPUTF8 when the server offers it (RFC
    6531); `_Unaddressable` when neither can carry the address."""
    sender, recipient = ascii_address(item.envelope_from), ascii_address(item.recipient)
    if sender is not None and recipient is not None:
        return sender, recipient, []
    if conn.has_extn("smtputf8"):
        # RFC 6531 3.4: the SMTPUTF8 parameter on MAIL; its servers also take 8BITMIME.
        options = ["SMTPUTF8"] + (["BODY=8BITMIME"] if conn.has_extn("8bitmime") else [])
        return item.envelope_from, item.recipient, options
    which = "recipient" if recipient is None else "sender"
    raise _Unaddressable(
        Reply(
            Stage.BUILD,
            None,
            f"the {which} address has a non-ASCII local part and the relay does not offer "
            "SMTPUTF8 (RFC 6531)",
        )
    )


def _envelope(conn: smtplib.SMTP, item: Outgoing) -> bytes:
    sender, recipient, options = _addresses(conn, item)
    extra = "".join(f" {o}" for o in options)
    return f"MAIL FROM:<{sender}>{extra}\r\nRCPT TO:<{recipient}>\r\nDATA\r\n".encode()


def _addressable(
    conn: smtplib.SMTP, item: Outgoing | None, queue: Iterator[Outgoing]
) -> Generator[tuple[Outgoing, Reply], None, tuple[Outgoing | None, bytes]]:
    """The next item (`item` first) whose envelope can be written here, with that envelope;
    items that cannot are reported on the way, having sent nothing."""
    current = item if item is not None else next(queue, None)
    while current is not None:
        try:
            return current, _envelope(conn, current)
        except _Unaddressable as exc:
            yield current, exc.reply
        except Exception as exc:  # an address that cannot be encoded at all
            yield current, build_failure(exc)
        current = next(queue, None)
    return None, b""


def _body(item: Outgoing) -> bytes | Reply:
    """The item's DATA payload, or the reply saying why it cannot be built."""
    try:
        return item.wire()
    except Exception as exc:  # one bad message fails alone, never the stream
        return build_failure(exc)


def _lost(exc: BaseException) -> Reply:
    return Reply(Stage.DATA, None, f"connection lost: {exc}")


def __getattr__(name: str) -> object:
    # The pool of connections lived here as `SMTPTransport` before it had several; importers
    # of the old name get the pool (pool.py imports this module, hence the lazy import).
    if name == "SMTPTransport":
        from mailer.transport.pool import SMTPTransport

        return SMTPTransport
    raise AttributeError(name)
