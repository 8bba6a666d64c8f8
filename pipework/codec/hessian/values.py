"""The Python values Hessian's typed constructs decode to, so that decoding then encoding keeps them.

Theory of operation: most Hessian values map onto plain Python ones (null → None, boolean → bool,
int → int, double → float, string → str, binary → bytes, date → an aware UTC ``datetime``, untyped
list → list, untyped map → dict). Four constructs carry more than the plain value, and each gets a
small class here so that a decoded value encodes back to the same bytes:

* ``Long`` — an ``int`` subclass for Hessian's 64-bit long. Java tells ``int`` from ``long``
  (a method ``f(long)`` is a different overload from ``f(int)``), Python does not; a plain ``int``
  encodes as a Hessian int when it fits 32 bits, a ``Long`` always as a long.
* ``TypedList`` / ``TypedMap`` — a ``list`` / ``dict`` that remembers the type string Hessian sent
  with it (``"[int"``, ``"java.util.HashMap"``).
* ``HessianObject`` — an instance of a class definition (``'C'`` then ``'O'``/``0x60-0x6f``): a type
  name and its fields in definition order. Java exceptions, enums, DTOs and ``BigDecimal`` arrive
  as these.

Objects, lists and maps may refer to themselves (a Java ``Throwable``'s ``cause`` is itself by
default), so ``HessianObject``'s ``repr`` and ``==`` guard against cycles.
"""

from __future__ import annotations

import reprlib
import threading
from typing import Any


class Long(int):
    """A Hessian long (64-bit signed). Equal to, and usable as, the ``int`` it holds."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Long({int(self)})"


class TypedList(list[Any]):
    """A Hessian list that carries a type string (``[int``, ``java.util.ArrayList``, ...).

    Equal to a plain list with the same items (the type name is metadata, as ``int`` vs ``Long``).
    """

    __slots__ = ("type_name",)

    def __init__(self, type_name: str, items: Any = ()) -> None:
        super().__init__(items)
        self.type_name = type_name

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        return f"TypedList({self.type_name!r}, {list.__repr__(self)})"


class TypedMap(dict[Any, Any]):
    """A Hessian map that carries a type string (``'M'``); equal to a plain dict with the same items."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str, items: Any = ()) -> None:
        super().__init__(items)
        self.type_name = type_name

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        return f"TypedMap({self.type_name!r}, {dict.__repr__(self)})"


# Pairs of objects being compared further up the stack, per thread: meeting a pair again means
# the two graphs have the same shape along this path (co-inductive equality), so it counts as equal.
_comparing = threading.local()


class HessianObject:
    """An instance of a Hessian class definition: ``type_name`` and ``fields`` in definition order.

    The encoder writes one class definition per distinct ``(type_name, field names)`` in a stream.
    Equality compares the type and the fields (cycles included). Objects hash by their scalar fields
    so that Java enums (objects with a ``name`` field) can be map keys; do not mutate an object used
    as a key.
    """

    __slots__ = ("fields", "type_name")

    def __init__(self, type_name: str, fields: dict[str, Any] | None = None) -> None:
        self.type_name = type_name
        self.fields: dict[str, Any] = {} if fields is None else fields

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        return f"HessianObject({self.type_name!r}, {self.fields!r})"

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, HessianObject):
            return NotImplemented
        if self.type_name != other.type_name or self.fields.keys() != other.fields.keys():
            return False
        seen: set[tuple[int, int]] | None = getattr(_comparing, "pairs", None)
        if seen is None:
            seen = _comparing.pairs = set()
        pair = (id(self), id(other))
        if pair in seen:
            return True
        seen.add(pair)
        try:
            theirs = other.fields
            return all(v is theirs[k] or v == theirs[k] for k, v in self.fields.items())
        finally:
            seen.discard(pair)

    def __hash__(self) -> int:
        # Only the scalar fields: consistent with ``==``, and it neither recurses into a cycle nor
        # fails on a list-valued field.
        return hash((self.type_name, *(v for v in self.fields.values() if type(v) in _SCALARS)))


_SCALARS = frozenset({str, int, float, bool, bytes, type(None), Long})
