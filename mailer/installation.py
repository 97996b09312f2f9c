"""The installation id: made once per database, mixed into tokens and Message-IDs."""

from __future__ import annotations

import secrets

from sqlalchemy.exc import IntegrityError

from mailer.store.db import Database
from mailer.store.models import Meta

__all__ = ["installation_id"]

_KEY = "installation_id"


def installation_id(db: Database) -> str:
    """This database's id, created on first use (processes starting together agree on one).

    Two installations that share a secret key (a copied `.env`, a default key) still make
    different Message-IDs and accept none of each other's tokens.
    """
    with db.session() as session:
        row = session.get(Meta, _KEY)
        if row is not None:
            return row.value
        try:
            with session.begin_nested():
                session.add(Meta(key=_KEY, value=secrets.token_hex(16)))
        except IntegrityError:
            pass  # another process made it first: use that one
        row = session.get(Meta, _KEY)
        assert row is not None
        return row.value
