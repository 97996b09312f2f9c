"""Take credentials (and, for logs, addresses) out of text before anyone sees it."""

from __future__ import annotations

import re

__all__ = ["mask_credentials", "mask_url", "redact"]

MASK = "***"
ADDRESS_MARK = "<address>"

# A URL with a password: `scheme://user:password@host`. Parsers disagree on where the
# password ends (SQLAlchemy takes "/" in it, urllib does not), so the mask runs to the
# last "@" that is followed by a host: masking too much is safe, too little is not.
_AUTHORITY = (
    r"(?P<url>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/?#\s]*):(?P<password>\S*)"
    r"@(?P<host>[^\s@/?#]*)(?=[/?#\s]|$)"
)
# An address: a dot-atom or quoted local part (any script: RFC 6531), a domain of labels in
# any script (IDN) or an address literal. It starts after a character that cannot be in
# it; "/", "=" and "?" (legal, and never seen in real addresses) end it, so that
# `?email=ana@example.org` is caught, and a URL's `//user@host` is not taken for one.
_LOCAL_CHARS = r"\w.!#$%&'*+^`{|}~\-"
_ADDRESS = (
    rf"(?<![{_LOCAL_CHARS}])(?<!//)(?:\"[^\"\r\n]{{1,64}}\"|[{_LOCAL_CHARS}]+)"
    r"@(?:\[[^\]\s]{1,64}\]|[\w\-]+(?:[.\u3002\uff0e\uff61][\w\-]+)+)"
)
_URL_OR_ADDRESS = re.compile(rf"{_AUTHORITY}|(?P<address>{_ADDRESS})")
_AUTHORITY_ONLY = re.compile(_AUTHORITY)
# `password=...` in libpq strings, query strings and keyword reprs; `'password': '...'`.
_KEYED = re.compile(
    r"(?i)(?P<key>\b(?:password|passwd|pwd|secret(?:_key)?|api[_-]?key|access[_-]?token)"
    r"[\"']?\s*[=:]\s*)(?P<quote>[\"']?)(?P<value>[^\s\"'&;,)}]+)"
)


def _masked_authority(match: re.Match[str], *, addresses: bool) -> str:
    user = match.group("user")
    if addresses and "@" in user:
        user = ADDRESS_MARK  # an address as the user name (IMAP, SMTP submission)
    return f"{match.group('url')}{user}:{MASK}@{match.group('host')}"


def _keyed(match: re.Match[str]) -> str:
    return f"{match.group('key')}{match.group('quote')}{MASK}"


def mask_credentials(text: str) -> str:
    """`text` with every password in a URL (`scheme://user:***@host`) and every
    `password=...` value masked; addresses are kept (the admin may have typed them)."""
    if "://" in text and "@" in text:
        text = _AUTHORITY_ONLY.sub(lambda m: _masked_authority(m, addresses=False), text)
    return _KEYED.sub(_keyed, text) if "=" in text or ":" in text else text


def mask_url(url: str) -> str:
    """A URL fit to print: its password masked."""
    return mask_credentials(url)


def redact(text: str) -> str:
    """For logs: credentials masked and every address replaced by `<address>`."""
    if "@" in text:
        text = _URL_OR_ADDRESS.sub(
            lambda m: _masked_authority(m, addresses=True) if m.group("url") else ADDRESS_MARK,
            text,
        )
    return _KEYED.sub(_keyed, text) if "=" in text or ":" in text else text
