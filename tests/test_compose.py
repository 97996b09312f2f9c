"""Composed messages: `build_data` is `build` dot-stuffed for SMTP DATA, whatever the dots."""

from __future__ import annotations

import random
import smtplib

import pytest

from mailer.compose import MessageTemplate, Recipient, build_template
from mailer.render.personalise import Slots, compile_template
from mailer.render.variant import RenderedEmail
from mailer.transport.base import Outgoing
from mailer.transport.factory import parse_smtp_url
from mailer.transport.smtp import SMTPConnection
from tests.messages import example_org
from tests.servers import SMTPServer

SLOTS = Slots.draw()
token = SLOTS.marker

# Dots where stuffing matters: a line that starts with one, a quoted-printable soft break that
# lands just before one (76 columns), a field slotted in at a line start, a body that ends on one.
DOTTED_TEXT = (
    f"{token('greeting')}\n"
    ".a line that starts with a dot\n"
    + "x" * 75
    + ".after a soft break\n"
    + "..two dots\n"
    + f"{token('unsubscribe_url')}\n"
    + "." * 200
    + "\n"
)
DOTTED_HTML = (
    "<p>" + "y" * 72 + ". . .</p>\n"
    f'<p>{token("greeting")}</p>\n.<a href="{token("view_url")}">.</a>\n'
    f'<a href="{token("unsubscribe_url")}">x</a>\n.\n'
)


def _template(text: str, html: str) -> MessageTemplate:
    variant = RenderedEmail(
        kind="alert",
        locale="fr",
        lang="fr",
        subject="Sujet",
        html=compile_template(html, html=True, slots=SLOTS),
        text=compile_template(text, html=False, slots=SLOTS),
        greeting_named=".Bonjour \x00,",
        greeting_plain=".Bonjour,",
    )
    org = example_org()
    return build_template(
        variant,
        sender_name=org.sender_name("fr"),
        sender_address=org.from_address,
        envelope_from=org.envelope_from,
        list_name=org.name,
        list_id=org.list_id,
        campaign_id=4,
    )


def _recipient(name: str, link: str) -> Recipient:
    return Recipient(
        email="sam@example.net",
        name=name,
        message_id="<4.abc@example.org>",
        unsubscribe_url=link,
        unsubscribe_mailto="mailto:u@example.org?subject=unsubscribe",
        preferences_url=link,
        view_url=link,
    )


RECIPIENTS = [
    _recipient("Sam", "https://mail.example.org/u/abc"),
    _recipient(".Dot", ".leading/dot"),
    _recipient("Zoë ." + "é" * 30, "." * 90),  # encoded name; a link folded onto dotted lines
    _recipient("", ""),
]


@pytest.mark.parametrize("recipient", RECIPIENTS)
@pytest.mark.parametrize(
    ("text", "html"), [(DOTTED_TEXT, DOTTED_HTML), ("plain\n", "<p>plain</p>\n")]
)
def test_build_data_is_the_message_stuffed_as_smtplib_would(
    recipient: Recipient, text: str, html: str
) -> None:
    template = _template(text, html)
    message = template.build(recipient, date="Mon, 30 Nov 2026 12:00:00 +0000")
    data = template.build_data(recipient, date="Mon, 30 Nov 2026 12:00:00 +0000")
    # smtplib's own stuffing (a regular expression over the whole message) as the reference.
    expected = smtplib._quote_periods(message) + b".\r\n"  # type: ignore[attr-defined]
    assert data == expected
    if text is DOTTED_TEXT:
        assert b"\r\n.." in data  # the cases above did need stuffing


def test_stuffed_data_arrives_as_built(smtp_server: SMTPServer) -> None:
    template = _template(DOTTED_TEXT, DOTTED_HTML)
    items = [
        Outgoing(
            index,
            template.envelope_from,
            f"r{index}@example.org",
            lambda r=recipient: template.build(r, date="Mon, 30 Nov 2026 12:00:00 +0000"),
            lambda r=recipient: template.build_data(r, date="Mon, 30 Nov 2026 12:00:00 +0000"),
        )
        for index, recipient in enumerate(RECIPIENTS)
    ]
    transport = SMTPConnection(parse_smtp_url(smtp_server.url))
    outcomes = list(transport.send_many(items))
    transport.close()
    assert all(o.code == 250 for _, o in outcomes)
    received = [e.data for e in smtp_server.handler.received]
    # The server undoes the stuffing: what it stores is exactly the unstuffed message.
    assert received == [item.build() for item in items]


