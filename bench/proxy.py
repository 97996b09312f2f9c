"""A TCP proxy on 127.0.0.1 that delays every chunk by half the round trip in each direction:
a relay RTT milliseconds away, on a kernel without netem. Runs in a process of its own.

    python bench/proxy.py LISTEN_PORT TARGET_PORT RTT_MS
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import sys
import time
from dataclasses import dataclass

__all__ = ["DelayProxy"]


class _Side(asyncio.Protocol):
    """One end of a proxied connection: what it receives reaches the other end `delay` later.

    Each chunk is written by a timer at its own deadline; deadlines only grow, so chunks keep
    their order (the event loop runs timers in deadline order)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.peer: _Side | None = None
        self.transport: asyncio.Transport | None = None
        self._last = 0.0
        self._early: list[bytes] = []
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        due = max(loop.time() + self.delay, self._last + 1e-6)
        self._last = due
        loop.call_at(due, self._deliver, data)

    def _deliver(self, data: bytes) -> None:
        peer = self.peer
        if peer is None or peer.transport is None:
            self._early.append(data)
            return
        for chunk in self._early:
            peer.transport.write(chunk)
        self._early.clear()
        peer.transport.write(data)

    def eof_received(self) -> bool:
        loop = asyncio.get_running_loop()
        loop.call_at(max(loop.time() + self.delay, self._last + 1e-6), self._close_peer)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof_received()

    def _close_peer(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


async def _serve(listen: int, target: int, rtt_ms: float) -> None:
    delay = rtt_ms / 2000
    loop = asyncio.get_running_loop()

    def client_side() -> _Side:
        client = _Side(delay)

        async def connect() -> None:
            try:
                _, server = await loop.create_connection(lambda: _Side(delay), "127.0.0.1", target)
            except OSError:
                if client.transport is not None:
                    client.transport.close()
                return
            server.peer, client.peer = client, server
            if client._early:
                client._deliver(b"")

        client.task = loop.create_task(connect())  # kept: the loop holds tasks weakly
        return client

    server = await loop.create_server(client_side, "127.0.0.1", listen, backlog=1024)
    async with server:
        await server.serve_forever()


def _main(listen: int, target: int, rtt_ms: float) -> None:
    asyncio.run(_serve(listen, target, rtt_ms))


@dataclass
class DelayProxy:
    """The proxy process; `port` is where clients connect."""

    port: int
    process: multiprocessing.Process

    @classmethod
    def start(cls, listen: int, target: int, rtt_ms: float) -> DelayProxy:
        process = multiprocessing.Process(target=_main, args=(listen, target, rtt_ms), daemon=True)
        process.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", listen), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.05)
        return cls(listen, process)

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)


if __name__ == "__main__":
    _main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
