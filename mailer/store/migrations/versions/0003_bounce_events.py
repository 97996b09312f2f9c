"""Bounces and complaints: the messages read from the bounce address and their events.

Revision ID: 0003
Revises: 0004
Create Date: 2026-12-01 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_reports",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("form", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=300), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_table(
        "bounce_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_digest", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("effect", sa.String(length=40), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("matched_by", sa.String(length=16), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("code", sa.Integer(), nullable=True),
        sa.Column("diagnostic", sa.Text(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("blame", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["report_digest"], ["inbound_reports.digest"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("bounce_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bounce_events_report_digest"), ["report_digest"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_bounce_events_recipient"), ["recipient"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_bounce_events_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            "ix_bounce_events_subscriber", ["subscriber_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_bounce_events_campaign", ["campaign_id", "kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bounce_events", schema=None) as batch_op:
        batch_op.drop_index("ix_bounce_events_campaign")
        batch_op.drop_index("ix_bounce_events_subscriber")
        batch_op.drop_index(batch_op.f("ix_bounce_events_created_at"))
        batch_op.drop_index(batch_op.f("ix_bounce_events_recipient"))
        batch_op.drop_index(batch_op.f("ix_bounce_events_report_digest"))
    op.drop_table("bounce_events")
    op.drop_table("inbound_reports")
