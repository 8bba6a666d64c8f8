"""The package's shape: the wire format and gRPC framing work without protobuf installed; the
schema names load protobuf only when first used."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import pipework.codec.protobuf as pb

WITHOUT_PROTOBUF = textwrap.dedent("""
    import sys

    class NoGoogle:
        def find_spec(self, name, path=None, target=None):
            if name == "google" or name.startswith("google."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
            return None

    sys.meta_path.insert(0, NoGoogle())
    import pipework.codec.protobuf as pb

    assert pb.decode_fields(bytes.fromhex("08 96 01")) == [(1, 0, 150)]
    assert pb.read_field(bytes.fromhex("1a 03 08 96 01"), 3, 1).value == 150
    assert pb.decode_packed(bytes.fromhex("03 8e 02 9e a7 05"), "int32") == [3, 270, 86942]
    decoder = pb.MessageDecoder("gzip")
    decoder.receive_data(pb.encode_message(b"x" * 100, "gzip"))
    assert decoder.next_event().data == b"x" * 100
    try:
        pb.DescriptorSet
    except ModuleNotFoundError:
        pass
    else:
        raise AssertionError("the schema loaded without protobuf")
    assert not [m for m in sys.modules if m == "google" or m.startswith("google.")]
    print("ok")
""")


def test_wire_and_framing_work_without_protobuf() -> None:
    result = subprocess.run([sys.executable, "-W", "error", "-c", WITHOUT_PROTOBUF], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_schema_names_are_exported_lazily() -> None:
    assert set(pb.__all__) >= {"DescriptorSet", "MessageType", "load_descriptor_set", "method_types"}
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pb.nope  # noqa: B018  # the lookup is the test


def test_every_exported_name_exists() -> None:
    pytest.importorskip("google.protobuf", reason="the schema names need protobuf")
    for name in pb.__all__:
        assert getattr(pb, name) is not None
