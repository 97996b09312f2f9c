"""Real mail systems for the bounce tests: a private Postfix that bounces unknown addresses
itself, and a private Dovecot serving the bounce mailbox over IMAP.

Both live in one temporary directory (their own configuration, queue, state and mail),
listen on 127.0.0.1 and free ports, and are started and stopped by the suite: the
system's /etc/postfix, /etc/dovecot and port 25 are never touched. Postfix delivers
(virtual(8)) to Maildirs that Dovecot serves; mail for any other domain is refused by
Postfix's error transport, so nothing leaves the machine.
"""

from __future__ import annotations

import imaplib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.servers import free_port

__all__ = ["DovecotServer", "MailRoot", "PostfixServer", "need_mail_systems"]

MAIL_UID = 65534  # "nobody": owns the Maildirs; Postfix writes and Dovecot reads as it


def need_mail_systems() -> None:
    """Skip (fail in CI) when Postfix or Dovecot is missing or we cannot start them."""
    missing = [p for p in ("postfix", "dovecot") if shutil.which(p) is None]
    problem = None
    if missing:
        problem = f"{' and '.join(missing)} not installed (apt-get install postfix dovecot-imapd)"
    elif os.geteuid() != 0:
        problem = "Postfix and Dovecot need root to start their private instances"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the mail-system tests: {problem}; .ci/run installs them")
        pytest.skip(problem)


class MailRoot:
    """The temporary directory both servers live in, and its Maildirs."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="mailer-mail-"))
        self.path.chmod(0o755)  # the servers' own users must reach their parts
        self.mail = self.path / "mail"
        self.mail.mkdir()
        os.chown(self.mail, MAIL_UID, MAIL_UID)

    def maildir(self, address: str) -> Path:
        """Where Postfix delivers mail for an address (domain/local/Maildir)."""
        local, _, domain = address.partition("@")
        return self.mail / domain / local / "Maildir"

    def delivered(self, address: str) -> list[Path]:
        """The messages delivered to an address that nobody has read yet."""
        new = self.maildir(address) / "new"
        return sorted(new.iterdir()) if new.is_dir() else []

    def remove(self) -> None:
        """Delete everything."""
        shutil.rmtree(self.path, ignore_errors=True)


class PostfixServer:
    """A private Postfix: accepts any recipient of its domains at RCPT, delivers the known
    ones and bounces the others with DSNs it writes itself (RFC 3464)."""

    def __init__(self, root: MailRoot, *, domains: tuple[str, ...], mailboxes: list[str]) -> None:
        self.root = root
        self.port = free_port()
        self.conf = root.path / "postfix"
        self.queue = root.path / "postfix-queue"
        self.data = root.path / "postfix-data"
        self.log = root.path / "postfix.log"
        for folder in (self.conf, self.queue, self.data):
            folder.mkdir()
        shutil.chown(self.data, "postfix")
        (self.conf / "mailboxes").write_text(
            "".join(
                f"{a} {a.partition('@')[2]}/{a.partition('@')[0]}/Maildir/\n" for a in mailboxes
            )
        )
        (self.conf / "main.cf").write_text(self._main_cf(domains))
        (self.conf / "master.cf").write_text(self._master_cf())

    @property
    def url(self) -> str:
        """The MAILER_TRANSPORT_URL that reaches it."""
        return f"smtp://127.0.0.1:{self.port}?timeout=30"

    def _main_cf(self, domains: tuple[str, ...]) -> str:
        return f"""\
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {self.data}
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.postfix.test
mydomain = postfix.test
myorigin = $myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
# Accept unknown recipients at RCPT: they bounce afterwards, in a DSN (the goal).
smtpd_reject_unlisted_recipient = no
virtual_mailbox_domains = {", ".join(domains)}
virtual_mailbox_base = {self.root.mail}
virtual_mailbox_maps = texthash:{self.conf}/mailboxes
virtual_uid_maps = static:{MAIL_UID}
virtual_gid_maps = static:{MAIL_UID}
recipient_delimiter = +
# Nothing leaves this instance: every other domain meets the error transport.
default_transport = error:5.7.1 nothing leaves this test instance
relay_transport = error:5.7.1 nothing leaves this test instance
alias_maps =
alias_database =
maillog_file = {self.log}
maillog_file_prefixes = {self.root.path}
smtputf8_enable = no
biff = no
delay_warning_time = 0
"""

    def _master_cf(self) -> str:
        services = [
            f"127.0.0.1:{self.port} inet n - n - - smtpd",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "virtual unix - n n - - virtual",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ]
        return "\n".join(services) + "\n"

    def _postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["postfix", "-c", str(self.conf), *args], capture_output=True, text=True, timeout=60
        )

    def start(self) -> PostfixServer:
        """Start and wait until it answers on its port."""
        started = self._postfix("start")
        if started.returncode != 0:
            raise RuntimeError(f"postfix did not start: {started.stderr}{self.log_text()}")
        _wait_for_port(self.port, "postfix")
        return self

    def stop(self) -> None:
        """Stop the master and its children."""
        pid_file = self.queue / "pid" / "master.pid"
        pid = int(pid_file.read_text().split()[0]) if pid_file.is_file() else None
        self._postfix("stop")
        _wait_gone(pid)

    def log_text(self) -> str:
        """Its log so far."""
        return self.log.read_text(errors="replace") if self.log.is_file() else ""

    def wait_for_mail(self, address: str, count: int, timeout: float = 60) -> list[Path]:
        """Wait until `count` messages were delivered to `address`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.root.delivered(address)
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"{address} got {len(found)} of {count}:\n{self.log_text()[-3000:]}")


