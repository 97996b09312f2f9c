"""`mailer inbound`: one message an MTA pipes in (a DSN, an ARF report, an auto-reply or a
`mailto:` unsubscribe), read at most up to the limit, recorded by the one recorder."""

from __future__ import annotations

from typing import BinaryIO

from mailer.bounces.mime import MAX_BYTES
from mailer.bounces.record import Recorder
from mailer.runtime import Runtime

__all__ = ["handle_inbound", "read_limited"]


def read_limited(stream: BinaryIO, limit: int = MAX_BYTES) -> tuple[bytes, int]:
    """At most `limit` bytes of the stream, and a size that says whether there was more
    (limit + 1 then): nothing past the limit is read, whatever the sender wrote."""
    chunks: list[bytes] = []
    wanted = limit + 1
    while wanted > 0:
        chunk = stream.read(min(wanted, 65536))
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    data = b"".join(chunks)
    return data[:limit], len(data)


def handle_inbound(
    rt: Runtime, raw: bytes, *, size: int | None = None, recipient: str | None = None
) -> str:
    """Record one message; says in one line what it did (and names no address)."""
    with rt.db.session() as session:
        recorder = Recorder.of(rt, session, source="inbound")
        return recorder.record(raw, size=size, recipient=recipient).line
