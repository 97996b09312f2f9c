"""Action-takers: who took which action (signed a petition, donated), for took("ACTION").

Revision ID: 0004
Revises: 0006
Create Date: 2026-12-01 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "action_takers",
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("action", "subscriber_id"),
    )
    with op.batch_alter_table("action_takers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_action_takers_subscriber_id"), ["subscriber_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("action_takers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_action_takers_subscriber_id"))
    op.drop_table("action_takers")
