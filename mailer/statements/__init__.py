"""Statements: what an organisation publishes, parsed from files into one shape."""

from mailer.statements.model import Block, CallToAction, Statement
from mailer.statements.parse import parse_file, parse_text

__all__ = ["Block", "CallToAction", "Statement", "parse_file", "parse_text"]