def test_quoted_printable_shortcut_matches_binascii() -> None:
    import binascii
    import random

    from mailer.compose import _qp

    generator = random.Random(8)
    alphabet = "ab. =\t\n\r?&/:_-é€\x00\x7f"
    values = ["", ".", "..", " ", "a ", "a\t", "=", "x" * 70, "x" * 77, "y" * 78 + ".", "Zoë,"]
    values += ["https://mail.example.org/u/MTIz.abcDEF-_", "Bonjour Person 12,"]
    values += [
        "".join(generator.choice(alphabet) for _ in range(generator.randrange(0, 90)))
        for _ in range(3000)
    ]
    for value in values:
        expected = binascii.b2a_qp(value.encode("utf-8"), istext=True).replace(b"\n", b"\r\n")
        assert _qp(value) == expected, value


def _random_template(generator: random.Random) -> tuple[MessageTemplate, str, str]:
    alphabet = "ab. =\t?&/:_-é€x" + "y" * 10
    text = "".join(generator.choice(alphabet + "\n") for _ in range(generator.randrange(0, 400)))
    html = "".join(generator.choice(alphabet) for _ in range(generator.randrange(0, 400)))
    text = text + f"{token('greeting')}" + text[:90] + f"{token('unsubscribe_url')}\n"
    html = html + f'<a href="{token("view_url")}">' + html[:120] + "</a>\n"
    return _template(text, html), text, html


def test_quoted_printable_lines_never_pass_76_characters() -> None:
    # RFC 2045 6.7 (5): a random body and random personal values, encoded piece by piece, must
    # never make a line of 77 or 78 characters where two pieces meet.
    import random
    from email import message_from_bytes, policy

    generator = random.Random(15)
    for _ in range(300):
        template, _, _ = _random_template(generator)
        link = "".join(generator.choice("ab.=é/") for _ in range(generator.randrange(0, 200)))
        recipient = _recipient("Zoë " + "é" * generator.randrange(0, 40), link)
        message = template.build(recipient, date="Mon, 30 Nov 2026 12:00:00 +0000")
        body = message.split(b"\r\n\r\n", 1)[1]
        longest = max(len(line) for line in body.split(b"\r\n"))
        assert longest <= 76, longest
        parsed = message_from_bytes(message, policy=policy.default)
        html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert link.replace("&", "&amp;") in html or link in html


def test_headers_carry_no_control_characters_and_long_subjects_are_folded() -> None:
    from email import message_from_bytes, policy

    variant = RenderedEmail(
        kind="alert",
        locale="en",
        lang="en",
        subject="Breaking\x00 news\x1b[31m\r\nBcc: victim@example.org " + "word " * 300,
        html=compile_template("<p>x</p>\n", html=True, slots=SLOTS),
        text=compile_template("x\n", html=False, slots=SLOTS),
        greeting_named="Hello \x00,",
        greeting_plain="Hello,",
    )
    org = example_org()
    template = build_template(
        variant,
        sender_name="Org\r\nBcc: x@example.org",
        sender_address=org.from_address,
        envelope_from=org.envelope_from,
        list_name=org.name,
        list_id=org.list_id,
        campaign_id=4,
    )
    recipient = Recipient(email="zoë@exämple.org", name="Zoë\x1b\x07", message_id="<m@x>")
    message = template.build(recipient, date="Mon, 30 Nov 2026 12:00:00 +0000")
    head = message.split(b"\r\n\r\n", 1)[0]
    assert not any(c in head for c in b"\x00\x1b\x07")
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))
    assert max(len(line) for line in head.split(b"\r\n") if line[:1] not in b" \t") <= 998
    parsed = message_from_bytes(message, policy=policy.default)
    assert parsed["Bcc"] is None
    assert str(parsed["Subject"]).startswith("Breaking  news [31m Bcc: victim@example.org word")
    assert str(parsed["Subject"]).count("word") == 300
    # A very long unbreakable title still makes a valid, folded header.
    long_word = RenderedEmail(
        kind="alert",
        locale="en",
        lang="en",
        subject="x" * 3000,
        html=variant.html,
        text=variant.text,
        greeting_named="Hello,",
        greeting_plain="Hello,",
    )
    other = build_template(
        long_word,
        sender_name="Org",
        sender_address=org.from_address,
        envelope_from=org.envelope_from,
        list_name=org.name,
        list_id=org.list_id,
        campaign_id=4,
    ).build(recipient, date="Mon, 30 Nov 2026 12:00:00 +0000")
    other_head = other.split(b"\r\n\r\n", 1)[0]
    subject = other_head.split(b"\r\nSubject: ", 1)[1].split(b"\r\n")
    folded = [b"Subject: " + subject[0]] + [line for line in subject[1:] if line[:1] == b" "]
    assert len(folded) > 40 and all(len(line) <= 78 for line in folded)  # RFC 5322 2.1.1
    assert str(message_from_bytes(other, policy=policy.default)["Subject"]) == "x" * 3000
    # The UTF-8 local part stays UTF-8 (it only travels with SMTPUTF8); the name is encoded.
    assert "zoë@exämple.org".encode() in head and b"Zo\xc3\xab\x1b" not in head
