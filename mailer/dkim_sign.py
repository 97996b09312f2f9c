"""DKIM-sign composed messages (RFC 6376) with dkimpy, last, over the headers receivers check."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["SIGNED_HEADERS", "Signer"]

SIGNED_HEADERS = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"List-Id",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"Feedback-ID",
    b"MIME-Version",
    b"Content-Type",
)


@dataclass(frozen=True)
class Signer:
    """Signs with one selector, domain and private key."""

    selector: str
    domain: str
    key: bytes

    @classmethod
    def from_file(cls, selector: str, domain: str, key_file: Path) -> Signer:
        """Read the PEM key once."""
        return cls(selector, domain, key_file.read_bytes())

    def sign(self, message: bytes) -> bytes:
        """The message with a DKIM-Signature header in front (relaxed/relaxed, rsa-sha256)."""
        import dkim

        present = [
            h
            for h in SIGNED_HEADERS
            if b"\r\n" + h + b":" in b"\r\n" + message.split(b"\r\n\r\n", 1)[0]
        ]
        header = dkim.sign(
            message,
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self.key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=present,
            linesep=b"\r\n",
        )
        return bytes(header) + message
