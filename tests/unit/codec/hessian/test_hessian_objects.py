"""Class definitions, objects, typed lists and maps, and the three reference maps of section 5."""

from __future__ import annotations

from typing import Any

import pytest

from pipework.codec.hessian import (
    Decoder,
    Encoder,
    HessianObject,
    LocalProtocolError,
    Long,
    TypedList,
    TypedMap,
    decode,
    encode,
)


def s(text: str) -> bytes:
    return bytes((len(text),)) + text.encode()


def throwable(message: str) -> HessianObject:
    """A Java exception as Hessian carries it: its ``cause`` is itself until one is set."""
    trace = TypedList("[java.lang.StackTraceElement", [
        HessianObject("java.lang.StackTraceElement",
                      {"declaringClass": "com.example.Svc", "methodName": "run", "fileName": "Svc.java",
                       "lineNumber": 42}),
    ])
    exc = HessianObject("java.lang.RuntimeException",
                        {"detailMessage": message, "cause": None, "stackTrace": trace,
                         "suppressedExceptions": []})
    exc.fields["cause"] = exc
    return exc


def test_one_class_definition_per_type_and_fields() -> None:
    enc = Encoder()
    enc.write(HessianObject("a.B", {"x": 1}))
    enc.write(HessianObject("a.B", {"x": 2}))
    enc.write(HessianObject("a.B", {"y": 3}))  # same type name, other fields: a second definition
    data = enc.getvalue()
    assert data == (b"C" + s("a.B") + b"\x91" + s("x") + b"\x60\x91" + b"\x60\x92"
                    + b"C" + s("a.B") + b"\x91" + s("y") + b"\x61\x93")
    d = Decoder(data)
    assert [d.read()["x"], d.read()["x"], d.read()["y"]] == [1, 2, 3]


def test_seventeenth_class_uses_the_long_form() -> None:
    objs = [HessianObject(f"c{i}", {}) for i in range(17)]
    data = encode(objs)
    assert data.endswith(b"C" + s("c16") + b"\x90" + b"O\xa0")
    assert decode(data) == objs


def test_shared_and_circular_containers_are_written_once() -> None:
    shared: list[Any] = [1, 2]
    loop: dict[str, Any] = {"name": "loop"}
    loop["self"] = loop
    value = [shared, shared, loop]
    data = encode(value)
    # list #0 is the outer one, #1 the shared list, #2 the map
    assert data == b"\x7b" + b"\x7a\x91\x92" + b"Q\x91" + b"H" + s("name") + s("loop") + s("self") + b"Q\x92Z"
    got = decode(data)
    assert got[0] is got[1]
    assert got[2]["self"] is got[2]
    assert encode(got) == data


def test_list_containing_itself() -> None:
    value: list[Any] = ["x"]
    value.append(value)
    data = encode(value)
    assert data == b"\x7a" + s("x") + b"Q\x90"
    got = decode(data)
    assert got[1] is got


def test_tuples_are_lists_without_identity() -> None:
    pair = (1, 2)
    assert encode([pair, pair]) == b"\x7a\x7a\x91\x92\x7a\x91\x92"
    assert decode(encode(pair)) == [1, 2]


def test_type_strings_are_written_once() -> None:
    value = [TypedList("[int", [1]), TypedList("[int", [2]), TypedMap("x.M", {}), TypedMap("x.M", {})]
    data = encode(value)
    assert data == (b"\x7c" + b"\x71" + s("[int") + b"\x91" + b"\x71\x90\x92"
                    + b"M" + s("x.M") + b"Z" + b"M\x91Z")
    got = decode(data)
    assert [v.type_name for v in got] == ["[int", "[int", "x.M", "x.M"]
    assert encode(got) == data


def test_variable_length_forms_decode() -> None:
    assert decode(b"U" + s("[string") + s("a") + b"Z") == TypedList("[string", ["a"])
    assert decode(b"W\x91Z") == [1]
    assert decode(b"X\x92\x91\x92") == [1, 2]
    assert decode(b"WZ") == []
    assert decode(b"H" + b"\x90" + b"W\x91Z" + b"Z") == {0: [1]}


def test_class_definition_may_precede_any_value() -> None:
    """"value ::= class-def value": a definition, then a value that is not (yet) an object."""
    data = b"C" + s("a.B") + b"\x90" + b"C" + s("a.C") + b"\x90" + b"\x7a\x60\x61"
    assert decode(data) == [HessianObject("a.B"), HessianObject("a.C")]


def test_exception_graph_round_trip() -> None:
    exc = throwable("boom")
    data = encode(exc)
    got = decode(data)
    assert got["cause"] is got
    assert got["stackTrace"][0]["lineNumber"] == 42
    assert got == exc
    assert "HessianObject('java.lang.RuntimeException'" in repr(got)
    assert "..." in repr(got)  # the cycle is cut in the repr
    assert encode(got) == data


def test_object_equality_follows_cycles() -> None:
    a, b = throwable("boom"), throwable("boom")
    assert a == b
    assert a != throwable("bang")
    assert a != HessianObject("java.lang.RuntimeException", {})
    assert HessianObject("x", {"a": 1, "b": 2}) == HessianObject("x", {"b": 2, "a": 1})
    assert HessianObject("x") != "x"


def test_enum_objects_work_as_map_keys() -> None:
    red = HessianObject("example.Color", {"name": "RED"})
    data = encode({red: 1, HessianObject("example.Color", {"name": "BLUE"}): 2})
    got = decode(data)
    assert got[HessianObject("example.Color", {"name": "RED"})] == 1
    assert hash(throwable("x")) == hash(throwable("x"))  # cyclic and list fields do not break hashing


def test_typed_values_repr_and_equality() -> None:
    assert repr(Long(5)) == "Long(5)"
    assert Long(5) == 5
    assert repr(TypedList("[int", [1])) == "TypedList('[int', [1])"
    assert TypedList("[int", [1]) == [1]
    assert repr(TypedMap("t", {1: 2})) == "TypedMap('t', {1: 2})"


def test_encoder_helpers() -> None:
    enc = Encoder()
    enc.write_string(None)
    enc.write_string("a")
    enc.write_int(Long(5))
    assert enc.getvalue() == b"N\x01a\x95"
    with pytest.raises(LocalProtocolError):
        enc.write_int(2**31)


def test_subclasses_of_supported_types() -> None:
    import enum

    class Color(enum.IntEnum):
        RED = 1

    class Bag(dict[str, int]):
        pass

    assert encode(Color.RED) == b"\x91"
    assert encode(Bag(a=1)) == b"H\x01a\x91Z"
    assert encode(bytearray(b"ab")) == encode(memoryview(b"ab")) == b"\x22ab"
