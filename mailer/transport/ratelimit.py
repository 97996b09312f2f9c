"""Rate limits shared by every worker: a Redis token bucket (global, and per recipient domain).

The bucket holds one token at most and starts with one: messages are spaced 1 / rate apart,
so that no second (the first one included) sees more than the limit. A bucket that starts
full with a second's worth of tokens lets twice the limit through in its first second.
With no limit set nothing is called: the workers never wait on each other.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

__all__ = ["LocalBucket", "NoLimit", "RateLimiter", "RedisBucket", "open_limiter"]

# KEYS[1] bucket; ARGV: rate per second, capacity, now (ms). Returns ms to wait (0: take it).
# Runs atomically in Redis, so every worker on every host draws from one bucket.
_TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local slow = tonumber(redis.call('GET', KEYS[1] .. ':slow') or '1')
rate = rate * slow
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + (now - at) * rate / 1000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], 60000)
return wait
"""


class RateLimiter(Protocol):
    """Waits until one more message may be sent to a domain."""

    def acquire(self, domain: str) -> None:
        """Block until a token is available (globally and for the domain)."""
        ...

    def slow_down(self, seconds: float = 60.0) -> None:
        """The server asked us to slow down: halve the rate for a while."""
        ...


class NoLimit:
    """No limit: never waits."""

    def acquire(self, domain: str) -> None:
        """Return at once."""

    def slow_down(self, seconds: float = 60.0) -> None:
        """Nothing to slow: retries are spaced by their backoff."""


class LocalBucket:
    """A token bucket for one process (the embedded default has one worker)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._tokens = 1.0
        self._at = time.monotonic()
        self._slow_until = 0.0
        self._lock = threading.Lock()

    def acquire(self, domain: str) -> None:
        """Take a token, sleeping as long as needed."""
        while True:
            with self._lock:
                now = time.monotonic()
                rate = self.rate / 2 if now < self._slow_until else self.rate
                self._tokens = min(1.0, self._tokens + (now - self._at) * rate)
                self._at = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / rate
            time.sleep(wait)

    def slow_down(self, seconds: float = 60.0) -> None:
        """Half speed for a while."""
        with self._lock:
            self._slow_until = time.monotonic() + seconds


class RedisBucket:
    """Token buckets in Redis: one global, and one per recipient domain when a cap is set."""

    def __init__(self, client: Any, *, rate: float, domain_rate: float) -> None:
        self.client = client
        self.rate = rate
        self.domain_rate = domain_rate
        self._script = client.register_script(_TOKEN_BUCKET)

    def _take(self, key: str, rate: float) -> None:
        while True:
            wait = int(self._script(keys=[key], args=[rate, 1, int(time.time() * 1000)]))
            if wait <= 0:
                return
            time.sleep(wait / 1000)

    def acquire(self, domain: str) -> None:
        """Take a global token, then one for the recipient's domain."""
        if self.rate:
            self._take("mailer:rate:global", self.rate)
        if self.domain_rate:
            self._take(f"mailer:rate:domain:{domain.lower()}", self.domain_rate)

    def slow_down(self, seconds: float = 60.0) -> None:
        """Every worker halves its rate for a while (the server said 421/451 4.7.x/454)."""
        self.client.set("mailer:rate:global:slow", "0.5", px=int(seconds * 1000))


def open_limiter(*, broker_url: str, rate: float, domain_rate: float) -> RateLimiter:
    """The limiter for these settings: none, in-process, or shared through Redis."""
    if not rate and not domain_rate:
        return NoLimit()
    if broker_url.startswith(("redis://", "rediss://")):
        import redis

        return RedisBucket(redis.Redis.from_url(broker_url), rate=rate, domain_rate=domain_rate)
    return LocalBucket(rate or domain_rate)
