"""VERP: an envelope sender per message, `local+TOKEN@domain`, whose token names the delivery.

The token is opaque and signed: the campaign and subscriber ids (40 bits each) are
encrypted with a four-round Feistel network keyed from MAILER_SECRET_KEY (a keyed
permutation: equal ids give equal tokens, neighbouring ids unrelated ones, and no id can
be read without the key), then authenticated with a 48-bit HMAC tag. Nothing in it is an
address. It is 26 characters of lower-case RFC 4648 base32: a local part of digits and
letters that survives MTAs which fold case, far under the 64-octet limit of a local part
(RFC 5321 4.5.3.1.1) with any bounce local part of up to 37 characters.

Campaign 0 is the double opt-in confirmation, which has no campaign row.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable

from mailer.org import OrgProfile

__all__ = [
    "MAX_BOUNCE_LOCAL",
    "TOKEN_LENGTH",
    "Verp",
    "find_delivery_token",
    "verp_sender",
]

TOKEN_LENGTH = 26  # base32 of 10 encrypted bytes and a 6-byte tag
MAX_BOUNCE_LOCAL = 64 - 1 - TOKEN_LENGTH  # "local" + "+" + token within 64 octets
_HALF = 5  # bytes: ids up to 2**40
_LIMIT = 1 << (8 * _HALF)
_ROUNDS = 4  # Luby-Rackoff: four rounds make a strong pseudo-random permutation
_TAG = 6
_TOKEN_IN_ADDRESS = re.compile(rf"\+([a-z2-7]{{{TOKEN_LENGTH}}})@", re.IGNORECASE)


def _keyed(key: bytes, purpose: bytes) -> hmac.HMAC:
    return hmac.new(hmac.new(key, purpose, hashlib.sha256).digest(), digestmod=hashlib.sha256)


class Verp:
    """Makes and reads delivery tokens with one secret key."""

    __slots__ = ("_mac", "_rounds")

    def __init__(self, secret_key: str) -> None:
        key = secret_key.encode("utf-8")
        # Each round and the tag keyed once from its own derived key; copied per use.
        self._rounds = [_keyed(key, b"mailer.verp.round.%d" % n) for n in range(_ROUNDS)]
        self._mac = _keyed(key, b"mailer.verp.tag")

    def _round(self, n: int, half: bytes) -> int:
        mac = self._rounds[n].copy()
        mac.update(half)
        return int.from_bytes(mac.digest()[:_HALF], "big")

    def _tag(self, body: bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(body)
        return mac.digest()[:_TAG]

    def token(self, campaign_id: int, subscriber_id: int) -> str:
        """The token of one delivery (campaign 0: a confirmation email)."""
        if not (0 <= campaign_id < _LIMIT and 0 <= subscriber_id < _LIMIT):
            raise ValueError("ids out of the token's range")
        # Halves as integers: one XOR per round (a token per message, so it counts).
        left, right = campaign_id, subscriber_id
        for n in range(_ROUNDS):
            left, right = right, left ^ self._round(n, right.to_bytes(_HALF, "big"))
        body = left.to_bytes(_HALF, "big") + right.to_bytes(_HALF, "big")
        return base64.b32encode(body + self._tag(body)).decode("ascii").rstrip("=").lower()

    def read(self, token: str) -> tuple[int, int] | None:
        """(campaign id, subscriber id), or None for anything not made with this key."""
        if len(token) != TOKEN_LENGTH:
            return None
        try:
            raw = base64.b32decode(token.upper() + "======")
        except (ValueError, TypeError):
            return None
        body, tag = raw[: 2 * _HALF], raw[2 * _HALF :]
        if not hmac.compare_digest(tag, self._tag(body)):
            return None
        left, right = int.from_bytes(body[:_HALF], "big"), int.from_bytes(body[_HALF:], "big")
        for n in reversed(range(_ROUNDS)):
            left, right = right ^ self._round(n, left.to_bytes(_HALF, "big")), left
        return left, right


_by_key: dict[str, Verp] = {}


def _verp(secret_key: str) -> Verp:
    found = _by_key.get(secret_key)
    if found is None:
        found = _by_key[secret_key] = Verp(secret_key)
    return found


def verp_sender(org: OrgProfile, secret_key: str, campaign_id: int, subscriber_id: int) -> str:
    """The SMTP MAIL FROM of one message: `local+TOKEN@domain` when the profile has a
    bounce address and VERP is on, else the profile's plain envelope sender."""
    if not org.bounce_address or not org.verp:
        return org.envelope_from
    local, _, domain = org.bounce_address.rpartition("@")
    return f"{local}+{_verp(secret_key).token(campaign_id, subscriber_id)}@{domain}"


def find_delivery_token(secret_key: str, addresses: Iterable[str]) -> tuple[int, int] | None:
    """The (campaign, subscriber) of the first valid VERP token in these addresses."""
    verp = _verp(secret_key)
    for address in addresses:
        for match in _TOKEN_IN_ADDRESS.finditer(address[:2000]):
            found = verp.read(match.group(1))
            if found is not None:
                return found
    return None
