"""Addresses on the wire: the ASCII form of an internationalised address, when it has one.

RFC 5321 envelopes and RFC 5322 headers are ASCII. A domain in Unicode (IDN) has an ASCII
form, its A-label (RFC 5890, IDNA 2008), which every server takes. A local part in UTF-8
has none: only a server that offers SMTPUTF8 (RFC 6531) can take it, with the address in
UTF-8 in the envelope and in the headers (RFC 6532).
"""

from __future__ import annotations

import functools

__all__ = ["ascii_address", "needs_smtputf8"]


@functools.lru_cache(maxsize=4096)
def ascii_address(address: str) -> str | None:
    """The address with its domain as an A-label; None when the local part is not ASCII or the
    domain cannot be encoded."""
    if address.isascii():
        return address
    local, at, domain = address.rpartition("@")
    if not at or not local.isascii():
        return None
    try:
        import idna

        encoded = idna.encode(domain, uts46=True).decode("ascii")
    except (ImportError, UnicodeError, ValueError):
        try:
            encoded = domain.encode("idna").decode("ascii")  # IDNA 2003, the standard library's
        except UnicodeError:
            return None
    return f"{local}@{encoded}"


def needs_smtputf8(address: str) -> bool:
    """True when only an SMTPUTF8 server can take the address (its local part is not ASCII)."""
    return ascii_address(address) is None
