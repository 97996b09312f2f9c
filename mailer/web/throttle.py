"""Fixed-window request counters for the public forms: in Redis when the broker is Redis (every
web process shares them), else in this process, in bounded memory.

Keys are keyed hashes (an address or an IP never reaches Redis or a dict as itself).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

__all__ = ["LocalCounter", "RedisCounter", "WindowCounter", "open_counter", "throttle_key"]

_MAX_LOCAL_KEYS = 20_000  # about 2 MB: older windows are forgotten first


class WindowCounter(Protocol):
    """Counts hits per key in fixed windows of time."""

    def hit(self, key: str, *, limit: int, window: int) -> bool:
        """Count one hit; True while the key has had at most `limit` in this window."""
        ...


def throttle_key(secret: bytes, kind: str, value: str) -> str:
    """`kind:` and a keyed hash of the value (an address, an IP)."""
    digest = hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{kind}:{digest}"


class LocalCounter:
    """Counters of one process: enough for one `mailer web` (the embedded default)."""

    def __init__(self, max_keys: int = _MAX_LOCAL_KEYS) -> None:
        self._counts: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._max_keys = max_keys
        self._lock = threading.Lock()

    def hit(self, key: str, *, limit: int, window: int) -> bool:
        """Count one hit for the current window of `window` seconds."""
        current = int(time.time()) // window
        with self._lock:
            started, count = self._counts.pop(key, (current, 0))
            count = count + 1 if started == current else 1
            self._counts[key] = (current, count)
            while len(self._counts) > self._max_keys:
                self._counts.popitem(last=False)  # the least recently hit
        return count <= limit


class RedisCounter:
    """Counters in Redis, shared by every web process (INCR, and the window's expiry)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def hit(self, key: str, *, limit: int, window: int) -> bool:
        """Count one hit for the current window of `window` seconds."""
        name = f"mailer:throttle:{key}:{int(time.time()) // window}"
        pipeline = self.client.pipeline()
        pipeline.incr(name)
        pipeline.expire(name, window)
        count, _ = pipeline.execute()
        return int(count) <= limit


def open_counter(broker_url: str) -> WindowCounter:
    """Redis counters with a Redis broker, else counters of this process."""
    if broker_url.startswith(("redis://", "rediss://")):
        import redis

        return RedisCounter(redis.Redis.from_url(broker_url, socket_timeout=2))
    return LocalCounter()
