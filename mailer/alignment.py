"""DMARC identifier alignment (RFC 7489 3.1): does a DKIM signing domain speak for the From domain?

In relaxed mode, DMARC's default, a DKIM signature passes for the From address when the
Organizational Domains of the two are the same: the registrable domain, one label below its
public suffix (RFC 7489 3.2), found with the Public Suffix List (`publicsuffixlist` ships a
copy; no network). So `d=mail.example.org` aligns with `From: alerts@example.org`, and
`d=example.co.uk` does not align with `From: x@other.co.uk`.
"""

from __future__ import annotations

from functools import lru_cache

from publicsuffixlist import PublicSuffixList

__all__ = ["aligned", "organizational_domain"]


@lru_cache(maxsize=1)
def _list() -> PublicSuffixList:
    return PublicSuffixList()  # parsed once per process (about 10,000 rules)


def _ascii(domain: str) -> str:
    name = domain.strip().rstrip(".").lower()
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def organizational_domain(domain: str) -> str:
    """The registrable domain of `domain` (`mail.example.co.uk` -> `example.co.uk`); the domain
    itself when the list knows no suffix of it (`localhost`) or it is a public suffix."""
    name = _ascii(domain)
    found = _list().privatesuffix(name)
    return str(found) if found else name


def aligned(signing_domain: str, from_domain: str) -> bool:
    """True when DKIM `d=signing_domain` aligns with the From domain (relaxed mode)."""
    return organizational_domain(signing_domain) == organizational_domain(from_domain)
