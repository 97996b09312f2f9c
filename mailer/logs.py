"""Logging set-up: text or JSON lines, and never an email address or a credential in them."""

from __future__ import annotations

import json
import logging
import sys
import time

from mailer.redact import redact

__all__ = ["RedactAddresses", "RedactingFormatter", "configure_logging"]


class RedactAddresses(logging.Filter):
    """Replace anything that looks like an address (SMTP replies quote them), in any script,
    by a marker, and mask credentials (URLs with passwords); for handlers mailer did not make.

    Records identify people by subscriber id (or a hash), never by address or name.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


class RedactingFormatter(logging.Formatter):
    """A text formatter whose whole output is redacted: the message, and the traceback and
    stack too (an exception's text quotes addresses and connection URLs)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "WARNING", *, json_lines: bool = False) -> None:
    """One handler on stderr for the root logger, every line of it redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactAddresses())
    handler.setFormatter(
        _JSONFormatter()
        if json_lines
        else RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
