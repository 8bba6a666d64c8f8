"""Schema-based decode/encode from a descriptor set that protoc made at test time, checked against
protobuf's own message classes and json_format; gRPC method lookup; errors of each side."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

# protobuf is optional: without it this module is skipped (an error under PIPEWORK_REQUIRE_ALL=1,
# as for missing system tools, DESIGN.md 7), so its imports come after the check.
if os.environ.get("PIPEWORK_REQUIRE_ALL") != "1":
    pytest.importorskip("google.protobuf", reason="protobuf is the schema library: pip install protobuf")

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from hypothesis import given, settings
from hypothesis import strategies as st

from pipework.codec.protobuf import (
    DescriptorSet,
    LocalProtocolError,
    MessageType,
    RemoteProtocolError,
    StatusCode,
    decode_fields,
    load_descriptor_set,
    method_types,
    read_field,
)


@pytest.fixture(scope="module")
def schema(descriptor_set_path: Path) -> DescriptorSet:
    return load_descriptor_set(descriptor_set_path)


@pytest.fixture(scope="module")
def peer(descriptor_set_path: Path) -> tuple[Any, descriptor_pool.DescriptorPool]:
    """protobuf's own Sample class and pool, built by the test without our code."""
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(descriptor_set_path.read_bytes()).file:
        pool.AddSerializedFile(file.SerializeToString())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("pipework.test.Sample")), pool


def make_sample(cls: Any) -> Any:
    sample = cls(i32=-2, i64=2**40, u64=2**64 - 1, s32=-5, flag=True, color=1, fl=0.5, db=-1.25,
                 text="t\u00e9", blob=b"\x00\x01", ints=[1, -1], tags=["a", "b"], number=7, maybe=0)
    sample.header.tenant = "acme"
    sample.headers.add(shard=3)
    sample.counts["k"] = -9
    sample.when.seconds = 1_700_000_000
    sample.when.nanos = 5_000_000
    sample.old.id = 1
    sample.old.extra.note = "g"
    return sample


def test_load_from_path_and_bytes(descriptor_set_path: Path) -> None:
    for source in (descriptor_set_path, str(descriptor_set_path), descriptor_set_path.read_bytes()):
        loaded = load_descriptor_set(source)
        assert set(loaded.files) == {"google/protobuf/timestamp.proto", "legacy.proto", "sample.proto"}
    assert DescriptorSet.from_file(descriptor_set_path).files == loaded.files


def test_names(schema: DescriptorSet) -> None:
    names = schema.message_names()
    assert {"pipework.test.Sample", "pipework.test.Header", "pipework.test.Reply", "pipework.legacy.Old",
            "pipework.legacy.Old.Extra", "google.protobuf.Timestamp"} <= set(names)
    assert not any(name.endswith("CountsEntry") for name in names)  # map entries are not user types
    assert schema.method_paths() == ["/pipework.test.Router/Route", "/pipework.test.Router/Watch"]


def test_message_type_lookup(schema: DescriptorSet) -> None:
    sample = schema.message_type("pipework.test.Sample")
    assert isinstance(sample, MessageType)
    assert sample.full_name == "pipework.test.Sample"
    assert schema.message_type(".pipework.test.Sample").full_name == sample.full_name
    assert schema.message_type("pipework.test.Sample") is sample  # cached
    assert schema.message_type("pipework.legacy.Old.Extra").full_name == "pipework.legacy.Old.Extra"
    assert repr(sample) == "MessageType('pipework.test.Sample')"
    with pytest.raises(LocalProtocolError, match="no message type"):
        schema.message_type("pipework.test.Nope")
    with pytest.raises(LocalProtocolError):
        schema.message_type("pipework.test.Router")  # a service, not a message


def test_method_types(schema: DescriptorSet) -> None:
    request, response = method_types(schema, "/pipework.test.Router/Route")
    assert (request.full_name, response.full_name) == ("pipework.test.Sample", "pipework.test.Reply")
    assert schema.method_types(b"/pipework.test.Router/Watch")[0].full_name == "pipework.test.Header"
    assert schema.method_types("/pipework.test.Router/Route")[0] is request


