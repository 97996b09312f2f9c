"""SMTP with one persistent connection per process: STARTTLS or implicit TLS, AUTH, reconnect on drop."""

from __future__ import annotations

import contextlib
import itertools
import smtplib
import ssl
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from mailer.errors import DeliveryError, PermanentFailure, TemporaryFailure
from mailer.transport.base import DATA_END, Delivered, Outgoing, SendResult, dot_stuffed
from mailer.transport.classify import Outcome, classify

__all__ = ["SMTPSettings", "SMTPTransport"]

_MAXLINE = 8193  # smtplib's limit on one reply line, plus one


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


class SMTPTransport:
    """Keeps its connection open across messages and batches; thread-safe by a lock."""

    def __init__(self, settings: SMTPSettings) -> None:
        self.settings = settings
        self._conn: smtplib.SMTP | None = None
        self._sent_on_conn = 0
        self._lock = threading.Lock()
        # The item a lost connection interrupted before its data (set by the send loops).
        self._interrupted: Outgoing | None = None

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
        conn.ehlo()
        if s.security == "starttls":
            conn.starttls(context=self._tls_context())
            conn.ehlo()
        if s.username:
            conn.login(s.username, s.password or "")
        self._sent_on_conn = 0
        return conn

    def _connection(self) -> smtplib.SMTP:
        if self._conn is None or self._sent_on_conn >= self.settings.max_per_connection:
            self._drop(polite=True)
            try:
                self._conn = self._connect()
            except smtplib.SMTPAuthenticationError as exc:
                # Our credentials, not the recipient: retry later, never bounce anyone for it.
                raise TemporaryFailure(
                    f"authentication refused: {exc.smtp_error!r}", code=exc.smtp_code
                ) from exc
            except (OSError, smtplib.SMTPException) as exc:
                raise TemporaryFailure(
                    f"cannot connect to {self.settings.host}:{self.settings.port}: {exc}"
                ) from exc
        return self._conn

    def _drop(self, *, polite: bool) -> None:
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

    def send(self, *, envelope_from: str, recipient: str, message: bytes) -> SendResult:
        """MAIL, RCPT, DATA on the open connection; one reconnect when it was dropped before DATA."""
        item = Outgoing(0, envelope_from, recipient, lambda: message)
        # Read the stream to its end: leaving it early would drop the connection.
        ((_, outcome),) = list(self.send_many((item,)))
        if isinstance(outcome, DeliveryError):
            raise outcome
        return outcome

    def send_many(
        self, items: Iterable[Outgoing], meanwhile: Callable[[], None] | None = None
    ) -> Iterator[tuple[Outgoing, Delivered]]:
        """Each item on the open connection, its outcome yielded before the next data leaves.

        With PIPELINING (RFC 2920) a message's data, its final dot and the next message's
        MAIL, RCPT and DATA go in one write: one round trip per message, and the next message
        is built, and `meanwhile` run, while the server stores this one. A connection lost
        before an item's data is sent gets one reconnect for that item; lost after, the item
        is a temporary failure (the server may have kept it: at worst one duplicate, never a
        loss).
        """
        with self._lock:
            queue = iter(items)
            item = next(queue, None)
            retried: Outgoing | None = None
            while item is not None:
                try:
                    conn = self._connection()
                except TemporaryFailure as exc:
                    # No server to talk to: every item left waits for a later attempt.
                    for left in itertools.chain((item,), queue):
                        yield left, TemporaryFailure(str(exc), recipient=left.recipient)
                    return
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
                    yield (
                        again,
                        TemporaryFailure("connection lost twice", recipient=again.recipient),
                    )
                    item = next(queue, None)
                else:
                    item = retried = again

    def _one_by_one(
        self,
        conn: smtplib.SMTP,
        item: Outgoing,
        queue: Iterator[Outgoing],
        meanwhile: Callable[[], None] | None,
    ) -> Generator[tuple[Outgoing, Delivered], None, Outgoing | None]:
        """MAIL, RCPT, DATA and their replies in turn, for servers without PIPELINING; returns
        the item to send on a new connection, or None when the queue is done."""
        current: Outgoing | None = item
        while current is not None:
            if self._sent_on_conn >= self.settings.max_per_connection:
                return current  # rotation, not a loss: the caller reconnects
            if meanwhile is not None:
                meanwhile()  # nothing to overlap with here: before each transaction
            try:
                outcome: Delivered = self._transaction(
                    conn, current.envelope_from, current.recipient, current.build()
                )
            except DeliveryError as exc:
                outcome = exc
            except _AfterData as exc:
                self._drop(polite=False)
                yield current, _lost(exc, current)
                return next(queue, None)
            except (OSError, smtplib.SMTPServerDisconnected):
                self._drop(polite=False)
                self._interrupted = current
                return current
            yield current, outcome
            current = next(queue, None)
        return None

    def _stream(
        self,
        conn: smtplib.SMTP,
        item: Outgoing,
        queue: Iterator[Outgoing],
        meanwhile: Callable[[], None] | None,
    ) -> Generator[tuple[Outgoing, Delivered], None, Outgoing | None]:
        """The pipelined loop; returns the item to send on a new connection, or None."""
        sock = conn.sock
        assert sock is not None
        if conn.file is None:
            conn.file = sock.makefile("rb")
        reader = conn.file
        current, following = item, None
        data_sent = False
        try:
            sock.sendall(_envelope(current))
            body = _data(current)
            while True:
                refused = _envelope_refused(reader, current)
                if refused is not None:
                    data_code, error = refused
                    yield current, error
                    following = next(queue, None)
                    # End a DATA the server accepted anyway (RFC 2920 3.1), then RSET.
                    cleanup = (b".\r\n" if data_code == 354 else b"") + b"RSET\r\n"
                    sock.sendall(cleanup + (_envelope(following) if following else b""))
                    for _ in range(2 if data_code == 354 else 1):
                        _reply(reader)
                    if following is None:
                        return None
                    current, following = following, None
                    body = _data(current)
                    continue
                rotate = self._sent_on_conn + 1 >= self.settings.max_per_connection
                following = None if rotate else next(queue, None)
                data_sent = True
                # The data, its final dot and the next envelope in one write (RFC 2920).
                sock.sendall(body + _envelope(following) if following else body)
                # While the server stores this message: build the next one, run the caller's
                # bulk work, then wait for the reply.
                next_body = _data(following) if following else b""
                if meanwhile is not None:
                    meanwhile()
                code, text = _reply(reader)
                data_sent = False
                if code == 250:
                    self._sent_on_conn += 1
                    yield current, SendResult(code, text)
                else:
                    yield current, _failure(code, text, current.recipient)
                if following is None:
                    if rotate:
                        self._drop(polite=True)
                        return next(queue, None)
                    return None
                current, following, body = following, None, next_body
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            self._drop(polite=False)
            if data_sent:
                yield current, _lost(exc, current)
                # The next envelope was in flight with the data: that item is interrupted.
                self._interrupted = following
                return following if following is not None else next(queue, None)
            self._interrupted = current
            return current
        except BaseException:
            # The caller stopped reading mid-stream, or failed: the server's state is unknown,
            # so the connection is not reused.
            self._drop(polite=False)
            raise

    def _transaction(
        self, conn: smtplib.SMTP, sender: str, recipient: str, message: bytes
    ) -> SendResult:
        code, reply = conn.mail(sender)
        if code != 250:
            self._reset(conn)
            raise _failure(code, reply, recipient)
        code, reply = conn.rcpt(recipient)
        if code not in (250, 251):
            self._reset(conn)
            raise _failure(code, reply, recipient)
        try:
            code, reply = conn.data(message)
        except smtplib.SMTPDataError as exc:
            self._reset(conn)
            raise _failure(exc.smtp_code, exc.smtp_error, recipient) from exc
        except (TimeoutError, smtplib.SMTPServerDisconnected, ConnectionError) as exc:
            # The server may have stored the message before the line dropped: retrying
            # risks one duplicate, never a loss.
            raise _AfterData(str(exc)) from exc
        if code != 250:
            raise _failure(code, reply, recipient)
        self._sent_on_conn += 1
        return SendResult(code, _text(reply))

    @staticmethod
    def _reset(conn: smtplib.SMTP) -> None:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            conn.rset()

    def close(self) -> None:
        """QUIT the connection; the next send opens a new one."""
        with self._lock:
            self._drop(polite=True)


