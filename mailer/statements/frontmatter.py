"""YAML front matter, read strictly: plain values only, bounded, and every mistake one line with its line.

The loader is PyYAML's safe one with four changes, each because a statement file (or a
feed's directory) can be written by anyone:
- no implicit dates: `date: 2024-13-45` stays text and gets the `date` field's own error;
- booleans only as true/false (YAML 1.2): `lang: no` is Norwegian, not False;
- no anchors or aliases: an alias bomb ("billion laughs") cannot grow in memory;
- nesting at most `MAX_DEPTH` deep: deep brackets would exhaust Python's stack.
A value a constructor refuses (`!!float x`, `!!timestamp 2024-13-45`, a 5,000-digit
integer) becomes a YAML error with its position instead of a traceback.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import Node

from mailer.errors import StatementError

__all__ = ["MAX_DEPTH", "MAX_FRONT_MATTER", "load_yaml", "split_front_matter"]

MAX_FRONT_MATTER = 64 * 1024  # characters between the two '---' lines
MAX_DEPTH = 8
_FENCE = re.compile(r"^---\s*$")


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without implicit dates, with YAML 1.2 booleans, no aliases, bounded depth."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            raise ComposerError(
                None, None, "anchors and aliases (*name) are not allowed", self._mark()
            )
        if self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            self._depth += 1
            try:
                if self._depth > MAX_DEPTH:
                    raise ComposerError(
                        None, None, f"nested more than {MAX_DEPTH} levels deep", self._mark()
                    )
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        return super().compose_node(parent, index)

    def _mark(self) -> Any:
        return self.peek_event().start_mark  # type: ignore[no-untyped-call]

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ConstructorError(
                None,
                None,
                f"invalid value {str(node.value)[:40]!r}: {str(exc)[:80]}",
                node.start_mark,
            ) from exc


# Copies of the class-level table, so that PyYAML's own SafeLoader stays as it is.
_StrictLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool"}
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(text: str, *, source: str, first_line: int) -> Any:
    """The YAML document in `text` (its first line is `first_line` of the file)."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + first_line if mark is not None else first_line
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise StatementError(f"broken front matter: {problem}", file=source, line=line) from exc
    except RecursionError as exc:  # a flow collection too deep even for the composer's guard
        raise StatementError(
            f"broken front matter: nested more than {MAX_DEPTH} levels deep",
            file=source,
            line=first_line,
        ) from exc


def split_front_matter(content: str, *, source: str) -> tuple[dict[str, Any], str, int]:
    """Return (metadata, body, line number where the body starts)."""
    lines = content.split("\n")
    if not lines or not _FENCE.match(lines[0]):
        raise StatementError(
            "front matter missing: the file must start with a '---' line", file=source, line=1
        )
    for index in range(1, len(lines)):
        if _FENCE.match(lines[index]):
            break
    else:
        raise StatementError("front matter not closed: no second '---' line", file=source, line=1)
    text = "\n".join(lines[1:index])
    if len(text) > MAX_FRONT_MATTER:
        raise StatementError(
            f"front matter longer than {MAX_FRONT_MATTER // 1024} KB", file=source, line=2
        )
    meta = load_yaml(text, source=source, first_line=2) or {}
    if not isinstance(meta, dict):
        raise StatementError(
            "front matter must be a mapping of keys to values", file=source, line=2
        )
    if not all(isinstance(key, str) for key in meta):
        raise StatementError("front matter keys must be words", file=source, line=2)
    return meta, "\n".join(lines[index + 1 :]), index + 2
