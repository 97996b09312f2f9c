"""The raw client: pre-built bytes over N persistent pipelined connections, one message in flight
on each (as mailer keeps them), in one asyncio process per core; and the ceiling issue 15's
RTT 0 goal was set against: one blocking connection per core."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import time

__all__ = ["ceiling_per_core", "raw_client"]


async def _connection(port: int, payload: bytes, count: int, tag: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def reply() -> bytes:
        line = await reader.readline()
        while line[3:4] == b"-":
            line = await reader.readline()
        if not line:
            raise ConnectionError("closed")
        return line

    await reply()
    writer.write(b"EHLO bench\r\n")
    await reply()

    def envelope(i: int) -> bytes:
        return b"MAIL FROM:<b@example.org>\r\nRCPT TO:<c%d.%d@example.org>\r\nDATA\r\n" % (tag, i)

    # RFC 2920, as mailer does: a message's data, its final dot and the next envelope in one
    # write; one round trip per message.
    writer.write(envelope(0))
    for _ in range(3):
        await reply()
    for i in range(count):
        last = i == count - 1
        writer.write(payload + b"\r\n.\r\n" + (b"" if last else envelope(i + 1)))
        await reply()
        if not last:
            for _ in range(3):
                await reply()
    writer.write(b"QUIT\r\n")
    await writer.drain()
    writer.close()


def _process(
    port: int, payload: bytes, counts: list[int], first: int, queue: multiprocessing.Queue
) -> None:  # type: ignore[type-arg]
    async def run() -> None:
        await asyncio.gather(
            *(_connection(port, payload, n, first + k) for k, n in enumerate(counts) if n)
        )

    queue.put(time.perf_counter())
    asyncio.run(run())
    queue.put(time.perf_counter())


def raw_client(port: int, payload: bytes, *, connections: int, messages: int) -> float:
    """Emails per second of `messages` pre-built messages over `connections` connections."""
    cores = min(os.cpu_count() or 1, connections)
    per = [
        messages // connections + (1 if i < messages % connections else 0)
        for i in range(connections)
    ]
    shares = [per[i::cores] for i in range(cores)]
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    workers = [
        multiprocessing.Process(target=_process, args=(port, payload, share, i * 1000, queue))
        for i, share in enumerate(shares)
    ]
    for worker in workers:
        worker.start()
    stamps = [queue.get(timeout=600) for _ in range(2 * len(workers))]
    for worker in workers:
        worker.join(30)
    return messages / (max(stamps) - min(stamps))


def _blocking_connection(
    port: int, payload: bytes, count: int, queue: multiprocessing.Queue
) -> None:  # type: ignore[type-arg]
    sock = socket.create_connection(("127.0.0.1", port))
    reader = sock.makefile("rb")

    def reply() -> bytes:
        line = reader.readline()
        while line[3:4] == b"-":
            line = reader.readline()
        return line

    reply()
    sock.sendall(b"EHLO bench\r\n")
    reply()
    queue.put(time.perf_counter())
    for i in range(count):
        # RFC 2920: MAIL, RCPT and DATA in one write, their replies read together.
        sock.sendall(b"MAIL FROM:<b@example.org>\r\nRCPT TO:<c%d@example.org>\r\nDATA\r\n" % i)
        reply(), reply(), reply()
        sock.sendall(payload + b"\r\n.\r\n")
        reply()
    queue.put(time.perf_counter())
    sock.sendall(b"QUIT\r\n")
    sock.close()


def ceiling_per_core(port: int, payload: bytes, *, messages: int) -> float:
    """Emails per second of pre-built messages over one blocking connection per core (the
    bench's ceiling when issue 15 measured 0.26 x on PostgreSQL at RTT 0)."""
    cores = os.cpu_count() or 1
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    workers = [
        multiprocessing.Process(
            target=_blocking_connection, args=(port, payload, messages // cores, queue)
        )
        for _ in range(cores)
    ]
    for worker in workers:
        worker.start()
    stamps = [queue.get(timeout=600) for _ in range(2 * cores)]
    for worker in workers:
        worker.join(30)
    return (messages // cores * cores) / (max(stamps) - min(stamps))
