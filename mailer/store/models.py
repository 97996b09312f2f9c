"""The tables: statements, subscribers, campaigns and the delivery ledger (one row per campaign and subscriber)."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from mailer.store.types import UTCDateTime, utcnow

__all__ = [
    "ActionTaker",
    "Base",
    "BounceEvent",
    "Campaign",
    "Delivery",
    "InboundReport",
    "Meta",
    "Segment",
    "StatementRow",
    "Subscriber",
    "Suppression",
    "UTCDateTime",
    "utcnow",
]


class Base(DeclarativeBase):
    """Declarative base; JSON columns hold lists and small mappings."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class StatementRow(Base):
    """A statement in one language; translations share translation_key."""

    __tablename__ = "statements"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    lang: Mapped[str] = mapped_column(String(20))
    translation_key: Mapped[str] = mapped_column(String(200), index=True)
    title: Mapped[str] = mapped_column(Text)
    lead: Mapped[str] = mapped_column(Text)
    blocks: Mapped[list[Any]] = mapped_column(JSON)
    topics: Mapped[list[Any]] = mapped_column(JSON, default=list)
    countries: Mapped[list[Any]] = mapped_column(JSON, default=list)
    urgency: Mapped[str] = mapped_column(String(16), default="alert")
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    url: Mapped[str | None] = mapped_column(Text)
    date: Mapped[dt.date | None] = mapped_column(Date)
    cta: Mapped[list[Any]] = mapped_column(JSON, default=list)
    source: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)


class Subscriber(Base):
    """A person who asked for mail: address, language, interests, consent and status."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    # The address lower-cased (never case-folded: straße@ is not strasse@): one person per
    # address however a CRM capitalised it.
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    # Keyed hash of email_key, matched against the suppression list in SQL.
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    locale: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    topics: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # ";nso group;surveillance;": case-folded, delimited copies of topics and lists so
    # segment membership tests are one portable, parameterised LIKE on any database.
    topic_keys: Mapped[str] = mapped_column(Text, default="")
    list_keys: Mapped[str] = mapped_column(Text, default="")
    alert_pref: Mapped[str] = mapped_column(String(10), default="alerts")
    lists: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    consent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    consent_source: Mapped[str | None] = mapped_column(String(200))
    consent_method: Mapped[str | None] = mapped_column(String(32))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Campaign(Base):
    """One announcement (a translation group) sent to an audience."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    statement_id: Mapped[str] = mapped_column(String(200))
    translation_key: Mapped[str] = mapped_column(String(200), index=True)
    # Set for automatic alerts ("alert:<translation_key>") so a redelivered
    # announce task cannot create a second campaign for the same statement.
    dedupe_key: Mapped[str | None] = mapped_column(String(220), unique=True)
    segment: Mapped[str | None] = mapped_column(Text)
    # A digest's statements (translation keys, newest first); empty for other kinds.
    items: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # "fallback" (send the fallback language now) or "wait:SECONDS" (hold for a translation).
    missing: Mapped[str] = mapped_column(String(32), default="fallback")
    # True (`send --again`): people who already received a campaign of the group get it too.
    again: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A digest's period: statements published after `period_start`, up to `period_end`.
    period_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    period_end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="planning")
    note: Mapped[str | None] = mapped_column(Text)
    send_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Set when the ledger has a row for every subscriber: planning goes page by page, and
    # the first pages are being sent while the next are planned.
    planned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Delivery(Base):
    """The ledger: what happened to one campaign for one subscriber."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("campaign_id", "subscriber_id", name="uq_delivery_campaign_subscriber"),
        Index("ix_delivery_campaign_status", "campaign_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    locale: Mapped[str | None] = mapped_column(String(20))
    version_lang: Mapped[str | None] = mapped_column(String(20))
    statement_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reason: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[str | None] = mapped_column(String(250))
    last_reply: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    hold_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # When the row was last put on the broker: the sweep re-queues rows whose batch was lost.
    queued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ActionTaker(Base):
    """Who took an action (signed a petition, donated): one row per action and subscriber."""

    __tablename__ = "action_takers"

    # The action's name, spaces collapsed and case-folded ("petition-nso").
    action: Mapped[str] = mapped_column(String(100), primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    taken_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Suppression(Base):
    """The global do-not-mail list, by keyed hash of the address (so erasure keeps no address)."""

    __tablename__ = "suppressions"

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What the hash was made from: "lower" (the address lower-cased), or NULL for rows of
    # schema 0001, made from the case-folded address (migration 0006).
    key_form: Mapped[str | None] = mapped_column(String(16))


class Segment(Base):
    """A saved segment expression."""

    __tablename__ = "segments"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    expression: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Meta(Base):
    """Installation-wide values that must outlive key rotation (the suppression hash salt)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class InboundReport(Base):
    """One message read from the bounce address (DSN, ARF, auto-reply, unsubscribe, other):
    its digest makes reading the same message twice change nothing."""

    __tablename__ = "inbound_reports"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the bytes read
    source: Mapped[str] = mapped_column(String(16))  # "inbound" (stdin) or "mailbox" (IMAP)
    form: Mapped[str] = mapped_column(String(40))
    # The one line printed when it was read; it names no address.
    outcome: Mapped[str] = mapped_column(String(300))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class BounceEvent(Base):
    """What a report said about one recipient, and what it did (the ledger is left as it was)."""

    __tablename__ = "bounce_events"
    __table_args__ = (
        Index("ix_bounce_events_subscriber", "subscriber_id", "created_at"),
        Index("ix_bounce_events_campaign", "campaign_id", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_digest: Mapped[str] = mapped_column(
        ForeignKey("inbound_reports.digest", ondelete="CASCADE"), index=True
    )
    # So that a report and its events go to the database in one flush, the report first.
    report: Mapped[InboundReport] = relationship()
    # hard, soft, policy, complaint, auto-reply, delivered, unsubscribe, other
    kind: Mapped[str] = mapped_column(String(16))
    # What it did: bounced, complained, unsubscribed, counted, or nothing.
    effect: Mapped[str] = mapped_column(String(40))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE")
    )
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    matched_by: Mapped[str | None] = mapped_column(String(16))  # verp, message-id, address
    # The address the report names, kept only when it matched nobody (so it can be listed);
    # erased with the person by `forget`.
    recipient: Mapped[str | None] = mapped_column(String(320), index=True)
    status: Mapped[str | None] = mapped_column(String(16))
    code: Mapped[int | None] = mapped_column(Integer)
    diagnostic: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(200), default="")
    blame: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
