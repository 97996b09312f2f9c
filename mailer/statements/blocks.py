"""Turn the chunks of a press release (paragraphs with optional hints) into topics and body blocks."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from mailer.statements.model import Block, BlockKind

__all__ = ["Chunk", "classify", "topic_from_tag"]

_QUOTE_OPENERS = ("«", "“", "„", '"', "‹", "‘")
_SENTENCE_END = re.compile(r"[.!?…:;»\"”“]\s*$")
_SMALL_WORDS = {
    "a",
    "au",
    "aux",
    "de",
    "des",
    "du",
    "en",
    "et",
    "la",
    "le",
    "les",
    "of",
    "the",
    "and",
    "for",
    "in",
    "on",
    "to",
    "van",
    "het",
    "een",
    "der",
    "die",
    "das",
    "und",
    "von",
    "op",
}


@dataclass(frozen=True, slots=True)
class Chunk:
    """A paragraph of source text, with what the source format already says about it."""

    text: str
    hint: BlockKind | None = None
    html: str | None = None


def topic_from_tag(tag: str) -> str:
    """`NSO GROUP` -> `NSO Group`: short words stay acronyms, others get a capital."""
    words = []
    for index, word in enumerate(tag.split()):
        lower = word.lower()
        if index > 0 and lower in _SMALL_WORDS:
            words.append(lower)
        elif len(word) <= 3 and word.isalpha():
            words.append(word.upper())
        else:
            words.append(word[:1].upper() + word[1:].lower())
    return " ".join(words)


def _is_tag(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return (
        bool(letters)
        and all(c.isupper() for c in letters)
        and len(text) <= 60
        and len(text.split()) <= 6
        and "\n" not in text
    )


def _is_heading(text: str) -> bool:
    return (
        "\n" not in text
        and len(text) <= 80
        and len(text.split()) <= 10
        and not _SENTENCE_END.search(text)
        and not text.startswith(_QUOTE_OPENERS)
    )


def classify(chunks: list[Chunk]) -> tuple[list[str], list[Block]]:
    """Find the topic tag line (upper case, right after the title) and label every block."""
    topics: list[str] = []
    blocks: list[Block] = []
    for index, chunk in enumerate(chunks):
        text = " ".join(chunk.text.split())
        if not text:
            continue
        if index == 0 and chunk.hint is None and _is_tag(chunk.text.strip()):
            topics.append(topic_from_tag(text))
            continue
        kind: BlockKind
        if chunk.hint is not None:
            kind = chunk.hint
        elif text.startswith(_QUOTE_OPENERS):
            kind = "quote"
        elif _is_heading(text) and index < len(chunks) - 1:
            kind = "heading"
        else:
            kind = "paragraph"
        blocks.append(
            Block(kind=kind, text=text, html=chunk.html or html.escape(text, quote=False))
        )
    return topics, blocks
