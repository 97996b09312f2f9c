"""Tokens of the earlier form (itsdangerous), still in mail already sent: checked strictly.

The earlier link token was `base64(id).signature` and the confirmation token
`base64(json id).base64(time).signature`. itsdangerous decodes base64 leniently (padding
added, spare bits ignored), so several spellings of one token passed. Here a token is
accepted only when it is exactly the token itsdangerous makes for the id (and time) it
names: it is parsed, made again, and compared whole in constant time.
"""

from __future__ import annotations

import hmac
import re
import time
from typing import Any

from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode, int_to_bytes

__all__ = ["LegacyTokens"]

_LINK = re.compile(r"[A-Za-z0-9_-]{1,28}\.[A-Za-z0-9_-]{27}")
_TIMED = re.compile(r"[A-Za-z0-9_-]{1,28}\.[A-Za-z0-9_-]{4,8}\.[A-Za-z0-9_-]{27}")
_PURPOSES = ("unsubscribe", "preferences", "view", "confirm")
_CLOCK_SKEW = 300


class _KeyedSigner(Signer):
    """itsdangerous's Signer with its key derived once, and the same bytes made in a few
    microseconds: HMAC state keyed once, copied per token."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._derived = super().derive_key()
        self._keyed = hmac.new(self._derived, digestmod=self.digest_method)
        self._separator = self.sep.encode("ascii") if isinstance(self.sep, str) else self.sep

    def derive_key(self, secret_key: Any = None) -> bytes:
        return self._derived if secret_key is None else super().derive_key(secret_key)

    def sign_fast(self, value: bytes) -> bytes:
        """`value.signature`, as `Signer.sign` makes it."""
        mac = self._keyed.copy()
        mac.update(value)
        return value + self._separator + base64_encode(mac.digest())


def _decimal(encoded: str) -> int | None:
    """The id a payload names, when it is written the one way itsdangerous writes it."""
    try:
        text = base64_decode(encoded).decode("ascii")
    except (BadSignature, UnicodeError, ValueError):
        return None
    if not text.isdigit() or not text.isascii() or len(text) > 19 or text != str(int(text)):
        return None
    return int(text)


class LegacyTokens:
    """Checks the earlier tokens of one secret key; makes them too (for the tests)."""

    def __init__(self, secret_key: str) -> None:
        self._links = {p: _KeyedSigner(secret_key, salt=f"mailer.{p}") for p in _PURPOSES}
        self._timed = URLSafeTimedSerializer(secret_key, salt="mailer.confirm.timed")
        self._timed_signer = self._timed.make_signer()

    def sign(self, subscriber_id: int, purpose: str) -> str:
        """The earlier link token of an id."""
        payload = base64_encode(str(subscriber_id).encode("ascii"))
        return self._links[purpose].sign_fast(payload).decode("ascii")

    def sign_expiring(self, subscriber_id: int, issued: int) -> str:
        """The earlier confirmation token of an id, made at `issued` (seconds since 1970)."""
        value = self._timed.dump_payload(subscriber_id) + b"." + base64_encode(int_to_bytes(issued))
        return (value + b"." + self._timed_signer.get_signature(value)).decode("ascii")

    def verify(self, token: str, purpose: str) -> int | None:
        """The id of an earlier link token in its canonical spelling, else None."""
        if purpose not in self._links or _LINK.fullmatch(token) is None:
            return None
        subscriber_id = _decimal(token.partition(".")[0])
        if subscriber_id is None:
            return None
        expected = self.sign(subscriber_id, purpose)
        return subscriber_id if hmac.compare_digest(expected, token) else None

    def verify_expiring(self, token: str, max_age: int) -> int | None:
        """The id of an earlier confirmation token younger than `max_age`, else None."""
        if _TIMED.fullmatch(token) is None:
            return None
        payload, stamp, _ = token.split(".")
        subscriber_id = _decimal(payload)
        try:
            issued = int.from_bytes(base64_decode(stamp), "big")
        except (BadSignature, ValueError):
            return None
        if subscriber_id is None:
            return None
        expected = self.sign_expiring(subscriber_id, issued)
        if not hmac.compare_digest(expected, token):
            return None
        age = time.time() - issued
        return subscriber_id if -_CLOCK_SKEW <= age <= max_age else None
