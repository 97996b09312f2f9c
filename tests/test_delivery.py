"""Delivery details: DKIM, TLS and AUTH against aiosmtpd, the shared rate limit."""

from __future__ import annotations

import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import dkim
import pytest
import redis
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from mailer.config import load_settings
from mailer.dkim_sign import Signer
from mailer.errors import ConfigError
from mailer.transport.base import Outgoing
from mailer.transport.classify import Blame, Outcome, Stage, judge
from mailer.transport.factory import parse_smtp_url
from mailer.transport.ratelimit import LocalBucket, NoLimit, RedisBucket, open_limiter
from mailer.transport.smtp import SMTPConnection
from tests.messages import sample_message
from tests.servers import RecordingHandler, RedisServer, free_port

MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n"


def _key_pair(tmp_path: Path) -> tuple[Path, bytes]:
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    import base64

    return key, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def _composed() -> bytes:
    return sample_message(campaign_id=7)


def test_dkim_signature_verifies(tmp_path: Path) -> None:
    key, record = _key_pair(tmp_path)
    signed = Signer.from_file("mail2026", "example.org", key).sign(_composed())
    assert signed.startswith(b"DKIM-Signature:")
    header = signed.split(b"\r\n\r\n", 1)[0].decode()
    signed_fields = (
        header.split(" h=", 1)[1].split(";", 1)[0].replace("\r\n", "").replace(" ", "").lower()
    )
    for name in (
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "feedback-id",
    ):
        assert name in signed_fields.split(":"), name

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"mail2026._domainkey.example.org."
        return record

    assert dkim.verify(signed, dnsfunc=dns)
    tampered = signed.replace(b"Subject: ", b"Subject: RE: ", 1)
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_dkim_settings_are_all_or_nothing(tmp_path: Path) -> None:
    key, _ = _key_pair(tmp_path)
    settings = load_settings(
        {
            "MAILER_DKIM_SELECTOR": "s",
            "MAILER_DKIM_DOMAIN": "example.org",
            "MAILER_DKIM_KEY_FILE": str(key),
            "MAILER_DATA_DIR": str(tmp_path),
        }
    )
    assert settings.dkim == ("s", "example.org", key)
    with pytest.raises(ConfigError, match="MAILER_DKIM_DOMAIN"):
        load_settings(
            {
                "MAILER_DKIM_SELECTOR": "s",
                "MAILER_DKIM_KEY_FILE": str(key),
                "MAILER_DATA_DIR": str(tmp_path),
            }
        )
    (tmp_path / "not-a-key").write_text("hello")
    with pytest.raises(ConfigError, match="MAILER_DKIM_KEY_FILE"):
        load_settings(
            {
                "MAILER_DKIM_SELECTOR": "s",
                "MAILER_DKIM_DOMAIN": "d",
                "MAILER_DKIM_KEY_FILE": str(tmp_path / "not-a-key"),
                "MAILER_DATA_DIR": str(tmp_path),
            }
        )


def _certificate(tmp_path: Path) -> ssl.SSLContext:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context


class _Authenticator:
    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == b"relay"
            and data.password == b"s3cret:pw"
        )
        return AuthResult(success=ok, handled=False)


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_tls_and_auth(tmp_path: Path, mode: str) -> None:
    context = _certificate(tmp_path)
    handler = RecordingHandler()
    port = free_port()
    options: dict[str, Any] = {"authenticator": _Authenticator(), "auth_required": True}
    if mode == "starttls":
        controller = Controller(
            handler,
            hostname="127.0.0.1",
            port=port,
            tls_context=context,
            require_starttls=True,
            **options,
        )
        scheme = "smtp+starttls"
    else:
        controller = Controller(
            handler,
            hostname="127.0.0.1",
            port=port,
            ssl_context=context,
            auth_require_tls=False,
            **options,
        )
        scheme = "smtps"
    controller.start()
    try:
        item = Outgoing(1, "a@example.org", "b@example.org", lambda: MESSAGE)
        good = SMTPConnection(
            parse_smtp_url(f"{scheme}://relay:s3cret%3Apw@127.0.0.1:{port}?verify=false&timeout=5")
        )
        assert good.send(item).code == 250
        good.close()
        bad = SMTPConnection(
            parse_smtp_url(f"{scheme}://relay:wrong@127.0.0.1:{port}?verify=false&timeout=5")
        )
        refused = bad.send(item)
        # Our credentials, not the recipient: the campaign pauses, nobody is suppressed.
        assert (refused.stage, refused.code) == (Stage.CONNECT, 535)
        verdict = judge(refused)
        assert (verdict.outcome, verdict.blame) == (Outcome.PERMANENT, Blame.SENDER)
        strict = SMTPConnection(
            parse_smtp_url(f"{scheme}://relay:s3cret%3Apw@127.0.0.1:{port}?timeout=5")
        )
        untrusted = strict.send(item)  # a self-signed certificate is refused by default
        assert untrusted.stage is Stage.CONNECT and judge(untrusted).outcome is Outcome.TEMPORARY
    finally:
        controller.stop()
    assert len(handler.received) == 1


@pytest.mark.redis
def test_the_shared_rate_limit_holds_across_clients(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(f"redis://127.0.0.1:{redis_server.port}/9")
    client.flushdb()
    first = RedisBucket(client, rate=40, domain_rate=0)
    second = RedisBucket(
        redis.Redis.from_url(f"redis://127.0.0.1:{redis_server.port}/9"), rate=40, domain_rate=0
    )
    start = time.monotonic()
    for _ in range(40):
        first.acquire("example.org")
        second.acquire("example.org")
    # 80 tokens at 40/s from one shared bucket: two seconds, less the first token.
    assert time.monotonic() - start >= 1.9
    assert isinstance(open_limiter(broker_url="redis://x", rate=0, domain_rate=0), NoLimit)


@pytest.mark.redis
@pytest.mark.parametrize("kind", ["redis", "local"])
def test_the_first_second_lets_no_more_than_the_limit_through(
    redis_server: RedisServer, kind: str
) -> None:
    # Issue #17: a fresh bucket let twice the limit through in its first second.
    rate = 25.0
    if kind == "redis":
        client = redis.Redis.from_url(f"redis://127.0.0.1:{redis_server.port}/10")
        client.flushdb()
        limiters: list[Any] = [
            RedisBucket(
                redis.Redis.from_url(f"redis://127.0.0.1:{redis_server.port}/10"),
                rate=rate,
                domain_rate=rate,
            )
            for _ in range(4)
        ]
    else:
        shared = LocalBucket(rate)
        limiters = [shared] * 4
    times: list[float] = []
    lock = threading.Lock()
    start = time.monotonic()

    def take(limiter: Any) -> None:
        while time.monotonic() - start < 2.0:
            limiter.acquire("example.org")
            with lock:
                times.append(time.monotonic() - start)

    threads = [threading.Thread(target=take, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first_second = sum(1 for t in times if t < 1.0)
    assert rate - 3 <= first_second <= rate + 1
    assert len([t for t in times if t < 2.0]) <= 2 * rate + 1
