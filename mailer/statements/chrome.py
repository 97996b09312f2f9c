"""Recognise the site chrome a copied press release drags along: navigation, copyright, credits."""

from __future__ import annotations

import re

__all__ = ["is_chrome_line", "strip_trailing_chrome"]

# Legal and credit lines, in the languages of the organisations we serve.
_LEGAL = re.compile(
    r"©|\(c\)\s*\d{4}|copyright|all rights reserved|tous droits réservés|alle rechten"
    r"|alle rechte|n°\s*bce|\bkbo\b|\bbtw\b|\bvat\b|vie privée|privacy|datenschutz|impressum"
    r"|cookies?\b|made by|powered by|réalisé par|crédits|credits|mentions légales"
    r"|^\s*(19|20)\d{2}\s*[-–—|]",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?…:;»\"”“)]\s*$")


def is_chrome_line(line: str) -> bool:
    """A legal/credit line, or a short navigation label (a few words, no sentence punctuation)."""
    text = line.strip()
    if not text:
        return False
    if _LEGAL.search(text):
        return True
    words = text.split()
    return len(words) <= 5 and len(text) <= 40 and not _SENTENCE_END.search(text)


def strip_trailing_chrome(lines: list[str]) -> list[str]:
    """Drop the run of chrome lines (and blank lines) at the end of a document."""
    end = len(lines)
    while end > 0 and (not lines[end - 1].strip() or is_chrome_line(lines[end - 1])):
        end -= 1
    return lines[:end]
