"""The one scheme allow-list for every URL that reaches an email or a page: http, https, mailto."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

__all__ = ["ALLOWED_SCHEMES", "MAX_URL_LENGTH", "safe_url", "url_problem"]

ALLOWED_SCHEMES = ("https", "http", "mailto")
MAX_URL_LENGTH = 2048


def url_problem(url: object) -> str | None:
    """Why this URL may not appear in an email or page, or None when it may.

    Absolute http(s) URLs with a host (and no user part: `https://bank.example@evil.example`
    is a classic disguise) and mailto: URLs with an address; nothing else. Browsers drop
    tabs and line breaks inside URLs ("java\\nscript:"), so any whitespace, control or
    format character (bidi overrides) is refused rather than cleaned.
    """
    if not isinstance(url, str):
        return "must be text"
    text = url.strip()
    if not text:
        return "empty"
    if len(text) > MAX_URL_LENGTH:
        return f"longer than {MAX_URL_LENGTH} characters"
    for char in text:
        if char.isspace() or unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"}:
            return f"contains a space or control character (U+{ord(char):04X})"
    if "\\" in text:
        return "contains a backslash"
    scheme, colon, rest = text.partition(":")
    if not colon or not scheme:
        return "not an absolute URL: it must start with https://, http:// or mailto:"
    if scheme.lower() not in ALLOWED_SCHEMES:
        return f"scheme {scheme.lower()[:20]!r} not allowed (only https, http and mailto)"
    if scheme.lower() == "mailto":
        return None if "@" in rest else "mailto: without an address"
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number)
    except ValueError as exc:
        return f"malformed: {exc}"
    if not text[len(scheme) + 1 :].startswith("//") or not parts.hostname:
        return "no host: it must look like https://host/..."
    if "@" in parts.netloc:
        return "a user name before the host is not allowed"
    return None


def safe_url(url: object) -> str | None:
    """The URL, stripped, when `url_problem` finds nothing wrong with it; otherwise None."""
    if url_problem(url) is not None:
        return None
    assert isinstance(url, str)
    return url.strip()