@pytest.mark.parametrize("path", [
    "/pipework.test.Router/Nope", "/pipework.test.Nope/Route", "/Router/Route", "pipework.test.Router/Route",
    "/pipework.test.Router/Route/extra", "/pipework.test.Router/", "//Route", "", "/", b"\xff/x",
])
def test_unknown_methods_are_unimplemented(schema: DescriptorSet, path: str | bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        schema.method_types(path)
    assert info.value.status is StatusCode.UNIMPLEMENTED
    assert (b"grpc-status", b"12") in info.value.trailers()


def test_decode_matches_json_format(schema: DescriptorSet, peer: tuple[Any, Any]) -> None:
    cls, pool = peer
    sample = make_sample(cls)
    data = sample.SerializeToString()
    ours = schema.message_type("pipework.test.Sample").decode(data)
    assert ours == json_format.MessageToDict(sample, descriptor_pool=pool)
    assert ours["header"] == {"tenant": "acme"}
    assert ours["i64"] == str(2**40)  # ProtoJSON: 64-bit integers as strings
    assert ours["blob"] == "AAE="  # bytes as base64
    assert ours["when"] == "2023-11-14T22:13:20.005Z"
    assert ours["color"] == "RED"
    assert ours["old"] == {"id": 1, "extra": {"note": "g"}}
    assert ours["maybe"] == 0  # explicit presence: kept although zero
    assert "u32" not in ours  # implicit presence at its default: left out


def test_decode_options(schema: DescriptorSet, peer: tuple[Any, Any]) -> None:
    cls, _ = peer
    data = cls(text="x", color=2, headers=[{"tenant": "a"}], counts={"a": 1}).SerializeToString()
    sample = schema.message_type("pipework.test.Sample")
    assert sample.decode(data)["color"] == "GREEN"
    assert sample.decode(data, enums_as_ints=True)["color"] == 2
    full = sample.decode(data, include_defaults=True)
    assert (full["i32"], full["zigs"], full["text"]) == (0, [], "x")
    assert "maybe" not in full  # a field with presence that is absent stays absent
    reply = schema.message_type("pipework.test.Reply")
    nested = reply.encode({"samples": [{"unpacked": [1]}]})
    assert reply.decode(nested) == {"samples": [{"unpacked": [1]}]}
    camel = schema.message_type("pipework.legacy.Old")
    assert camel.decode(camel.encode({"id": 1, "plain": [2]}), field_names="proto") == {"id": 1, "plain": [2]}


def test_field_names(schema: DescriptorSet) -> None:
    header = schema.message_type("pipework.test.Header")
    data = header.encode({"tenant": "t", "shard": 4})
    assert header.decode(data, field_names="proto") == {"tenant": "t", "shard": 4}
    timestamp = schema.message_type("google.protobuf.Timestamp")
    data = timestamp.encode("1970-01-01T00:00:01.000000002Z")  # a well-known type's own JSON form
    assert data == b"\x08\x01\x10\x02"
    assert timestamp.decode(data) == "1970-01-01T00:00:01.000000002Z"


def test_encode_is_parsed_by_protobuf(schema: DescriptorSet, peer: tuple[Any, Any]) -> None:
    cls, pool = peer
    expected = make_sample(cls)
    as_dict = json_format.MessageToDict(expected, descriptor_pool=pool, preserving_proto_field_name=True)
    data = schema.message_type("pipework.test.Sample").encode(as_dict)
    assert cls.FromString(data) == expected
    assert read_field(data, 17, 1) is not None  # and the schema-less side reads the same bytes
    assert decode_fields(data)


def test_round_trip_both_spellings(schema: DescriptorSet) -> None:
    sample = schema.message_type("pipework.test.Sample")
    value = {"i64": "-5", "s64": 7, "text": "x", "header": {"tenant": "a"}, "counts": {"z": "3"}}
    data = sample.encode(value)
    assert sample.decode(data) == {"i64": "-5", "s64": "7", "text": "x", "header": {"tenant": "a"},
                                   "counts": {"z": "3"}}
    assert sample.encode({"zigs": [1], "maybe": 0}) == sample.encode({"zigs": ["1"], "maybe": 0})


def test_parse_and_serialize(schema: DescriptorSet, peer: tuple[Any, Any]) -> None:
    cls, _ = peer
    data = make_sample(cls).SerializeToString()
    sample = schema.message_type("pipework.test.Sample")
    msg = sample.parse(data)
    assert msg.header.tenant == "acme"  # type: ignore[attr-defined]
    assert sample.serialize(msg) == data
    with pytest.raises(LocalProtocolError, match="is not a"):
        schema.message_type("pipework.test.Header").serialize(msg)
    old = schema.message_type("pipework.legacy.Old")
    with pytest.raises(LocalProtocolError, match="cannot be serialized"):
        old.serialize(old.parse(b""))  # proto2 required field id missing


@pytest.mark.parametrize(("type_name", "hexed", "why"), [
    ("pipework.test.Sample", "08", "not a valid"),
    ("pipework.test.Sample", "7a 02 c3 28", "not a valid"),  # text: invalid UTF-8 in a proto3 string
    ("pipework.test.Sample", "0b" * 101 + "0c" * 101, "not a valid"),  # past protobuf's depth limit
])
def test_decode_refuses_bad_bytes(schema: DescriptorSet, type_name: str, hexed: str, why: str) -> None:
    with pytest.raises(RemoteProtocolError, match=why) as info:
        schema.message_type(type_name).decode(bytes.fromhex(hexed))
    assert info.value.status is StatusCode.INTERNAL


@pytest.mark.parametrize("value", [
    {"nope": 1}, {"i32": "x"}, {"i32": 2**31}, {"header": 5}, {"color": "PURPLE"}, {"ints": "1"},
    {"name": "a", "number": 1},  # two members of one oneof
])
def test_encode_refuses_what_does_not_fit(schema: DescriptorSet, value: dict[str, Any]) -> None:
    with pytest.raises(LocalProtocolError, match=r"does not fit pipework\.test\.Sample") as info:
        schema.message_type("pipework.test.Sample").encode(value)
    assert info.value.status is StatusCode.INVALID_ARGUMENT


def test_required_fields_are_checked_on_encode_only(schema: DescriptorSet) -> None:
    """As protobuf's Python parser: a proto2 message without its required field parses."""
    old = schema.message_type("pipework.legacy.Old")
    assert old.decode(b"") == {}
    with pytest.raises(LocalProtocolError, match="required"):
        old.encode({})


def test_ignore_unknown_fields(schema: DescriptorSet) -> None:
    header = schema.message_type("pipework.test.Header")
    lenient = header.encode({"tenant": "a", "extra": 1}, ignore_unknown_fields=True)
    assert lenient == header.encode({"tenant": "a"})


def test_set_without_imports_uses_protobufs_well_known_types(bare_descriptor_set_path: Path,
                                                             proto_dir: Path) -> None:
    with pytest.raises(LocalProtocolError, match=r"imports legacy\.proto.*--include_imports"):
        load_descriptor_set(bare_descriptor_set_path)
    bare = descriptor_pb2.FileDescriptorSet.FromString(bare_descriptor_set_path.read_bytes())
    (sample_file,) = bare.file
    del sample_file.dependency[1]  # drop legacy.proto and the field that used it
    fields = sample_file.message_type[1].field
    del fields[[f.name for f in fields].index("old")]
    loaded = load_descriptor_set(bare.SerializeToString())
    timestamp = loaded.message_type("google.protobuf.Timestamp")
    assert timestamp.decode(b"\x08\x01") == "1970-01-01T00:00:01Z"


def test_broken_descriptor_sets(descriptor_set_path: Path) -> None:
    with pytest.raises(LocalProtocolError, match="not a FileDescriptorSet"):
        load_descriptor_set(b"\x0a\x05\x0a")
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set_path.read_bytes())
    reversed_order = descriptor_pb2.FileDescriptorSet(file=list(reversed(files.file)))
    assert load_descriptor_set(reversed_order.SerializeToString()).message_type("pipework.test.Sample")
    cyclic = descriptor_pb2.FileDescriptorSet()
    cyclic.file.add(name="a.proto", dependency=["b.proto"])
    cyclic.file.add(name="b.proto", dependency=["a.proto"])
    with pytest.raises(LocalProtocolError, match="import cycle"):
        load_descriptor_set(cyclic.SerializeToString())
    clash = descriptor_pb2.FileDescriptorSet()
    clash.file.add(name="x.proto", package="p").message_type.add(name="M")
    clash.file.add(name="y.proto", package="p").message_type.add(name="M")
    with pytest.raises(LocalProtocolError, match=r"refuses y\.proto"):
        load_descriptor_set(clash.SerializeToString())


def test_sets_do_not_share_names(descriptor_set_path: Path) -> None:
    """Each set has its own pool: loading one twice, or two that share names, is fine."""
    first = load_descriptor_set(descriptor_set_path)
    second = load_descriptor_set(descriptor_set_path)
    assert first.message_type("pipework.test.Header").encode({"tenant": "a"}) == \
        second.message_type("pipework.test.Header").encode({"tenant": "a"})


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40))
def test_fuzz_decode(schema: DescriptorSet, data: bytes) -> None:
    """Arbitrary bytes decode to a dict or raise RemoteProtocolError, nothing else; what decodes
    re-encodes to a message that decodes the same."""
    sample = schema.message_type("pipework.test.Sample")
    try:
        value = sample.decode(data)
    except RemoteProtocolError:
        return
    assert sample.decode(sample.encode(value)) == value
