"""Detect the language of a text with Lingua (its models ship in the wheel; nothing is downloaded)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = ["DETECTABLE", "detect_language"]

# The languages organisations publish in most; a bounded set keeps Lingua's memory
# low (~30 MB) and its answers sharp between close languages (nl/de/af).
DETECTABLE = (
    "ar",
    "ca",
    "da",
    "de",
    "el",
    "en",
    "es",
    "fa",
    "fi",
    "fr",
    "he",
    "hu",
    "it",
    "ja",
    "ko",
    "nl",
    "no",
    "pl",
    "pt",
    "ro",
    "ru",
    "sv",
    "tr",
    "uk",
    "ur",
    "zh",
)


@lru_cache(maxsize=1)
def _detector() -> Any:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = []
    for code in DETECTABLE:
        iso = getattr(IsoCode639_1, code.upper(), None)
        if iso is None:
            continue
        language = Language.from_iso_code_639_1(iso)
        if language is not None:
            languages.append(language)
    return LanguageDetectorBuilder.from_languages(*languages).build()


def detect_language(text: str) -> str | None:
    """The ISO 639-1 code of the text's language, or None when it cannot tell."""
    sample = text[:4000]
    if len(sample.strip()) < 20:
        return None
    language = _detector().detect_language_of(sample)
    if language is None:
        return None
    return str(language.iso_code_639_1.name).lower()
