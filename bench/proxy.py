"""A TCP proxy on 127.0.0.1 that delays every chunk by half the round trip in each direction:
a relay RTT milliseconds away, on a kernel without netem. Runs in a process of its own.

    python bench/proxy.py LISTEN_PORT TARGET_PORT RTT_MS
"""

from __future__ import annotations

import asyncio
import collections
import multiprocessing
import socket
import sys
import time
from dataclasses import dataclass

__all__ = ["DelayProxy"]


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Forward what `reader` gives to `writer`, each chunk `delay` seconds later, in order."""
    queue: collections.deque[tuple[float, bytes]] = collections.deque()
    ready = asyncio.Event()
    done = False

    async def forward() -> None:
        while True:
            while not queue:
                if done:
                    return
                ready.clear()
                await ready.wait()
            due, data = queue.popleft()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            if writer.transport.get_write_buffer_size() > 1 << 20:
                await writer.drain()

    sender = asyncio.create_task(forward())
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            queue.append((time.monotonic() + delay, data))
            ready.set()
    except (ConnectionError, OSError):
        pass
    done = True
    ready.set()
    try:
        await sender
        writer.close()
    except (ConnectionError, OSError):
        pass


async def _serve(listen: int, target: int, rtt_ms: float) -> None:
    delay = rtt_ms / 2000

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_w.close()
            return
        for stream in (client_w, server_w):
            stream.transport.get_extra_info("socket").setsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
            )
        await asyncio.gather(_pump(client_r, server_w, delay), _pump(server_r, client_w, delay))

    server = await asyncio.start_server(handle, "127.0.0.1", listen, backlog=1024)
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
