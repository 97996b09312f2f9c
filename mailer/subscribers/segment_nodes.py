"""The nodes of a parsed segment expression (segment_parse makes them, segment_sql and the
planner read them)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "And",
    "Compare",
    "Contains",
    "Empty",
    "Flag",
    "InSet",
    "Literal",
    "Node",
    "Not",
    "Or",
    "Received",
    "Took",
]

Literal = str | int | bool


@dataclass(frozen=True, slots=True)
class Compare:
    field: str
    op: str
    value: Literal
    column: int


@dataclass(frozen=True, slots=True)
class InSet:
    field: str
    values: tuple[Literal, ...]
    negated: bool
    column: int


@dataclass(frozen=True, slots=True)
class Contains:
    field: str
    value: str
    column: int


@dataclass(frozen=True, slots=True)
class Empty:
    field: str
    negated: bool
    column: int


@dataclass(frozen=True, slots=True)
class Flag:
    field: str
    column: int


@dataclass(frozen=True, slots=True)
class Received:
    """The person's ledger row of this campaign says sent."""

    campaign: int
    column: int


@dataclass(frozen=True, slots=True)
class Took:
    """The person is recorded as having taken this action."""

    action: str
    column: int


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]


Node = Compare | InSet | Contains | Empty | Flag | Received | Took | Not | And | Or