class DovecotServer:
    """A private Dovecot serving one user's Maildir over IMAP (and IMAPS with `tls`)."""

    def __init__(
        self, root: MailRoot, *, user: str, password: str, home: Path, tls: bool = False
    ) -> None:
        self.root, self.user, self.password, self.tls = root, user, password, tls
        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        self.dir = root.path / f"dovecot-{self.port}"
        (self.dir / "run").mkdir(parents=True)
        (self.dir / "state").mkdir()
        home.mkdir(parents=True, exist_ok=True)
        for folder in (home.parent, home):
            os.chown(folder, MAIL_UID, MAIL_UID)
        (self.dir / "users").write_text(
            f"{user}:{{PLAIN}}{password}:{MAIL_UID}:{MAIL_UID}::{home}\n"
        )
        if tls:
            _self_signed(self.dir)
        (self.dir / "dovecot.conf").write_text(self._conf())
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, *, folder: str = "INBOX", secure: bool = False, query: str = "") -> str:
        """MAILER_BOUNCE_MAILBOX for this server (user and password URL-encoded)."""
        from urllib.parse import quote

        scheme, port = ("imaps", self.tls_port) if secure else ("imap", self.port)
        tail = f"?{query}" if query else ""
        return (
            f"{scheme}://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@127.0.0.1:{port}/{quote(folder, safe='')}{tail}"
        )

    def _conf(self) -> str:
        tls = (
            f"ssl = required\nssl_cert = <{self.dir}/cert.pem\nssl_key = <{self.dir}/key.pem\n"
            if self.tls
            else "ssl = no\n"
        )
        return f"""\
protocols = imap
listen = 127.0.0.1
base_dir = {self.dir}/run
state_dir = {self.dir}/state
instance_name = mailer-test-{self.port}
log_path = {self.dir}/dovecot.log
{tls}disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:~/Maildir
first_valid_uid = 100
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.dir}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.dir}/users
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""

    def start(self) -> DovecotServer:
        """Start in the foreground of a child process; wait until it answers."""
        self.process = subprocess.Popen(
            ["dovecot", "-F", "-c", str(self.dir / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=(self.dir / "stderr.log").open("wb"),
        )
        _wait_for_port(self.port, "dovecot", self.process)
        return self

    def stop(self) -> None:
        """Terminate it and its children."""
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None

    def client(self) -> imaplib.IMAP4:
        """A logged-in IMAP client on INBOX, for the tests' own looks and deliveries."""
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        secret = f"\0{self.user}\0{self.password}".encode()  # SASL PLAIN: UTF-8 passwords
        imap.authenticate("PLAIN", lambda _challenge: secret)
        imap.select("INBOX")
        return imap

    def append(self, messages: list[bytes], folder: str = "INBOX") -> None:
        """Deliver messages into a folder through the server (IMAP APPEND)."""
        from mailer.bounces.mailbox import mailbox_name

        imap = self.client()
        try:
            if folder != "INBOX":
                imap.create(mailbox_name(folder))
            for raw in messages:
                status, data = imap.append(mailbox_name(folder), None, None, raw)
                assert status == "OK", data
        finally:
            imap.logout()

    def flagged(self, flag: str = "$MailerProcessed") -> int:
        """How many messages of INBOX carry a flag."""
        imap = self.client()
        try:
            _, data = imap.uid("SEARCH", "KEYWORD", flag)
            return len((data[0] or b"").split())
        finally:
            imap.logout()


def _self_signed(folder: Path) -> None:
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(folder / "key.pem"),
            "-out",
            str(folder / "cert.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


def _wait_for_port(port: int, name: str, process: subprocess.Popen[bytes] | None = None) -> None:
    import socket

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on {port}")


def _wait_gone(pid: int | None) -> None:
    if pid is None:
        return
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
