"""Reading a gateway file: YAML into plain values that remember their lines, and the error list.

Theory of operation: PyYAML's safe loader builds the values, with two changes: a mapping becomes
a :class:`Map` (a dict that knows the line of each key and its own) and a sequence a :class:`Seq`
(a list that knows the line of each item), and a key given twice is an error rather than the
last one silently winning. The checks that follow report each mistake as ``file:line: where:
reason`` into a :class:`Problems` list, going on after the first one, so that one run shows every
mistake the file has; the gateway refuses the file if the list is not empty.

Environment variables: a text value may name them, ``${NAME}`` or ``${NAME:-default}`` (``$${``
for a literal ``${``), read when the file is loaded (and again at each reload), as Docker
Compose and Caddy do. A plain (unquoted) value that is nothing but references takes the type
its text reads as (``port: ${PORT:-8080}`` is a number); a quoted one stays a text. A name that
is not set and has no default is a mistake on its line.
"""

from __future__ import annotations

import os
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
    no, on and off as booleans, which turns ``on: [timeout]`` into ``True: [timeout]``), and
    environment variables in texts (see the module docstring)."""

    problems: Problems


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


#: ``$${`` (a literal ``${``), or a reference: ``${NAME}``, ``${NAME:-default}``
_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ONLY_REFERENCES = re.compile(r"(?:\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\})+")


def _text(loader: _Loader, node: yaml.ScalarNode) -> Any:
    value = loader.construct_scalar(node)
    if "${" not in value:
        return value
    missing: list[str] = []

    def substitute(m: re.Match[str]) -> str:
        if m.group(0) == "$${":
            return "${"
        name, default = m.group(1), m.group(2)
        got = os.environ.get(name)
        if got is None:
            if default is None:
                missing.append(name)
                return ""
            return default
        return got

    text = _REFERENCE.sub(substitute, value)
    if missing:
        loader.problems.add(
            node.start_mark.line + 1,
            "",
            f"environment variable {missing[0]} is not set (give it a default: ${{{missing[0]}:-value}})",
        )
    if node.style is None and _ONLY_REFERENCES.fullmatch(value):
        tag = loader.resolve(yaml.ScalarNode, text, (True, False))
        if tag != "tag:yaml.org,2002:str":
            return loader.construct_object(yaml.ScalarNode(tag, text, node.start_mark, node.end_mark))
    return text


_Loader.add_constructor("tag:yaml.org,2002:str", _text)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def parse(text: str, problems: Problems) -> Any:
    """The document in ``text``, or None with the YAML error in ``problems``."""
    loader = _Loader(text)  # a SafeLoader
    loader.problems = problems
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        reason = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        problems.add(line, "", f"not valid YAML: {reason}")
    except yaml.YAMLError as exc:
        problems.add(1, "", f"not valid YAML: {exc}")
    finally:
        loader.dispose()
    return None
