"""Who gets an announcement and in which version: pure decisions, recorded on the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mailer.org import OrgProfile, chain_for
from mailer.statements.model import Statement
from mailer.subscribers.segment_parse import Contains, Empty, Flag, Node, Or

__all__ = [
    "ALREADY",
    "DIGEST",
    "NO_EMAIL",
    "Decision",
    "choose_version",
    "decide",
    "digest_decision",
    "digest_locale",
    "email_locale",
    "group_topics",
    "missing_language",
    "routing_conditions",
    "wanted_language",
]


@dataclass(frozen=True, slots=True)
class Decision:
    """Send this version in this locale, or skip for a reason."""

    send: bool
    locale: str
    statement_id: str | None
    version_lang: str | None
    reason: str | None = None
    hold: str | None = None  # the language whose translation the subscriber waits for


def group_topics(versions: Sequence[Statement]) -> frozenset[str]:
    """Every topic of every translation, case-folded."""
    return frozenset(t.casefold() for v in versions for t in v.topics)


def choose_version(locale: str | None, versions: Sequence[Statement], org: OrgProfile) -> Statement:
    """The first version along the subscriber's chain; else the default locale's; else the first.

    `versions` must be sorted (by language) so the last resort is deterministic.
    """
    by_lang = {v.lang: v for v in versions}
    for code in chain_for(org, locale):
        if code in by_lang:
            return by_lang[code]
        language = code.split("_")[0]
        for lang, version in by_lang.items():
            if lang.split("_")[0] == language:
                return version
    return versions[0]


def email_locale(subscriber_locale: str | None, version: Statement) -> str:
    """The locale the email is written in: the subscriber's own when it is the version's language
    (so fr_BE keeps Belgian dates and wording), else the version's."""
    if subscriber_locale and subscriber_locale.split("_")[0] == version.lang.split("_")[0]:
        return subscriber_locale
    return version.lang


def routing_conditions(versions: Sequence[Statement]) -> tuple[Node, Node]:
    """Alert routing as segment expressions: (wants alerts, topic in common or none chosen)."""
    topics = sorted(group_topics(versions))
    wants = Flag("alerts", 0)
    matches: Node = Or((Empty("topics", False, 0), *(Contains("topics", t, 0) for t in topics)))
    return wants, matches


def audience_reason(status: str, *, suppressed: bool, in_segment: bool) -> str | None:
    """Why someone is out of any campaign's audience, before its own routing; None if in."""
    if status != "subscribed":
        return "pending confirmation" if status == "pending" else status
    if suppressed:
        return "suppressed"
    if not in_segment:
        return "not in segment"
    return None


# The reasons of the person's own choices, which no segment overrides.
NO_EMAIL = "no emails for now"
ALREADY = "already received"


def decide(
    *,
    status: str,
    suppressed: bool,
    in_segment: bool,
    wants_alerts: bool,
    topic_match: bool,
    locale: str | None,
    versions: Sequence[Statement],
    org: OrgProfile,
    routed: bool,
    wait: bool = False,
    alert_pref: str = "alerts",
    received: bool = False,
) -> Decision:
    """Send, hold (wait for a translation), or skip with the first reason that applies.

    A person's own "no emails for now" wins over any segment; one who already received a
    campaign of the group is skipped unless the campaign is sent `--again` (`received`
    is then False)."""
    version = choose_version(locale, versions, org)
    email_lang = email_locale(locale, version)
    reason = audience_reason(status, suppressed=suppressed, in_segment=in_segment)
    if reason is None and alert_pref == "none":
        reason = NO_EMAIL
    elif reason is None and received:
        reason = ALREADY
    if reason is None and routed:
        if not wants_alerts:
            reason = "alerts off"
        elif not topic_match:
            reason = "topic mismatch"
    if reason:
        return Decision(False, email_lang, version.id, version.lang, reason)
    missing = missing_language(locale, versions, org) if wait else None
    if missing:
        wanted = locale if locale and locale.split("_")[0] == missing else missing
        return Decision(
            False,
            wanted,
            version.id,
            version.lang,
            f"waiting for the {missing} translation",
            missing,
        )
    return Decision(True, email_lang, version.id, version.lang)


def wanted_language(locale: str | None, org: OrgProfile) -> str:
    """The first language of the subscriber's chain that the organisation publishes in."""
    supported = {code.split("_")[0] for code in org.locales}
    for code in chain_for(org, locale):
        if code.split("_")[0] in supported:
            return code.split("_")[0]
    return org.default_locale.split("_")[0]


def missing_language(
    locale: str | None, versions: Sequence[Statement], org: OrgProfile
) -> str | None:
    """The subscriber's language when the announcement has no version in it yet, else None."""
    wanted = wanted_language(locale, org)
    return None if any(v.lang.split("_")[0] == wanted for v in versions) else wanted


def digest_locale(locale: str | None, org: OrgProfile) -> str:
    """The digest's language: the subscriber's own locale when the organisation publishes in its
    language, else the first such language of their chain."""
    wanted = wanted_language(locale, org)
    return locale if locale and locale.split("_")[0] == wanted else wanted


def digest_decision(
    *,
    status: str,
    suppressed: bool,
    in_segment: bool,
    wants: bool,
    locale: str | None,
    org: OrgProfile,
) -> Decision:
    """Who gets the weekly digest: subscribed people who want alerts or the digest."""
    email_lang = digest_locale(locale, org)
    reason = audience_reason(status, suppressed=suppressed, in_segment=in_segment)
    if reason is None and not wants:
        reason = "no email wanted"
    return Decision(reason is None, email_lang, DIGEST, email_lang.split("_")[0], reason)


DIGEST = (
    "digest"  # the statement id a digest's ledger rows carry: their content is the campaign's items
)
