"""Opaque, strict subscriber tokens for links (unsubscribe, preferences, view, confirm), bound to a purpose."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

from mailer.legacy_tokens import LegacyTokens
from mailer.secret import secret_key_problem

__all__ = ["PURPOSES", "TokenSigner"]

PURPOSES = ("unsubscribe", "preferences", "view", "confirm")
# Timed tokens: the double opt-in link and the preference form's CSRF field.
_TIMED = ("confirm.timed", "csrf")

_TAG = 16  # bytes of keyed BLAKE2b: a forgery is one chance in 2^128 per try
_ID = 8
_ISSUED = 6  # seconds since 1970, big-endian
# base64url of 24 and 30 bytes: lengths that are multiples of three have no padding and no
# spare bit, so each token has exactly one spelling (an altered character is another token).
_LINK_LENGTH = (_TAG + _ID) * 4 // 3
_TIMED_LENGTH = (_TAG + _ID + _ISSUED) * 4 // 3
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_MAX_ID = 2**63 - 1
# A confirmation link made on a machine whose clock is a little ahead still works.
_CLOCK_SKEW = 300


class _Sealer:
    """Deterministic authenticated encryption of a short value (SIV, Rogaway and Shrimpton 2006):
    the tag is a keyed hash of the value, the value is masked by a keyed hash of the tag. The
    token shows neither the id nor its order, and any change to it fails the tag."""

    __slots__ = ("_mac", "_mask", "_width")

    def __init__(self, key: bytes, label: str, width: int) -> None:
        def derive(role: str) -> bytes:
            return hmac.digest(key, f"mailer/token/v2/{label}/{role}".encode(), "sha256")

        # Keyed once; `copy()` per token skips the key set-up (three tokens per email).
        self._mac = hashlib.blake2b(key=derive("tag"), digest_size=_TAG)
        self._mask = hashlib.blake2b(key=derive("mask"), digest_size=width)
        self._width = width

    def seal(self, value: int) -> str:
        plain = value.to_bytes(self._width, "big")
        mac = self._mac.copy()
        mac.update(plain)
        tag = mac.digest()
        mask = self._mask.copy()
        mask.update(tag)
        hidden = value ^ int.from_bytes(mask.digest(), "big")
        return base64.urlsafe_b64encode(tag + hidden.to_bytes(self._width, "big")).decode("ascii")

    def open(self, token: str, length: int) -> int | None:
        # One spelling: the exact length over the base64url alphabet, nothing else.
        if len(token) != length or _BASE64URL.fullmatch(token) is None:
            return None
        raw = base64.urlsafe_b64decode(token)
        tag = raw[:_TAG]
        mask = self._mask.copy()
        mask.update(tag)
        value = int.from_bytes(raw[_TAG:], "big") ^ int.from_bytes(mask.digest(), "big")
        mac = self._mac.copy()
        mac.update(value.to_bytes(self._width, "big"))
        return value if hmac.compare_digest(mac.digest(), tag) else None


class TokenSigner:
    """Makes and checks `(subscriber id, purpose)` tokens with MAILER_SECRET_KEY.

    A token is bound to its purpose (an unsubscribe token opens no preference page) and to
    the installation (a database made with the same key accepts none of another's tokens).
    Tokens of the earlier, itsdangerous form, still in mail already sent, are accepted in
    their one canonical spelling only (`mailer.legacy_tokens`).
    """

    def __init__(self, secret_key: str, *, installation: str = "") -> None:
        problem = secret_key_problem(secret_key)
        if problem is not None:
            raise ValueError(f"secret key {problem}")
        key = secret_key.encode("utf-8")
        self.installation = installation
        self._links = {p: _Sealer(key, f"{installation}/{p}", _ID) for p in PURPOSES}
        self._timed = {p: _Sealer(key, f"{installation}/{p}", _ID + _ISSUED) for p in _TIMED}
        self._legacy = LegacyTokens(secret_key)
        self._digest = hmac.new(key, digestmod=hashlib.sha256)
        self._digest.update(f"{installation}:".encode())

    def sign(self, subscriber_id: int, purpose: str) -> str:
        """A token for links that must work for as long as the email is kept."""
        if not 0 <= subscriber_id <= _MAX_ID:
            raise ValueError(f"subscriber id out of range: {subscriber_id}")
        return self._links[purpose].seal(subscriber_id)

    def verify(self, token: str, purpose: str) -> int | None:
        """The subscriber id, or None for a forged, altered or wrong-purpose token."""
        sealer = self._links.get(purpose)
        if sealer is None:
            return None
        if "." in token:
            return self._legacy.verify(token, purpose)
        value = sealer.open(token, _LINK_LENGTH)
        return value if value is not None and 0 <= value <= _MAX_ID else None

    def sign_expiring(self, subscriber_id: int) -> str:
        """A confirmation token that expires (checked with `verify_expiring`)."""
        return self._sign_timed(subscriber_id, "confirm.timed")

    def verify_expiring(self, token: str, max_age: int) -> int | None:
        """The subscriber id of a confirmation token younger than `max_age` seconds."""
        if "." in token:
            return self._legacy.verify_expiring(token, max_age)
        return self._verify_timed(token, "confirm.timed", max_age)

    def issued_at(self, token: str, max_age: int) -> int | None:
        """When (Unix seconds) a valid confirmation token was made; 0 for a legacy token
        (older than anything that asks)."""
        if "." in token:
            return 0 if self._legacy.verify_expiring(token, max_age) is not None else None
        value = self._timed["confirm.timed"].open(token, _TIMED_LENGTH)
        if value is None or self._verify_timed(token, "confirm.timed", max_age) is None:
            return None
        return int(value & (2 ** (8 * _ISSUED) - 1))

    def sign_csrf(self, subscriber_id: int) -> str:
        """A form token bound to one subscriber's preference page."""
        return self._sign_timed(subscriber_id, "csrf")

    def verify_csrf(self, token: str, subscriber_id: int, max_age: int) -> bool:
        """True when the form token was made for this subscriber less than `max_age` ago."""
        return self._verify_timed(token, "csrf", max_age) == subscriber_id

    def digest(self, *parts: object) -> str:
        """A short keyed digest of this installation (Message-IDs, log names): stable, reveals
        nothing, and different in another database made with the same key."""
        message = ":".join(str(p) for p in parts).encode("utf-8")
        mac = self._digest.copy()  # keyed once: copying the state skips the key setup
        mac.update(message)
        return mac.hexdigest()[:24]

    def _sign_timed(self, subscriber_id: int, purpose: str) -> str:
        if not 0 <= subscriber_id <= _MAX_ID:
            raise ValueError(f"subscriber id out of range: {subscriber_id}")
        return self._timed[purpose].seal(subscriber_id << (8 * _ISSUED) | int(time.time()))

    def _verify_timed(self, token: str, purpose: str, max_age: int) -> int | None:
        value = self._timed[purpose].open(token, _TIMED_LENGTH)
        if value is None:
            return None
        subscriber_id, issued = value >> (8 * _ISSUED), value & (2 ** (8 * _ISSUED) - 1)
        age = time.time() - issued
        if not (-_CLOCK_SKEW <= age <= max_age) or not 0 <= subscriber_id <= _MAX_ID:
            return None
        return subscriber_id
