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
               | "received" "(" NUMBER ")"          was sent that campaign
               | "took" "(" STRING ")"              took that action (mailer actions import)
    FIELD     := NAME | "attr." NAME | 'attr."' any name '"'   (attr.: an extra CSV column)
    literal   := STRING | NUMBER | true | false

Only fields, operators and literals: no function, no column name, no SQL. Expressions are
bounded (length, nesting, terms, values), so that whatever is accepted compiles to SQL that
every database runs, in bounded time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailer.errors import InputError
from mailer.subscribers.segment_nodes import (
    And,
    Compare,
    Contains,
    Empty,
    Flag,
    InSet,
    Literal,
    Node,
    Not,
    Or,
    Received,
    Took,
)

__all__ = [
    "ATTRIBUTE",
    "LIST_FIELDS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_TERMS",
    "MAX_VALUES",
    "And",
    "Compare",
    "Contains",
    "Empty",
    "Flag",
    "InSet",
    "Node",
    "Not",
    "Or",
    "Received",
    "SegmentError",
    "Took",
    "parse_segment",
    "to_source",
]


ATTRIBUTE = "attr."  # the prefix of an attribute field: "attr.signed_nso"
MAX_LENGTH = 10_000  # characters of an expression
MAX_DEPTH = 32  # nested parentheses and "not"s
MAX_TERMS = 100  # predicates (each value of "FIELD in (...)" on a list field counts)
MAX_VALUES = 1000  # values of one "in (...)" list
# Fields holding lists: "FIELD in (a, b)" there is one membership test per value.
LIST_FIELDS = frozenset({"topics", "lists"})


class SegmentError(InputError):
    """A segment expression is wrong; says at which column."""


_KEYWORDS = {"and", "or", "not", "in", "has", "is", "empty", "true", "false"}
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<number>\d+(?![\w-]))
  | (?P<attr>attr\.(?:[A-Za-z0-9_][A-Za-z0-9_-]*|"(?:[^"\\]|\\.)*"))
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE | re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # string, number, attr, word, keyword, op, punct, end
    text: str
    value: Literal
    column: int


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _attribute(text: str, column: int) -> str:
    name = text[len(ATTRIBUTE) :]
    if name.startswith('"'):
        name = _unquote(name)
        if not name.strip() or '"' in name or "\\" in name or not name.isprintable():
            raise SegmentError(f"column {column}: not an attribute name: {text}")
    # The importer lower-cases the header row: attribute names are lower-case.
    return ATTRIBUTE + name.strip().lower()


def _tokens(source: str) -> list[_Token]:
    if len(source) > MAX_LENGTH:
        raise SegmentError(f"column {MAX_LENGTH + 1}: longer than {MAX_LENGTH} characters")
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
        elif kind == "attr":
            name = _attribute(text, column)
            tokens.append(_Token("attr", name, name, column))
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
        self.depth = 0
        self.terms = 0

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

    def count(self, terms: int, column: int) -> None:
        self.terms += terms
        if self.terms > MAX_TERMS:
            raise SegmentError(
                f"column {column}: more than {MAX_TERMS} terms; save a smaller segment "
                "(an attribute or an action can stand for a long list)"
            )

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
        column = self.current.column
        if self.current.text in {"not", "("} and self.current.kind in {"keyword", "punct"}:
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise SegmentError(f"column {column}: nested more than {MAX_DEPTH} levels deep")
            try:
                if self.accept("not"):
                    return Not(self.unary())
                self.advance()
                node = self.or_()
                self.expect(")", "')'")
                return node
            finally:
                self.depth -= 1
        self.count(1, column)
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

    def call(self, token: _Token) -> Node | None:
        """received(ID) and took("ACTION"), or None when the word is not one of them."""
        name = token.text.lower()
        following = self.tokens[self.index + 1]
        if name not in {"received", "took"} or following.text != "(":
            return None
        self.index += 2
        argument = self.current
        if name == "received":
            if argument.kind != "number":
                self.fail("expected a campaign id (a number) in received(...)")
            self.advance()
            self.expect(")", "')' after the campaign id")
            return Received(int(argument.value), token.column)
        if argument.kind != "string" or not str(argument.value).strip():
            self.fail('expected an action name in quotes in took("...")')
        self.advance()
        self.expect(")", "')' after the action name")
        return Took(str(argument.value), token.column)

    def predicate(self) -> Node:
        token = self.current
        if token.kind == "string":
            self.advance()
            self.expect("in", "'in' after a value")
            field = self.field()
            return Contains(field, str(token.value), token.column)
        if token.kind == "word":
            called = self.call(token)
            if called is not None:
                return called
        if token.kind not in {"word", "attr"}:
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
                if len(values) >= MAX_VALUES:
                    self.fail(f"more than {MAX_VALUES} values in one list")
                values.append(self.literal())
            self.expect(")", "')' closing the list of values")
            if field in LIST_FIELDS:
                self.count(len(values) - 1, column)
            return InSet(field, tuple(values), negated, column)
        if negated:
            self.fail("expected 'in' after 'not'")
        if self.current.kind == "op":
            op = self.advance().text
            return Compare(field, "=" if op == "==" else op, self.literal(), column)
        return Flag(field, column)

    def field(self) -> str:
        token = self.current
        if token.kind not in {"word", "attr"}:
            self.fail("expected a field name")
        self.advance()
        return token.text if token.kind == "attr" else token.text.lower()


def parse_segment(source: str) -> Node:
    """Parse an expression; SegmentError names the column of the first problem."""
    return _Parser(source).parse()


_PLAIN_NAME = re.compile(r"[a-z0-9_][a-z0-9_-]*")


def _quoted(value: Literal) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _field_source(field: str) -> str:
    name = field.removeprefix(ATTRIBUTE)
    if name == field or _PLAIN_NAME.fullmatch(name):
        return field
    return f'{ATTRIBUTE}"{name}"'


def to_source(node: Node) -> str:
    """The expression text of a node (parsing it gives the node back, columns aside)."""
    if isinstance(node, Or):
        return " or ".join(to_source(n) for n in node.operands)
    if isinstance(node, And):
        return " and ".join(
            f"({to_source(n)})" if isinstance(n, Or) else to_source(n) for n in node.operands
        )
    if isinstance(node, Not):
        inner = to_source(node.operand)
        return f"not ({inner})" if isinstance(node.operand, And | Or) else f"not {inner}"
    if isinstance(node, Received):
        return f"received({node.campaign})"
    if isinstance(node, Took):
        return f"took({_quoted(node.action)})"
    field = _field_source(node.field)
    if isinstance(node, Contains):
        return f"{_quoted(node.value)} in {field}"
    if isinstance(node, Empty):
        return f"{field} is {'not ' if node.negated else ''}empty"
    if isinstance(node, Flag):
        return field
    if isinstance(node, InSet):
        values = ", ".join(_quoted(v) for v in node.values)
        return f"{field} {'not ' if node.negated else ''}in ({values})"
    return f"{field} {node.op} {_quoted(node.value)}"
