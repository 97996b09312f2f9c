"""Addresses keep their domain in one form, Unicode: `victim@xn--exmple-cua.org` and
`victim@exämple.org` are one person.

Revision ID: 0008
Revises: 0007

Before, an address typed with a punycode (`xn--`) domain was stored as typed, so the same
mailbox written the two ways was two people: a complaint under one form did not keep out
a signup under the other. From here `normalise_email` gives the Unicode form; this
migration rewrites the subscribers stored with a punycode domain the same way (the address,
its key and its keyed hash), and suppresses the new hash for the reason the old one had.
A row whose Unicode form another subscriber already has is left as it was (two rows of one
mailbox: the admin merges them). The conversion is written out here, not imported: a
migration must keep meaning what it meant when it was written.
"""

import hmac
import unicodedata

import idna
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _unicode(email: str) -> str | None:
    local, _, domain = email.rpartition("@")
    if not any(label.lower().startswith("xn--") for label in domain.split(".")):
        return None
    try:
        return f"{local}@{idna.decode(domain).lower()}"
    except idna.IDNAError:
        return None  # not valid punycode: kept as typed


def upgrade() -> None:
    connection = op.get_bind()
    salt_hex = connection.execute(
        sa.text("SELECT value FROM meta WHERE key = 'suppression_salt'")
    ).scalar()
    if salt_hex is None:
        return  # nothing was ever hashed: no subscriber
    salt = bytes.fromhex(salt_hex)
    rows = connection.execute(
        sa.text("SELECT id, email, email_hash FROM subscribers WHERE email LIKE '%xn--%'")
    ).all()
    for row_id, email, old_hash in rows:
        new_email = _unicode(email)
        if new_email is None:
            continue
        new_key = unicodedata.normalize("NFC", new_email).lower()
        taken = connection.execute(
            sa.text("SELECT 1 FROM subscribers WHERE email_key = :key"), {"key": new_key}
        ).scalar()
        if taken is not None:
            continue
        new_hash = hmac.digest(salt, new_key.encode("utf-8"), "sha256").hex()
        connection.execute(
            sa.text(
                "UPDATE subscribers SET email = :email, email_key = :key, email_hash = :hash "
                "WHERE id = :id"
            ),
            {"email": new_email, "key": new_key, "hash": new_hash, "id": row_id},
        )
        reason = connection.execute(
            sa.text("SELECT reason FROM suppressions WHERE email_hash = :hash"), {"hash": old_hash}
        ).scalar()
        known = connection.execute(
            sa.text("SELECT 1 FROM suppressions WHERE email_hash = :hash"), {"hash": new_hash}
        ).scalar()
        if reason is not None and known is None:
            connection.execute(
                sa.text(
                    "INSERT INTO suppressions (email_hash, reason, created_at, key_form) "
                    "VALUES (:hash, :reason, CURRENT_TIMESTAMP, 'lower')"
                ),
                {"hash": new_hash, "reason": reason},
            )


def downgrade() -> None:
    pass  # the Unicode form is a valid address: nothing to undo
