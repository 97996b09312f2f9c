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
    """ASCII, lower-case, dash-separated; cut on a word boundary at `limit` characters."""
    text = re.sub(r"[’'`]", " ", text)
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > limit:
        slug = slug[:limit].rsplit("-", 1)[0]
    return slug or "statement"
