"""A small, safe expression language for policy conditions (authorisation rules' ``when``).

Theory of operation: an expression is a whitelisted subset of Python's expression syntax,
parsed once at load with :mod:`ast`, checked node by node, rewritten and compiled by
:func:`compile` into an ordinary Python function of one argument, the request's facts. A
request costs one call of that function: no interpreter walks a tree per request.

What the language has: names of request facts (the caller says which: ``method``, ``path``,
``claims``, ...); literals (strings, numbers, ``True``/``False``/``None``, lists, tuples and sets
of them); attribute and subscript access (``claims.sub``, ``claims["roles"]``, ``headers["x-team"]``),
which both look a key up in a mapping (``claims.realm_access.roles`` walks nested JSON) or an
index in a list; comparisons (``== != < <= > >= in not in``, ``is None``); ``and``, ``or``, ``not``;
and these calls only: ``has(x)`` (whether ``x`` exists: ``has(claims.roles)``), ``len(x)``,
``matches(s, "regex")`` (``re.search``, the pattern compiled at load), ``in_network(addr,
"10.0.0.0/8")`` (or a list of networks, compiled at load into an
:class:`~pipework.policy.cidr.IpSet`), and the string methods ``s.startswith(...)``,
``s.endswith(...)``, ``s.lower()``, ``s.upper()``, ``s.strip()``, ``s.split(sep)``. Nothing else:
no other calls, no arithmetic, no comprehensions, no lambdas, no names starting with ``_``.

Safety: the compiled function sees no builtins; attribute syntax never reaches Python's
``getattr`` (``x.y`` is a key lookup in a mapping, so ``x.__class__`` is just a missing key, and
names starting with ``_`` are refused at load anyway); every value it touches is a fact the caller
gave (strings, numbers, lists, dicts). The only loops are inside ``in`` and the string methods,
bounded by the size of the request.

Missing values: a fact the request does not have (no JWT, so no ``claims``; no client
certificate; a claim or header that is absent) raises :class:`Undecided` (naming what was
missing) out of the function, whatever the operators around it, so ``not "admin" in
claims.roles`` is not true for a request without claims: it cannot be decided. The caller
decides what an undecided condition means (authorisation: an allow rule does not apply, a deny
rule does). ``has(...)`` turns a missing value into False. A type mismatch at run time
(``claims.exp > "x"``) raises TypeError, which a caller treats the same way.

Errors at load are :class:`ExprError` (a ValueError) whose message is ``column N: reason``,
prefixed by the caller's ``what``; a YAML loader can put ``file:line:`` in front.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final

from .cidr import IpSet

__all__ = ["MAX_LENGTH", "CompiledExpr", "ExprError", "Undecided", "compile_expr"]

#: the longest expression accepted: conditions are one line or a few; a longer one is a mistake
#: (or an attempt to make the parser work hard)
MAX_LENGTH: Final = 4096
#: the deepest nesting of the tree accepted (the compiler recurses once per level)
MAX_DEPTH: Final = 40

#: the calls of the language (function form) and their number of arguments
FUNCTIONS: Final = {"has": 1, "len": 1, "matches": 2, "in_network": 2}
#: the string methods of the language and their number of arguments (min, max)
METHODS: Final = {
    "startswith": (1, 1),
    "endswith": (1, 1),
    "lower": (0, 0),
    "upper": (0, 0),
    "strip": (0, 0),
    "split": (0, 1),
}


class ExprError(ValueError):
    """A mistake in an expression, found at load: ``column`` (1-based) and ``reason``."""

    def __init__(self, what: str, column: int, reason: str) -> None:
        self.column = column
        self.reason = reason
        super().__init__(f"{what}: column {column}: {reason}" if what else f"column {column}: {reason}")


class Undecided(Exception):
    """Raised by a compiled expression that touched a value the request does not have.

    ``what``: the missing value as written (``"claims.roles"``); ``absent``: the name of the fact
    that is missing altogether (``"claims"`` when the request has no JWT), or None when the fact
    is there but not the key asked for.
    """

    def __init__(self, what: str, absent: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.absent = absent


class CompiledExpr:
    """An expression ready to run: ``fn(facts)`` returns its value (raising :class:`Undecided`
    or TypeError as the module docstring says); ``names`` are the facts it reads."""

    __slots__ = ("fn", "names", "source")

    def __init__(self, source: str, fn: Callable[[Any], Any], names: frozenset[str]) -> None:
        self.source = source
        self.fn = fn
        self.names = names

    def __call__(self, facts: Any) -> Any:
        return self.fn(facts)

    def __repr__(self) -> str:
        return f"<expr {self.source!r}>"


# --- the run-time helpers the compiled code calls (its only globals) -------------------------------


def _need(value: Any, name: str) -> Any:
    if value is None:
        raise Undecided(name, name)
    return value


def _key(value: Any, key: Any, what: str) -> Any:
    """``x.y`` and ``x[y]``: a key of a mapping or an index of a list/tuple/str, else missing."""
    if isinstance(value, Mapping):
        try:
            return value[key]
        except KeyError:
            raise Undecided(what) from None
    if isinstance(value, list | tuple | str) and type(key) is int:
        try:
            return value[key]
        except IndexError:
            raise Undecided(what) from None
    raise Undecided(what)


def _has(thunk: Callable[[], Any]) -> bool:
    try:
        thunk()
    except Undecided:
        return False
    return True


def _len(value: Any) -> int:
    if isinstance(value, str | list | tuple | dict | set | frozenset):
        return len(value)
    raise TypeError(f"len() of a {type(value).__name__}")


def _str(value: Any, method: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f".{method}() of a {type(value).__name__}, not a string")
    return value


def _m_startswith(s: Any, prefix: Any) -> bool:
    return _str(s, "startswith").startswith(prefix)


def _m_endswith(s: Any, suffix: Any) -> bool:
    return _str(s, "endswith").endswith(suffix)


def _m_lower(s: Any) -> str:
    return _str(s, "lower").lower()


def _m_upper(s: Any) -> str:
    return _str(s, "upper").upper()


def _m_strip(s: Any) -> str:
    return _str(s, "strip").strip()


def _m_split(s: Any, sep: Any = None) -> list[str]:
    return _str(s, "split").split(sep)


def _matches(s: Any, pattern: re.Pattern[str]) -> bool:
    return pattern.search(_str(s, "matches")) is not None


def _in_network(addr: Any, nets: IpSet) -> bool:
    try:
        return addr in nets
    except (TypeError, ValueError):
        return False


_GLOBALS: Final[dict[str, Any]] = {
    "__builtins__": {},
    "_need": _need,
    "_key": _key,
    "_has": _has,
    "_len": _len,
    "_matches": _matches,
    "_in_network": _in_network,
    **{f"_m_{m}": f for m, f in (
        ("startswith", _m_startswith), ("endswith", _m_endswith), ("lower", _m_lower),
        ("upper", _m_upper), ("strip", _m_strip), ("split", _m_split),
    )},
}  # fmt: skip


# --- checking and rewriting ------------------------------------------------------------------------

_COMPARE_OPS: Final = (
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
)
_ARG: Final = "_r"


def _name_of(node: ast.AST) -> str:
    return {
        ast.BinOp: "arithmetic",
        ast.Lambda: "a lambda",
        ast.IfExp: "a conditional expression (x if c else y)",
        ast.ListComp: "a comprehension",
        ast.SetComp: "a comprehension",
        ast.DictComp: "a comprehension",
        ast.GeneratorExp: "a generator expression",
        ast.Dict: "a dict literal",
        ast.NamedExpr: "an assignment (:=)",
        ast.JoinedStr: "an f-string",
        ast.Starred: "a starred expression",
        ast.Await: "await",
        ast.Yield: "yield",
        ast.Slice: "a slice",
    }.get(type(node), type(node).__name__)


class _Compiler:
    def __init__(self, source: str, what: str, names: Collection[str], optional: Collection[str]) -> None:
        self.source = source
        self.what = what
        self.names = frozenset(names)
        self.optional = frozenset(optional)
        self.used: set[str] = set()

    def fail(self, node: ast.AST | None, reason: str, col: int | None = None) -> ExprError:
        if col is None:
            col = getattr(node, "col_offset", 0) if node is not None else 0
        # col_offset counts UTF-8 bytes; report characters
        col = len(self.source.encode("utf-8")[:col].decode("utf-8", "replace"))
        return ExprError(self.what, col + 1, reason)

    def text(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or "?"

    def expr(self, node: ast.expr, depth: int = 0) -> ast.expr:
        if depth > MAX_DEPTH:
            raise self.fail(node, f"nested more than {MAX_DEPTH} levels deep")
        d = depth + 1
        if isinstance(node, ast.Constant):
            if node.value is ... or isinstance(node.value, bytes | complex):
                raise self.fail(node, f"{node.value!r} is not a literal of the language")
            return node
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                at = (node.end_col_offset or 0) - len(node.attr)
                raise self.fail(node, f"no names starting with _ ({node.attr!r})", at)
            return self.call(
                "_key", [self.expr(node.value, d), ast.Constant(node.attr), ast.Constant(self.text(node))]
            )
        if isinstance(node, ast.Subscript):
            if isinstance(node.slice, ast.Slice):
                raise self.fail(node.slice, "slices are not part of the language; index with one key")
            return self.call(
                "_key", [self.expr(node.value, d), self.expr(node.slice, d), ast.Constant(self.text(node))]
            )
        if isinstance(node, ast.BoolOp):
            return ast.BoolOp(node.op, [self.expr(v, d) for v in node.values])
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return ast.UnaryOp(node.op, self.expr(node.operand, d))
            if isinstance(node.op, ast.USub | ast.UAdd) and isinstance(node.operand, ast.Constant):
                v = node.operand.value
                if isinstance(v, int | float) and not isinstance(v, bool):
                    return ast.Constant(-v if isinstance(node.op, ast.USub) else v)
            raise self.fail(node, "arithmetic is not part of the language (only a sign on a number)")
        if isinstance(node, ast.Compare):
            for op, right in zip(node.ops, node.comparators, strict=True):
                if not isinstance(op, _COMPARE_OPS):
                    raise self.fail(node, "unknown comparison")
                if isinstance(op, ast.Is | ast.IsNot) and not (
                    isinstance(right, ast.Constant) and right.value is None
                ):
                    raise self.fail(right, "'is' and 'is not' compare only with None (use == for values)")
            return ast.Compare(self.expr(node.left, d), node.ops, [self.expr(c, d) for c in node.comparators])
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            elts = [self.expr(e, d) for e in node.elts]
            if isinstance(node, ast.Set):
                return ast.Set(elts)
            return ast.List(elts, ast.Load()) if isinstance(node, ast.List) else ast.Tuple(elts, ast.Load())
        if isinstance(node, ast.Call):
            return self.function(node, d)
        raise self.fail(node, f"{_name_of(node)} is not part of the language")

    def name(self, node: ast.Name) -> ast.expr:
        n = node.id
        if n not in self.names:
            near = difflib.get_close_matches(n, sorted(self.names), 1)
            hint = f" (did you mean {near[0]}?)" if near else f" (known: {', '.join(sorted(self.names))})"
            raise self.fail(node, f"unknown name {n!r}{hint}")
        self.used.add(n)
        load: ast.expr = ast.Attribute(ast.Name(_ARG, ast.Load()), n, ast.Load())
        if n in self.optional:
            load = self.call("_need", [load, ast.Constant(n)])
        return load

    def function(self, node: ast.Call, d: int) -> ast.expr:
        if node.keywords:
            raise self.fail(node.keywords[0].value, "calls take no keyword arguments here")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail(node, "calls take no *arguments here")
        f = node.func
        if isinstance(f, ast.Attribute):  # a string method
            if f.attr not in METHODS:
                at = (f.end_col_offset or 0) - len(f.attr)
                raise self.fail(f, f"unknown method .{f.attr}() (methods: {', '.join(METHODS)})", at)
            lo, hi = METHODS[f.attr]
            if not lo <= len(node.args) <= hi:
                raise self.fail(node, f".{f.attr}() takes {lo if lo == hi else f'{lo} to {hi}'} argument(s)")
            return self.call(f"_m_{f.attr}", [self.expr(f.value, d), *(self.expr(a, d) for a in node.args)])
        if not isinstance(f, ast.Name) or f.id not in FUNCTIONS:
            name = f.id if isinstance(f, ast.Name) else self.text(f)
            raise self.fail(node, f"unknown function {name}() (functions: {', '.join(FUNCTIONS)})")
        if len(node.args) != FUNCTIONS[f.id]:
            raise self.fail(node, f"{f.id}() takes {FUNCTIONS[f.id]} argument(s)")
        args = node.args
        if f.id == "has":
            if not isinstance(args[0], ast.Name | ast.Attribute | ast.Subscript):
                raise self.fail(args[0], "has() takes a name or a key lookup (has(claims.roles))")
            body = self.expr(args[0], d)
            thunk = ast.Lambda(ast.arguments([], [], None, [], [], None, []), body)
            return self.call("_has", [thunk])
        if f.id == "len":
            return self.call("_len", [self.expr(args[0], d)])
        if f.id == "matches":
            pattern = args[1]
            if not (isinstance(pattern, ast.Constant) and isinstance(pattern.value, str)):
                raise self.fail(pattern, "matches() takes a string literal as its pattern")
            try:
                rx = re.compile(pattern.value)
            except re.error as e:
                raise self.fail(pattern, f"bad regular expression {pattern.value!r}: {e}") from None
            return self.call("_matches", [self.expr(args[0], d), self.const(rx)])
        # in_network
        nets_node = args[1]
        try:
            value = ast.literal_eval(nets_node)
            nets = IpSet([value] if isinstance(value, str) else list(value))
        except (ValueError, TypeError, SyntaxError) as e:
            raise self.fail(
                nets_node, f"in_network() takes a network or a list of them as literals: {e}"
            ) from None
        return self.call("_in_network", [self.expr(args[0], d), self.const(nets)])

    def const(self, value: Any) -> ast.expr:
        """An object made at load (a compiled regex, an IpSet), reached as a global of the code."""
        name = f"_c{len(self.consts)}"
        self.consts[name] = value
        return ast.Name(name, ast.Load())

    consts: dict[str, Any]

    @staticmethod
    def call(helper: str, args: list[ast.expr]) -> ast.expr:
        return ast.Call(ast.Name(helper, ast.Load()), args, [])


def compile_expr(
    source: str,
    names: Collection[str],
    *,
    optional: Collection[str] = (),
    what: str = "",
) -> CompiledExpr:
    """Compile ``source`` into a :class:`CompiledExpr`.

    ``names``: the facts an expression may name, read as attributes of the object the function
    is called with; ``optional``: those of them that may be None on a request (absent: any use
    raises :class:`Undecided` naming it). ``what`` prefixes error messages (``"rule 2: when"``).
    Raises :class:`ExprError` (a ValueError) with the column and the reason for any mistake.
    """
    if not isinstance(source, str):
        raise ExprError(what, 1, f"an expression is a string, not {type(source).__name__}")
    if len(source) > MAX_LENGTH:
        raise ExprError(what, MAX_LENGTH + 1, f"longer than {MAX_LENGTH} characters")
    flat = " ".join(source.splitlines()).strip()  # a YAML block scalar may span lines
    if not flat:
        raise ExprError(what, 1, "empty expression")
    try:
        tree = ast.parse(flat, mode="eval")
    except SyntaxError as e:
        col = e.offset or 1
        raise ExprError(what, col, f"syntax error: {e.msg}") from None
    except (ValueError, RecursionError, MemoryError) as e:
        raise ExprError(what, 1, f"cannot parse: {e}") from None
    c = _Compiler(flat, what, names, optional)
    c.consts = {}
    body = c.expr(tree.body)
    fn_tree = ast.Expression(ast.Lambda(ast.arguments([], [ast.arg(_ARG)], None, [], [], None, []), body))
    ast.fix_missing_locations(fn_tree)
    code = compile(fn_tree, "<expr>", "eval")
    fn = eval(code, {**_GLOBALS, **c.consts})
    return CompiledExpr(flat, fn, frozenset(c.used))
