"""The global suppression list: keyed hashes of addresses that must never be mailed again."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable

from sqlalchemy import String, and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from mailer.store.among import among, dialect_of
from mailer.store.models import Meta, Suppression
from mailer.subscribers.validate import legacy_email_key

__all__ = [
    "address_hash",
    "hasher",
    "is_suppressed",
    "legacy_hash",
    "lift",
    "suppress",
    "suppressed",
]

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
    """HMAC-SHA256 of the address key: matches an address without storing it."""
    # One-shot OpenSSL HMAC: a million-row import hashes every new address.
    return hmac.digest(salt, email_key.encode("utf-8"), "sha256").hex()


def hasher(session: Session) -> bytes:
    """The salt to pass to `address_hash` (read once per database)."""
    return _salt(session)


def legacy_hash(salt: bytes, email_key: str) -> str | None:
    """The hash schema 0001 made of this address (from its case-folded form), when it differs."""
    legacy = legacy_email_key(email_key)
    return address_hash(salt, legacy) if legacy != email_key else None


# Reasons a person may lift by signing up again (they chose to leave) rank below the ones
# the address itself earned (dead, or a spam report): the graver reason is the one kept, so
# that an address that bounced after its owner unsubscribed is never mailed again.
_GRAVITY = {"unsubscribed": 1, "erased": 1, "bounced": 2, "complained": 3}


def suppress(session: Session, email_key: str, reason: str) -> None:
    """Add an address to the list (idempotent; a graver reason replaces a lighter one)."""
    digest = address_hash(_salt(session), email_key)
    row = session.get(Suppression, digest)
    if row is None:
        session.add(Suppression(email_hash=digest, reason=reason, key_form="lower"))
        session.flush()
    elif _GRAVITY.get(reason, 0) > _GRAVITY.get(row.reason or "", 0):
        row.reason = reason
        session.flush()


def suppressed(session: Session, pairs: Iterable[tuple[str, str | None]]) -> set[str]:
    """Which of (hash, legacy hash) pairs are suppressed, as the set of their first hashes.

    A legacy hash (`legacy_hash`) matches only rows of schema 0001 (`key_form` NULL): a
    row made since from `strasse@` must not keep out `straße@`, while a row of before,
    made from the case-folded form of either, keeps out both."""
    current: set[str] = set()
    legacy: dict[str, set[str]] = {}
    for digest, old in pairs:
        current.add(digest)
        if old is not None:
            legacy.setdefault(old, set()).add(digest)
    if not current:
        return set()
    dialect = dialect_of(session)
    condition = among(Suppression.email_hash, list(current), dialect, of=String)
    if legacy:
        condition = or_(
            condition,
            and_(
                among(Suppression.email_hash, list(legacy), dialect, of=String),
                Suppression.key_form.is_(None),
            ),
        )
    refused: set[str] = set()
    for found, form in session.execute(
        select(Suppression.email_hash, Suppression.key_form).where(condition)
    ):
        if found in current:
            refused.add(found)
        if form is None:
            refused |= legacy.get(found, set())
    return refused


def is_suppressed(session: Session, email_key: str) -> str | None:
    """The reason an address is suppressed, or None."""
    salt = _salt(session)
    digest = address_hash(salt, email_key)
    old = legacy_hash(salt, email_key)
    condition: ColumnElement[bool] = Suppression.email_hash == digest
    if old is not None:
        condition = or_(
            condition, and_(Suppression.email_hash == old, Suppression.key_form.is_(None))
        )
    return session.scalars(select(Suppression.reason).where(condition)).first()


def lift(session: Session, email_key: str) -> str | None:
    """Take an address off the list (a resubscription the person asked for); returns the
    reason it was on it, or None.

    An entry of schema 0001 (`key_form` NULL) was made from the case-folded address and keeps
    out every spelling with that folding (`straße@` and `strasse@`): it is replaced by an
    entry for the folded spelling alone, so that lifting one person never lets another in."""
    salt = _salt(session)
    reason = None
    current = session.get(Suppression, address_hash(salt, email_key))
    if current is not None:
        reason = current.reason
        session.delete(current)
    old = legacy_hash(salt, email_key)
    legacy = session.get(Suppression, old) if old is not None else None
    if legacy is not None and legacy.key_form is None:
        reason = reason or legacy.reason
        session.delete(legacy)
        session.flush()
        suppress(session, legacy_email_key(email_key), legacy.reason)
    session.flush()
    return reason
