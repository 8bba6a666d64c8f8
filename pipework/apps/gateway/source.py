"""Reading a gateway file: YAML into plain values that remember their lines, and the error list.

Theory of operation: PyYAML's safe loader builds the values, with two changes: a mapping becomes
a :class:`Map` (a dict that knows the line of each key and its own) and a sequence a :class:`Seq`
(a list that knows the line of each item), and a key given twice is an error rather than the
last one silently winning. The checks that follow report each mistake as ``file:line: where:
reason`` into a :class:`Problems` list, going on after the first one, so that one run shows every
mistake the file has; the gateway refuses the file if the list is not empty.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["Map", "Problems", "Seq", "parse"]


class Map(dict[Any, Any]):
    """A YAML mapping: a dict with the line of each key (``lines``) and of itself (``line``)."""

    line: int
    lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)

    @classmethod
    def at(cls, line: int, **values: Any) -> Map:
        """A mapping the file did not write out (``static: www`` for ``static: {root: www}``),
        its keys on ``line``."""
        out = cls(values)
        out.line, out.lines = line, dict.fromkeys(values, line)
        return out

    def without(self, *keys: Any) -> Map:
        """This mapping less ``keys``, the lines kept."""
        out = Map((k, v) for k, v in self.items() if k not in keys)
        out.line, out.lines = self.line, self.lines
        return out


class Seq(list[Any]):
    """A YAML sequence: a list with the line of each item (``lines``) and of itself (``line``)."""

    line: int
    lines: list[int]

    def line_of(self, index: int) -> int:
        return self.lines[index] if 0 <= index < len(self.lines) else self.line


class Problems:
    """The mistakes found in one file, each with its line."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.found: list[tuple[int, str]] = []

    def add(self, line: int, where: str, reason: str) -> None:
        self.found.append((line, f"{where}: {reason}" if where else reason))

    def has(self, line: int) -> bool:
        """Whether a mistake is already reported on ``line``."""
        return any(f[0] == line for f in self.found)

    def __bool__(self) -> bool:
        return bool(self.found)

    def lines(self) -> list[str]:
        return [f"{self.filename}:{line}: {text}" for line, text in sorted(self.found, key=lambda f: f[0])]


class _Loader(yaml.SafeLoader):
    """The safe loader, with YAML 1.2's booleans: only true and false (YAML 1.1 also reads yes,
    no, on and off as booleans, which turns ``on: [timeout]`` into ``True: [timeout]``)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _mapping(loader: _Loader, node: yaml.MappingNode) -> Map:
    loader.flatten_mapping(node)
    out = Map()
    out.line = node.start_mark.line + 1
    out.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.MarkedYAMLError(
                None, None, "a key must be a plain value, not a list or a mapping", key_node.start_mark
            ) from None
        if key in out:
            raise yaml.MarkedYAMLError(
                None,
                None,
                f"{key!r} is given twice in this mapping (first on line {out.lines[key]})",
                key_node.start_mark,
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = key_node.start_mark.line + 1
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> Seq:
    out = Seq(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def parse(text: str, problems: Problems) -> Any:
    """The document in ``text``, or None with the YAML error in ``problems``."""
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        reason = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        problems.add(line, "", f"not valid YAML: {reason}")
    except yaml.YAMLError as exc:
        problems.add(1, "", f"not valid YAML: {exc}")
    return None
