"""The Statement value: id, language, translation group, title, lead, body blocks, targeting, CTAs."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["BLOCK_KINDS", "URGENCIES", "Block", "CallToAction", "Statement", "slugify"]

BlockKind = Literal["paragraph", "quote", "heading", "list_item"]
BLOCK_KINDS: tuple[str, ...] = ("paragraph", "quote", "heading", "list_item")
URGENCIES: tuple[str, ...] = ("alert", "news")


@dataclass(frozen=True, slots=True)
class Block:
    """One block of the body: plain text for the text part, safe inline HTML for the HTML part."""

    kind: BlockKind
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class CallToAction:
    """A button: what it asks (petition, donate, share, ...), its label and target."""

    kind: str
    url: str
    label: str | None = None


@dataclass(frozen=True, slots=True)
class Statement:
    """A published statement in one language; translations share `translation_key`."""

    id: str
    lang: str
    translation_key: str
    title: str
    lead: str
    blocks: tuple[Block, ...]
    topics: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    urgency: str = "alert"
    urgent: bool = False
    url: str | None = None
    date: dt.date | None = None
    cta: tuple[CallToAction, ...] = field(default_factory=tuple)
    source: str | None = None


def slugify(text: str, *, limit: int = 60) -> str:
    """ASCII, lower-case, dash-separated, at most `limit` characters, cut between two words.

    A word is what spaces separate: "d’exportation" and "Tel-Aviv" are one word each, so
    a cut never leaves "…-licence-d" behind. A text without spaces (a key already slugified)
    is cut at its last dash within the limit."""
    words = []
    for word in text.split():
        joined = re.sub(r"[’'`]", "-", word)
        ascii_word = unicodedata.normalize("NFKD", joined).encode("ascii", "ignore").decode("ascii")
        piece = re.sub(r"[^a-z0-9]+", "-", ascii_word.lower()).strip("-")
        if piece:
            words.append(piece)
    slug = ""
    for piece in words:
        longer = f"{slug}-{piece}" if slug else piece
        if len(longer) > limit:
            break
        slug = longer
    if not slug and words:  # the first word alone is too long
        slug = words[0][:limit].rsplit("-", 1)[0] if "-" in words[0][:limit] else words[0][:limit]
    return slug.strip("-") or "statement"
