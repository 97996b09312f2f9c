"""The report samples of tests/samples/bounces, filled in for a message that was really sent."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent / "samples" / "bounces"


@dataclass(frozen=True)
class Sent:
    """What a report needs to know of one sent message."""

    envelope_from: str  # the VERP envelope sender (or the plain bounce address)
    recipient: str
    message_id: str
    campaign: int


def sample(name: str, sent: Sent | None = None, *, recipient: str | None = None) -> bytes:
    """A sample with its placeholders filled (a stranger's report when `sent` is None)."""
    raw = (SAMPLES / name).read_bytes()
    values = {
        b"@@TO@@": (sent.envelope_from if sent else "bounces@example.org").encode(),
        b"@@RCPT@@": (recipient or (sent.recipient if sent else "stranger@example.net")).encode(),
        b"@@MSGID@@": (sent.message_id if sent else "<nobody.knows@example.com>").encode(),
        b"@@CAMPAIGN@@": str(sent.campaign if sent else 999).encode(),
    }
    for key, value in values.items():
        raw = raw.replace(key, value)
    return raw


def sent_messages(messages: list[tuple[str, str, bytes]]) -> dict[str, Sent]:
    """email -> Sent, from (envelope sender, recipient, message bytes) of what went out."""
    found: dict[str, Sent] = {}
    for envelope_from, recipient, data in messages:
        head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        message_id = re.search(r"(?im)^Message-ID:\s*(<[^>]+>)", head)
        campaign = re.search(r"(?im)^X-Mailer-Campaign:\s*(\d+)", head)
        assert message_id and campaign, head
        found[recipient.lower()] = Sent(
            envelope_from, recipient, message_id.group(1), int(campaign.group(1))
        )
    return found
