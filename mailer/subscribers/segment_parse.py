"""The segment expression language: tokenizer and recursive-descent parser into a small AST.

    expr      := or
    or        := and ("or" and)*
    and       := unary ("and" unary)*
    unary     := "not" unary | "(" expr ")" | predicate
    predicate := STRING "in" FIELD                  "surveillance" in topics
               | FIELD "has" STRING                 topics has "surveillance"
               | FIELD ["not"] "in" "(" literal, ... ")"
               | FIELD ("="|"!="|"<"|"<="|">"|">=") literal
               | FIELD "is" ["not"] "empty"
               | FIELD                              a yes/no field, e.g. alerts
    literal   := STRING | NUMBER | true | false

Only fields, operators and literals: no function, no column name, no SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailer.errors import InputError

__all__ = [
    "And",
    "Compare",
    "Contains",
    "Empty",
    "Flag",
    "InSet",
    "Node",
    "Not",
    "Or",
    "SegmentError",
    "parse_segment",
]

Literal = str | int | bool


class SegmentError(InputError):
    """A segment expression is wrong; says at which column."""


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
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]


Node = Compare | InSet | Contains | Empty | Flag | Not | And | Or

_KEYWORDS = {"and", "or", "not", "in", "has", "is", "empty", "true", "false"}
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<number>\d+(?![\w-]))
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # string, number, word, keyword, op, punct, end
    text: str
    value: Literal
    column: int


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _tokens(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        match = _TOKEN.match(source, position)
        column = position + 1
        if match is None:
            char = source[position]
            if char in "\"'":
                raise SegmentError(f"column {column}: string not closed")
            raise SegmentError(f"column {column}: unexpected character {char!r}")
        kind = match.lastgroup or ""
        text = match.group()
        position = match.end()
        if kind == "space":
            continue
        if kind == "string":
            tokens.append(_Token("string", text, _unquote(text), column))
        elif kind == "number":
            tokens.append(_Token("number", text, int(text), column))
        elif kind == "word" and text.lower() in _KEYWORDS:
            lowered = text.lower()
            value: Literal = lowered == "true" if lowered in {"true", "false"} else lowered
            tokens.append(_Token("keyword", lowered, value, column))
        else:
            tokens.append(_Token(kind, text, text, column))
    tokens.append(_Token("end", "", "", len(source) + 1))
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.index = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def accept(self, text: str) -> bool:
        if self.current.kind in {"keyword", "op", "punct"} and self.current.text == text:
            self.index += 1
            return True
        return False

    def expect(self, text: str, what: str) -> None:
        if not self.accept(text):
            self.fail(f"expected {what}")

    def fail(self, problem: str) -> None:
        token = self.current
        found = "the end" if token.kind == "end" else repr(token.text)
        raise SegmentError(f"column {token.column}: {problem}, found {found}")

    def parse(self) -> Node:
        if self.current.kind == "end":
            raise SegmentError("column 1: empty expression")
        node = self.or_()
        if self.current.kind != "end":
            self.fail("expected 'and', 'or' or the end")
        return node

    def or_(self) -> Node:
        operands = [self.and_()]
        while self.accept("or"):
            operands.append(self.and_())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_(self) -> Node:
        operands = [self.unary()]
        while self.accept("and"):
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self) -> Node:
        if self.accept("not"):
            return Not(self.unary())
        if self.accept("("):
            node = self.or_()
            self.expect(")", "')'")
            return node
        return self.predicate()

    def literal(self) -> Literal:
        token = self.current
        if token.kind in {"string", "number"} or (
            token.kind == "keyword" and isinstance(token.value, bool)
        ):
            self.advance()
            return token.value
        self.fail('expected a value (a "quoted string", a number, true or false)')
        raise AssertionError("unreachable")

    def predicate(self) -> Node:
        token = self.current
        if token.kind == "string":
            self.advance()
            self.expect("in", "'in' after a value")
            field = self.field()
            return Contains(field, str(token.value), token.column)
        if token.kind != "word":
            self.fail('expected a field or a "value" in FIELD')
        field = self.field()
        column = token.column
        if self.accept("has"):
            value = self.literal()
            return Contains(field, str(value), column)
        if self.accept("is"):
            negated = self.accept("not")
            self.expect("empty", "'empty'")
            return Empty(field, negated, column)
        negated = self.accept("not")
        if self.accept("in"):
            self.expect("(", "'(' starting a list of values")
            values = [self.literal()]
            while self.accept(","):
                values.append(self.literal())
            self.expect(")", "')' closing the list of values")
            return InSet(field, tuple(values), negated, column)
        if negated:
            self.fail("expected 'in' after 'not'")
        if self.current.kind == "op":
            op = self.advance().text
            return Compare(field, "=" if op == "==" else op, self.literal(), column)
        return Flag(field, column)

    def field(self) -> str:
        token = self.current
        if token.kind != "word":
            self.fail("expected a field name")
        self.advance()
        return token.text.lower()


def parse_segment(source: str) -> Node:
    """Parse an expression; SegmentError names the column of the first problem."""
    return _Parser(source).parse()
