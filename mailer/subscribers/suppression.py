"""The global suppression list: keyed hashes of addresses that must never be mailed again."""

from __future__ import annotations

import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailer.store.models import Meta, Suppression

__all__ = ["address_hash", "hasher", "is_suppressed", "suppress"]

_SALT_KEY = "suppression_salt"
_salts: dict[str, bytes] = {}


def _salt(session: Session) -> bytes:
    # Kept in the database, not derived from MAILER_SECRET_KEY: rotating the secret
    # must not forget who asked never to be mailed again.
    bound = session.get_bind()
    engine = getattr(bound, "engine", bound)  # a session bound to one connection too
    bind = str(getattr(engine, "url", id(engine)))
    cached = _salts.get(bind)
    if cached is not None:
        return cached
    row = session.get(Meta, _SALT_KEY)
    if row is None:
        try:
            with session.begin_nested():
                session.add(Meta(key=_SALT_KEY, value=secrets.token_hex(32)))
        except IntegrityError:
            pass
        row = session.get(Meta, _SALT_KEY)
        assert row is not None
    _salts[bind] = bytes.fromhex(row.value)
    return _salts[bind]


def address_hash(salt: bytes, email_key: str) -> str:
    """HMAC-SHA256 of the case-folded address: matches an address without storing it."""
    # One-shot OpenSSL HMAC: a million-row import hashes every new address.
    return hmac.digest(salt, email_key.encode("utf-8"), "sha256").hex()


def hasher(session: Session) -> bytes:
    """The salt to pass to `address_hash` (read once per database)."""
    return _salt(session)


def suppress(session: Session, email_key: str, reason: str) -> None:
    """Add an address to the list (idempotent; the first reason is kept)."""
    digest = address_hash(_salt(session), email_key)
    if session.get(Suppression, digest) is None:
        session.add(Suppression(email_hash=digest, reason=reason))
        session.flush()


def is_suppressed(session: Session, email_key: str) -> str | None:
    """The reason an address is suppressed, or None."""
    digest = address_hash(_salt(session), email_key)
    return session.scalars(
        select(Suppression.reason).where(Suppression.email_hash == digest)
    ).first()