class _AfterData(smtplib.SMTPServerDisconnected):
    """The connection dropped during DATA."""


def _data(item: Outgoing) -> bytes:
    """The item's DATA payload: stuffed and ended by its composer, or here."""
    if item.data is not None:
        return item.data()
    data = dot_stuffed(item.build())
    return data + (DATA_END if data.endswith(b"\r\n") else b"\r\n" + DATA_END)


def _envelope(item: Outgoing) -> bytes:
    return f"MAIL FROM:<{item.envelope_from}>\r\nRCPT TO:<{item.recipient}>\r\nDATA\r\n".encode()


def _reply(reader: BinaryIO) -> tuple[int, str]:
    """One SMTP reply, one line or several: its code and its text."""
    line = reader.readline(_MAXLINE)
    if not line:
        raise smtplib.SMTPServerDisconnected("connection closed by the server")
    text = line[4:].strip()
    while line[3:4] == b"-":
        line = reader.readline(_MAXLINE)
        if not line:
            raise smtplib.SMTPServerDisconnected("connection closed by the server")
        text += b"\n" + line[4:].strip()
    try:
        code = int(line[:3])
    except ValueError:
        code = -1
    return code, text.decode("utf-8", "replace")


def _envelope_refused(reader: BinaryIO, item: Outgoing) -> tuple[int, DeliveryError] | None:
    """Read the replies to MAIL, RCPT and DATA: None when the server waits for the data,
    else DATA's reply code and the first refusal."""
    replies = [_reply(reader) for _ in range(3)]
    (mail_code, _), (rcpt_code, _), (data_code, _) = replies
    if mail_code == 250 and rcpt_code in (250, 251) and data_code == 354:
        return None
    code, text = next(((c, t) for c, t in replies[:2] if c not in (250, 251)), replies[2])
    return data_code, _failure(code, text, item.recipient)


def _lost(exc: BaseException, item: Outgoing) -> TemporaryFailure:
    return TemporaryFailure(f"connection lost: {exc}", recipient=item.recipient)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _failure(code: int, reply: bytes | str, recipient: str) -> DeliveryError:
    text = _text(reply)
    outcome = classify(code, text)
    if outcome is Outcome.PERMANENT:
        return PermanentFailure(text, code=code, recipient=recipient)
    return TemporaryFailure(text, code=code, recipient=recipient)
