"""Look before sending: who would get what (a dry run), and every variant to one test address."""

from __future__ import annotations

import datetime as dt
import functools
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from mailer.campaigns.languages import sendable_group
from mailer.campaigns.personal import deliver, org_template, outgoing
from mailer.campaigns.plan import audience
from mailer.compose import Recipient
from mailer.errors import PermanentFailure, TemporaryFailure
from mailer.ledger import CampaignState
from mailer.render.variant import render_email
from mailer.runtime import Runtime
from mailer.statements.repository import load
from mailer.store.models import Campaign, Subscriber, utcnow
from mailer.transport.classify import Outcome, judge

__all__ = ["DryRun", "dry_run", "send_test"]

_SAMPLE = 3


@dataclass
class DryRun:
    """Counts per (locale, version), skip reasons, and a few recipients per locale."""

    sending: Counter[tuple[str, str]] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    held: int = 0
    samples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def as_json(self) -> dict[str, Any]:
        """The dry run as `--json` prints it."""
        return {
            "would_send": sum(self.sending.values()),
            "by_locale": [
                {
                    "locale": locale,
                    "version": version,
                    "count": count,
                    "sample": self.samples.get(locale, []),
                }
                for (locale, version), count in sorted(self.sending.items())
            ],
            "held": self.held,
            "skipped": dict(sorted(self.skipped.items())),
        }


def _transient(
    rt: Runtime, statement_id: str, segment: str | None, missing: str | None, again: bool
) -> Campaign:
    with rt.db.session() as session:
        statement = load(session, statement_id)
    return Campaign(
        id=0,
        kind="manual",
        statement_id=statement.id,
        translation_key=statement.translation_key,
        segment=segment,
        missing=missing or rt.org.missing,
        again=again,
        state=CampaignState.PLANNING,
        items=[],
        created_at=utcnow(),
    )


def dry_run(
    rt: Runtime,
    statement_id: str,
    *,
    segment: str | None = None,
    missing: str | None = None,
    again: bool = False,
    now: dt.datetime | None = None,
) -> DryRun:
    """What `mailer send` would do now, writing nothing."""
    campaign = _transient(rt, statement_id, segment, missing, again)
    result = DryRun()
    with rt.db.session() as session:
        for page in audience(session, campaign, rt.org, now=now or utcnow()):
            wanted = [
                sub_id for sub_id, d in page if d.send and len(result.samples[d.locale]) < _SAMPLE
            ]
            emails = (
                dict(
                    session.execute(
                        select(Subscriber.id, Subscriber.email).where(Subscriber.id.in_(wanted))
                    ).all()
                )
                if wanted
                else {}
            )
            for sub_id, decision in page:
                if decision.send:
                    result.sending[(decision.locale, decision.statement_id or "")] += 1
                    if sub_id in emails and len(result.samples[decision.locale]) < _SAMPLE:
                        result.samples[decision.locale].append(emails[sub_id])
                elif decision.hold:
                    result.held += 1
                else:
                    result.skipped[decision.reason or "skipped"] += 1
    return result


def send_test(
    rt: Runtime, statement_id: str, address: str, *, segment: str | None = None
) -> list[str]:
    """Send every variant of the group to one address, outside any campaign: each version in
    its own language, and each (locale, version) the audience would get (a fallback, a
    regional locale). Each is marked as a test ("[TEST]" subject, a banner) and its links
    lead to the public site, not to anybody's unsubscribe or preference page. Returns the
    variants sent as 'locale/version'."""
    plan = dry_run(rt, statement_id, segment=segment)
    with rt.db.session() as session:
        statement = load(session, statement_id)
        versions = {v.id: v for v in sendable_group(session, statement.translation_key, rt.org)}
    variants = sorted({(v.lang, v.id) for v in versions.values()} | set(plan.sending))
    messages = []
    for key, (locale, version) in enumerate(variants):
        variant = render_email("alert", versions[version], locale=locale, org=rt.org, test=True)
        template = org_template(rt, variant, locale=locale, campaign_id=0)
        messages.append(
            outgoing(
                rt,
                template,
                key=key,
                campaign_id=0,
                subscriber_id=0,
                email=address,
                recipient=functools.partial(_test_recipient, rt, address),
            )
        )
    replies = deliver(rt, messages)
    sent = []
    for key, (locale, version) in enumerate(variants):
        reply = replies[key]
        verdict = judge(reply)
        if verdict.outcome is not Outcome.SENT:
            failure = PermanentFailure if verdict.outcome is Outcome.PERMANENT else TemporaryFailure
            raise failure(
                f"{locale}/{version} to {address} not sent: {verdict.reason}: {reply}",
                code=reply.code,
                recipient=address,
            )
        sent.append(f"{locale}/{version}")
    return sent


def _test_recipient(rt: Runtime, address: str) -> Recipient:
    """A test send's links: the public site, marked; no token of anybody, campaign 0 included."""
    nowhere = f"{rt.org.website.rstrip('/')}/#test-email"
    return Recipient(
        email=address,
        name="",
        message_id=f"<test.{secrets.token_hex(12)}@{rt.org.list_id}>",
        unsubscribe_url=nowhere,
        unsubscribe_mailto=f"mailto:{rt.org.mailto_unsubscribe}?subject=test%20email",
        preferences_url=nowhere,
        view_url=nowhere,
    )
