"""The quality gate: every template x locale, scored by SpamAssassin with local rules only."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from mailer.org import load_profile
from mailer.quality import FORBIDDEN_RULES, problems, spam_score
from mailer.render import render_email
from mailer.render.variant import RenderedEmail, render_confirmation, render_digest
from mailer.statements import parse_file
from tests.conftest import EXAMPLES
from tests.messages import sample_message

ORG = load_profile(EXAMPLES / "mailer.toml")
STATEMENTS = {p.name.split(".")[1]: parse_file(p) for p in (EXAMPLES / "statements").iterdir()}
HAVE_SPAMASSASSIN = shutil.which("spamassassin") is not None
needs_spamassassin = pytest.mark.skipif(
    not HAVE_SPAMASSASSIN and os.environ.get("CI") != "true",
    reason="spamassassin is not installed (make test installs it when it can: apt-get install spamassassin)",
)


def _variants() -> list[tuple[str, str, RenderedEmail]]:
    out = []
    for locale in ORG.locales:
        out.append(
            ("alert", locale, render_email("alert", STATEMENTS[locale], locale=locale, org=ORG))
        )
        news = [STATEMENTS[locale], STATEMENTS["fr"]]
        out.append(
            (
                "digest",
                locale,
                render_digest(
                    news,
                    locale=locale,
                    org=ORG,
                    since=dt.date(2024, 7, 8),
                    until=dt.date(2024, 7, 15),
                ),
            )
        )
        out.append(("confirm", locale, render_confirmation(locale=locale, org=ORG)))
    return out


def _compose(kind: str, variant: RenderedEmail) -> bytes:
    return sample_message(variant)


MESSAGES = [(kind, locale, _compose(kind, variant)) for kind, locale, variant in _variants()]


@pytest.mark.parametrize(
    ("kind", "locale", "raw"), MESSAGES, ids=[f"{k}-{loc}" for k, loc, _ in MESSAGES]
)
def test_structure(kind: str, locale: str, raw: bytes) -> None:
    assert problems(raw, list_mail=kind != "confirm") == []


@needs_spamassassin
def test_spamassassin_scores_every_template_and_locale_at_or_below_zero() -> None:
    assert HAVE_SPAMASSASSIN, "CI must have spamassassin: make test installs it"
    with ThreadPoolExecutor(max_workers=2) as pool:
        scores = list(pool.map(lambda m: spam_score(m[2]), MESSAGES))
    failures = []
    for (kind, locale, _), score in zip(MESSAGES, scores, strict=True):
        bad = [r for r in score.rules if FORBIDDEN_RULES.match(r)]
        if score.score > 0.0 or bad:
            failures.append(f"{kind}/{locale}: score {score.score} rules {score.rules}")
    assert not failures, "\n".join(failures)


def _broken() -> bytes:
    """A deliberately broken template's output: HTML only, a script, a remote image without alt."""
    return (
        b"From: a@example.org\r\nTo: b@example.org\r\nSubject: BUY NOW\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b'<html><body><script>track()</script><img src="https://tracker.example.com/p.gif">'
        b"<p>Click</p></body></html>\r\n"
    )


def test_the_gate_fails_a_broken_template() -> None:
    found = problems(_broken())
    for expected in (
        "header List-Id missing",
        "no text/plain part",
        "the HTML has a script",
        "the HTML loads an external resource",
        "an image has no alt text",
    ):
        assert expected in found


@needs_spamassassin
def test_spamassassin_flags_a_broken_template() -> None:
    score = spam_score(_broken())
    assert any(FORBIDDEN_RULES.match(r) for r in score.rules), score
