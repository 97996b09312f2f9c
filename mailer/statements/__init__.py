"""Statements: what an organisation publishes, parsed from files into one shape."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailer.exports import load_export

if TYPE_CHECKING:
    from mailer.statements.model import Block, CallToAction, Statement
    from mailer.statements.parse import parse_file, parse_text

__all__ = [
    "Block",
    "CallToAction",
    "Statement",
    "parse_file",
    "parse_text",
]

_EXPORTS = {
    "Block": "mailer.statements.model",
    "CallToAction": "mailer.statements.model",
    "Statement": "mailer.statements.model",
    "parse_file": "mailer.statements.parse",
    "parse_text": "mailer.statements.parse",
}


def __getattr__(name: str) -> object:
    return load_export(__name__, _EXPORTS, name)
