"""`mailer web` against idle and trickling clients (slowloris), on real sockets, with its defaults."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import EXAMPLES, ROOT
from tests.servers import free_port

# The server's deadlines are 10 s for a request's head and 10 s for a body: a connection
# must be gone well before this.
GONE_WITHIN = 20.0


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    path = tmp_path_factory.mktemp("web")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "MAILER_DATABASE_URL": f"sqlite:///{path}/mailer.db",
            "MAILER_ORG_FILE": str(EXAMPLES / "mailer.toml"),
            "MAILER_SECRET_KEY": "slow-client-tests-secret-key-0123456789",
        }
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "mailer", "web", "--port", str(port)],
        cwd=path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).text == "ok":
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "mailer web did not start"
            time.sleep(0.2)
        yield "127.0.0.1", port
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def _closed_after(
    address: tuple[str, int], first: bytes, then: Callable[[int], bytes | None], every: float
) -> tuple[float, bytes]:
    """Send `first`, then `then(n)` every `every` seconds until the server closes the
    connection (or GONE_WITHIN passes); how long it took and what the server said."""
    started = time.monotonic()
    said = b""
    with socket.create_connection(address, timeout=GONE_WITHIN + 5) as sock:
        sock.settimeout(every)
        if first:
            sock.sendall(first)
        n = 0
        while time.monotonic() - started < GONE_WITHIN + 2:
            try:
                chunk = sock.recv(4096)
                if not chunk:
                    return time.monotonic() - started, said
                said += chunk
            except TimeoutError:
                pass
            except (ConnectionResetError, BrokenPipeError):
                return time.monotonic() - started, said
            more = then(n)
            n += 1
            if more:
                try:
                    sock.sendall(more)
                except (ConnectionResetError, BrokenPipeError):
                    return time.monotonic() - started, said
    return time.monotonic() - started, said


def test_idle_and_trickling_clients_are_cut_off(web: tuple[str, int]) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    cases: dict[str, tuple[bytes, Callable[[int], bytes | None], float]] = {
        "idle": (b"", lambda n: None, 0.5),
        "trickled head": (head + b"X-Slow: ", lambda n: b"a", 0.5),
        "trickled body": (
            b"POST /u/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
            b"\r\nContent-Length: 1000\r\n\r\n",
            lambda n: b"a",
            0.5,
        ),
        "idle after a request": (
            head + b"\r\n",
            lambda n: b"GET /healthz HTTP/1.1\r\n" if n == 2 else b"X" if n > 2 else None,
            0.5,
        ),
    }
    results: dict[str, tuple[float, bytes]] = {}

    def run(name: str) -> None:
        first, then, every = cases[name]
        results[name] = _closed_after(web, first, then, every)

    threads = [threading.Thread(target=run, args=(name,)) for name in cases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(GONE_WITHIN + 15)
    assert set(results) == set(cases)
    for name, (seconds, _said) in results.items():
        assert seconds < GONE_WITHIN, f"{name}: the connection was held {seconds:.1f} s"
    assert b" 408 " in results["trickled body"][1].split(b"\r\n")[0]
    assert results["idle after a request"][1].startswith(b"HTTP/1.1 200")
    # Honest clients are served all along.
    assert httpx.get(f"http://{web[0]}:{web[1]}/healthz", timeout=5).text == "ok"


def test_header_size_and_count_are_bounded(web: tuple[str, int]) -> None:
    def status(request: bytes) -> bytes:
        with socket.create_connection(web, timeout=10) as sock:
            sock.sendall(request)
            reply = b""
            while b"\r\n" not in reply:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
            return reply.split(b"\r\n")[0]

    huge = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"
    assert status(huge).split()[1] in (b"400", b"431")
    many = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-%d: y\r\n" % n for n in range(150)
    )
    assert status(many + b"\r\n").split()[1] == b"431"
    assert status(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").split()[1] == b"200"


def test_the_server_is_mailer_web(web: tuple[str, int]) -> None:
    # The server under test is the command's own, with its headers and no server banner.
    response = httpx.get(f"http://{web[0]}:{web[1]}/healthz", timeout=5)
    assert "server" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
