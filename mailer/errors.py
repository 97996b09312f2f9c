"""The one exception tree of mailer.

MailerError
├── ConfigError                 a setting or the organisation profile is wrong (exit 2)
├── InputError(ValueError)      a user's file or argument is wrong; carries file/line/field
│   ├── StatementError          a statement file cannot be parsed
│   ├── SubscriberRowError      a CSV row is invalid
│   └── InvalidAddress          an email address is invalid
├── NotFound(LookupError)       no statement, subscriber or campaign with that id
├── CampaignError               an operation a campaign's state does not allow
├── RenderError                 a template failed to render
└── DeliveryError               a message was not accepted; carries code, reply, recipient
    ├── TemporaryFailure        try again later (4xx, 552, timeouts, dropped connections)
    └── PermanentFailure        never retry (other 5xx)
"""

from __future__ import annotations

__all__ = [
    "CampaignError",
    "ConfigError",
    "DeliveryError",
    "InputError",
    "InvalidAddress",
    "MailerError",
    "NotFound",
    "PermanentFailure",
    "RenderError",
    "StatementError",
    "SubscriberRowError",
    "TemporaryFailure",
]


class MailerError(Exception):
    """Root of every error mailer raises on purpose."""


class ConfigError(MailerError):
    """A setting or the organisation profile is missing or wrong."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")


class InputError(MailerError, ValueError):
    """A user's input is wrong; says where (file, line, field) and what."""

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self.describe())

    def describe(self) -> str:
        """One line: `file:line: field: problem`, leaving out what is unknown."""
        where = ""
        if self.file:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [p for p in (where, self.field) if p]
        return ": ".join([*parts, self.problem])


class StatementError(InputError):
    """A statement file cannot be turned into a statement."""


class SubscriberRowError(InputError):
    """A subscriber row (CSV or command line) is invalid."""


class InvalidAddress(SubscriberRowError):
    """An email address is not valid."""


class NotFound(MailerError, LookupError):
    """No object with the given id."""

    def __init__(self, kind: str, ident: object) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"no {kind} {ident!r}")


class CampaignError(MailerError):
    """The campaign's state does not allow the operation."""


class RenderError(MailerError):
    """A template failed to render."""


class DeliveryError(MailerError):
    """The transport did not deliver a message; carries the SMTP reply when there is one."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        recipient: str | None = None,
        campaign: int | None = None,
    ) -> None:
        self.code = code
        self.recipient = recipient
        self.campaign = campaign
        self.reply = message
        super().__init__(f"{code} {message}" if code else message)


class TemporaryFailure(DeliveryError):
    """Delivery may succeed later: retry with backoff."""


class PermanentFailure(DeliveryError):
    """Delivery will never succeed: do not retry."""
