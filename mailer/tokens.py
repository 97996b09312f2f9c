"""Signed subscriber tokens for links (unsubscribe, preferences, view, confirm), bound to a purpose."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from itsdangerous import (
    BadSignature,
    SignatureExpired,
    Signer,
    URLSafeTimedSerializer,
)
from itsdangerous.encoding import base64_decode, base64_encode

__all__ = ["PURPOSES", "TokenSigner"]

PURPOSES = ("unsubscribe", "preferences", "view", "confirm")


class _KeyedSigner(Signer):
    """itsdangerous's Signer, deriving its key once instead of on every signature, with a
    fast `sign` that gives the same bytes: HMAC state keyed once, copied per token."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._derived = super().derive_key()
        self._keyed = hmac.new(self._derived, digestmod=self.digest_method)
        self._separator = self.sep.encode("ascii") if isinstance(self.sep, str) else self.sep

    def derive_key(self, secret_key: Any = None) -> bytes:
        return self._derived if secret_key is None else super().derive_key(secret_key)

    def sign_fast(self, value: bytes) -> bytes:
        """`value.signature`, as `Signer.sign` makes it, in a few microseconds."""
        mac = self._keyed.copy()
        mac.update(value)
        return value + self._separator + base64_encode(mac.digest())


class TokenSigner:
    """Signs and checks `(subscriber id, purpose)` tokens with MAILER_SECRET_KEY."""

    def __init__(self, secret_key: str) -> None:
        self._key = secret_key.encode("utf-8")
        # The salt binds a token to its purpose: an unsubscribe token opens no preference page.
        # Link tokens: the id in base64 and an HMAC bound to the purpose (salt), no JSON,
        # no compression: a few microseconds each, three per email.
        self._plain = {p: _KeyedSigner(secret_key, salt=f"mailer.{p}") for p in PURPOSES}
        self._timed = URLSafeTimedSerializer(secret_key, salt="mailer.confirm.timed")
        self._csrf = URLSafeTimedSerializer(secret_key, salt="mailer.csrf")
        self._digest = hmac.new(self._key, digestmod=hashlib.sha256)

    def sign(self, subscriber_id: int, purpose: str) -> str:
        """A token for links that must work for as long as the email is kept."""
        payload = base64_encode(str(subscriber_id).encode("ascii"))
        return self._plain[purpose].sign_fast(payload).decode("ascii")

    def verify(self, token: str, purpose: str) -> int | None:
        """The subscriber id, or None for a forged, altered or wrong-purpose token."""
        signer = self._plain.get(purpose)
        if signer is None:
            return None
        try:
            value = base64_decode(signer.unsign(token.encode("ascii"))).decode("ascii")
        except (BadSignature, UnicodeError, ValueError):
            return None
        return int(value) if value.isdigit() else None

    def sign_expiring(self, subscriber_id: int) -> str:
        """A confirmation token that expires (checked with `verify_expiring`)."""
        return str(self._timed.dumps(subscriber_id))

    def verify_expiring(self, token: str, max_age: int) -> int | None:
        """The subscriber id of a confirmation token younger than `max_age` seconds."""
        try:
            value = self._timed.loads(token, max_age=max_age)
        except (BadSignature, SignatureExpired):
            return None
        return value if isinstance(value, int) else None

    def sign_csrf(self, subscriber_id: int) -> str:
        """A form token bound to one subscriber's preference page."""
        return str(self._csrf.dumps(subscriber_id))

    def verify_csrf(self, token: str, subscriber_id: int, max_age: int) -> bool:
        """True when the form token was made for this subscriber less than `max_age` ago."""
        try:
            return bool(self._csrf.loads(token, max_age=max_age) == subscriber_id)
        except (BadSignature, SignatureExpired):
            return False

    def digest(self, *parts: object) -> str:
        """A short keyed digest (Message-IDs, suppression hashes): stable, reveals nothing."""
        message = ":".join(str(p) for p in parts).encode("utf-8")
        mac = self._digest.copy()  # keyed once: copying the state skips the key setup
        mac.update(message)
        return mac.hexdigest()[:24]
