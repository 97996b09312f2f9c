"""Address keys lower-cased instead of case-folded: `straße@` and `strasse@` are two people.

Revision ID: 0006
Revises: 0001

Schema 0001 keyed subscribers (and hashed the suppression list) by `address.casefold()`,
which merges addresses that differ by more than case (ß and ss, ﬁ and fi). From here the
key is `NFC(address).lower()`:
- subscribers whose key changes get the new key and the new keyed hash; when their old
  hash was suppressed, the new hash is suppressed too (same reason);
- suppression rows get `key_form`: NULL for the rows made before (a case-folded key, which
  imports still check, so that no address they kept out comes back), "lower" from now on.
The key function is written out here, not imported: a migration must keep meaning what it
meant when it was written.
"""

import hmac
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None


def _key(address: str) -> str:
    return unicodedata.normalize("NFC", address).lower()


def upgrade() -> None:
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_form", sa.String(length=16), nullable=True))
    connection = op.get_bind()
    salt_hex = connection.execute(
        sa.text("SELECT value FROM meta WHERE key = 'suppression_salt'")
    ).scalar()
    if salt_hex is None:
        return  # nothing was ever hashed: no subscriber, no suppression
    salt = bytes.fromhex(salt_hex)
    changed = []
    rows = connection.execute(
        sa.text("SELECT id, email, email_key, email_hash FROM subscribers"),
        execution_options={"yield_per": 10_000},
    )
    for row_id, email, old_key, old_hash in rows:
        new_key = _key(email)
        if new_key != old_key:
            new_hash = hmac.digest(salt, new_key.encode("utf-8"), "sha256").hex()
            changed.append((row_id, new_key, new_hash, old_hash))
    for row_id, new_key, new_hash, old_hash in changed:
        connection.execute(
            sa.text("UPDATE subscribers SET email_key = :key, email_hash = :hash WHERE id = :id"),
            {"key": new_key, "hash": new_hash, "id": row_id},
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
    with op.batch_alter_table("suppressions", schema=None) as batch_op:
        batch_op.drop_column("key_form")
