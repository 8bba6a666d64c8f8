"""The gateway file's reader: the checks every section shares, each mistake kept with its line.

Theory of operation: a :class:`Reader` holds one reading of a file — its values (with lines, from
:mod:`.source`), the mistakes found so far, and what the sections have made — and the checks the
sections are written with: ``mapping``, ``seq`` and ``text`` check a value's shape, ``options``
checks a mapping against the signature of the function it is for (unknown names with the closest
known one; numbers with units converted where the function takes a number), and ``call`` and
``attempt`` run the API, reporting its ``ValueError`` at the line of the option it names. None of
them raises: each adds to the mistakes and returns None, so a section goes on to the next thing.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

import pipework as pw

from .source import Map, Problems, Seq, parse

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_SIZE = re.compile(r"(\d+)\s*([kKmMgG])(?:i?[bB])?")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_BYTES = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def kind_of(value: Any) -> str:
    if isinstance(value, Map):
        return "a mapping"
    if isinstance(value, Seq):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    return f"{type(value).__name__} {value!r}"


def suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def one_item(spec: Any, line: int) -> Seq:
    out = Seq([spec])
    out.line, out.lines = line, [line]
    return out


def number(value: Any, annotation: str) -> Any:
    """``value`` with a unit turned into seconds or bytes, when the option takes a number."""
    if not isinstance(value, str) or not ("float" in annotation or "int" in annotation):
        return value
    m = _DURATION.fullmatch(value.strip())
    if m is not None and "float" in annotation:
        return float(m.group(1)) * _SECONDS[m.group(2)]
    m = _SIZE.fullmatch(value.strip())
    if m is not None:
        return int(m.group(1)) * _BYTES[m.group(2).lower()]
    return value


class Reader:
    """One reading of a gateway file; see the module docstring."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.base = os.path.dirname(os.path.abspath(path))
        self.problems = Problems(path)
        self.doc = parse(text, self.problems)
        self.upstreams: dict[str, pw.Upstream] = {}
        self.upstream_names: set[str] = set()  # every upstream, those with mistakes too
        self.caches: dict[str, pw.HttpCache] = {}
        self.cache_names: set[str] = set()  # every cache, those with mistakes too
        self.named: dict[str, list[Any]] = {}  # named policies: their steps
        self.policy_names: set[str] = set()  # every named policy, those with mistakes too
        self.routes: list[tuple[Map, Any, str]] = []  # (route, its action, its name)

    def bad(self, line: int, where: str, reason: str) -> None:
        self.problems.add(line, where, reason)

    def mapping(self, value: Any, line: int, where: str, keys: Iterable[str] | None = None) -> Map | None:
        """``value`` when it is a mapping whose keys are all in ``keys`` (unknown ones reported)."""
        if not isinstance(value, Map):
            self.bad(line, where, f"must be a mapping (name: value lines), not {kind_of(value)}")
            return None
        if keys is not None:
            known = tuple(keys)
            for k in value:
                if k not in known:
                    self.bad(
                        value.line_of(k),
                        where,
                        f"unknown key {k!r}{suggest(k, known)} (known: {', '.join(known)})",
                    )
        return value

    def seq(self, value: Any, line: int, where: str) -> Seq | None:
        if isinstance(value, Seq):
            return value
        self.bad(line, where, f"must be a list (lines starting with '- '), not {kind_of(value)}")
        return None

    def text(self, value: Any, line: int, where: str) -> str | None:
        if isinstance(value, str) and value:
            return value
        self.bad(line, where, f"must be a text, not {kind_of(value)}")
        return None

    def file(self, name: str) -> str:
        return name if os.path.isabs(name) else os.path.join(self.base, name)

    def attempt(self, at: int | Map, where: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, its error reported instead of raised: at line ``at``, or at
        the line of the option of mapping ``at`` the error names (:meth:`line_for`)."""
        try:
            return fn(*args, **kwargs)
        except (ValueError, TypeError, OSError, KeyError) as exc:
            reason = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
            if isinstance(exc, OSError) and exc.filename:
                reason = f"{exc.filename}: {exc.strerror}"
            self.bad(at if isinstance(at, int) else self.line_for(at, reason), where, reason)
        return None

    def options(self, fn: Callable[..., Any], value: Map, where: str, skip: int = 0) -> dict[str, Any] | None:
        """``value`` as keyword arguments of ``fn``: names checked against its signature, numbers
        with units converted where ``fn`` takes a number."""
        params = list(inspect.signature(fn).parameters.values())[skip:]
        named = {p.name: p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
        out: dict[str, Any] = {}
        ok = True
        for k, v in value.items():
            p = named.get(k)
            if p is None and not takes_any:
                self.bad(
                    value.line_of(k),
                    where,
                    f"unknown option {k!r}{suggest(k, named)} (options: {', '.join(named)})",
                )
                ok = False
                continue
            out[k] = number(v, str(p.annotation) if p is not None else "float | int")
        if not ok:
            return None
        missing = [
            p.name
            for p in params
            if p.default is p.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and p.name not in out
        ]
        if missing:
            self.bad(value.line, where, f"{missing[0]!r} is required")
            return None
        return out

    def line_for(self, value: Map, reason: str) -> int:
        """The line of the option an error message names (of the item, for ``rule N``), else the
        mapping's."""
        for k in value:
            if isinstance(k, str) and re.search(rf"\b{re.escape(k)}\b", reason):
                return value.line_of(k)
        item = re.search(r"\brule (\d+)\b", reason)
        rules = value.get("rules")
        if item is not None and isinstance(rules, Seq):
            return rules.line_of(int(item.group(1)) - 1)
        return value.line

    def call(self, fn: Callable[..., Any], args: dict[str, Any], value: Map, where: str, *pos: Any) -> Any:
        """``fn(*pos, **args)`` for the options in ``value``, as :meth:`attempt`."""
        return self.attempt(value, where, fn, *pos, **args)

    # -- sections ------------------------------------------------------------------------------
