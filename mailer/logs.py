"""Logging set-up: text or JSON lines, and never an email address in them."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

__all__ = ["RedactAddresses", "configure_logging"]

_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


class RedactAddresses(logging.Filter):
    """Replace anything that looks like an address (SMTP replies quote them) by a marker.

    Records identify people by subscriber id (or a hash), never by address or name.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "@" in message:
            record.msg = _ADDRESS.sub("<address>", message)
            record.args = None
        return True


class _JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = _ADDRESS.sub("<address>", self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "WARNING", *, json_lines: bool = False) -> None:
    """One handler on stderr for the root logger, with the redaction filter on it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactAddresses())
    handler.setFormatter(
        _JSONFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
