"""The test schema, compiled at test time into a descriptor set (never committed).

The compiler is ``grpc_tools.protoc`` (pip install grpcio-tools), else a system ``protoc``
(apt-get install protobuf-compiler). Without either, the tests that need a schema skip, or fail
under PIPEWORK_REQUIRE_ALL=1 (DESIGN.md 7).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path

import pytest

REQUIRE_ALL = os.environ.get("PIPEWORK_REQUIRE_ALL") == "1"

# Every scalar type once (fields 1-16, one-byte tags for 1-15), nested and repeated messages,
# packed and unpacked repeated scalars, a map, a oneof, explicit presence, a well-known type,
# and a proto2 file with a group and a required field imported into it.
SAMPLE_PROTO = """\
syntax = "proto3";
package pipework.test;
import "google/protobuf/timestamp.proto";
import "legacy.proto";

enum Color { COLOR_UNSPECIFIED = 0; RED = 1; GREEN = 2; }

message Header { string tenant = 1; uint32 shard = 2; }

message Sample {
  int32 i32 = 1;      int64 i64 = 2;      uint32 u32 = 3;     uint64 u64 = 4;
  sint32 s32 = 5;     sint64 s64 = 6;     bool flag = 7;      Color color = 8;
  fixed32 f32 = 9;    sfixed32 sf32 = 10; float fl = 11;
  fixed64 f64 = 12;   sfixed64 sf64 = 13; double db = 14;
  string text = 15;   bytes blob = 16;
  Header header = 17;
  repeated int32 ints = 18;
  repeated sint64 zigs = 19;
  repeated double doubles = 20;
  repeated fixed32 fixeds = 21;
  repeated string tags = 22;
  repeated Header headers = 23;
  map<string, int64> counts = 24;
  oneof choice { string name = 25; int32 number = 26; }
  google.protobuf.Timestamp when = 27;
  optional int32 maybe = 28;
  repeated int32 unpacked = 29 [packed = false];
  pipework.legacy.Old old = 30;
}

message Reply { Header header = 1; repeated Sample samples = 2; }

service Router {
  rpc Route(Sample) returns (Reply);
  rpc Watch(stream Header) returns (stream Sample);
}
"""

LEGACY_PROTO = """\
syntax = "proto2";
package pipework.legacy;

message Old {
  required int32 id = 1;
  optional group Extra = 2 { optional string note = 3; optional int32 level = 4; }
  repeated int32 plain = 5;
}
"""


def need(what: str) -> None:
    """Skip the test for lack of ``what`` (fail under PIPEWORK_REQUIRE_ALL=1)."""
    if REQUIRE_ALL:
        pytest.fail(f"{what} is missing and PIPEWORK_REQUIRE_ALL=1")
    pytest.skip(f"{what} is missing")


def _compile(directory: Path, out: Path, include_imports: bool) -> None:
    args = [f"-I{directory}", f"--descriptor_set_out={out}", "sample.proto"]
    if include_imports:
        args.insert(2, "--include_imports")
    try:
        from grpc_tools import protoc  # type: ignore[import-untyped]  # grpcio-tools has no type hints
    except ImportError:
        protoc = None
    if protoc is not None:
        well_known = str(files("grpc_tools") / "_proto")
        if protoc.main(["protoc", f"-I{well_known}", *args]) != 0:
            raise RuntimeError("grpc_tools.protoc failed to compile the test schema")
        return
    system = shutil.which("protoc")
    if system is None:
        need("a protobuf compiler (pip install grpcio-tools, or apt-get install protobuf-compiler)")
        return
    includes = ["-I/usr/include"] if Path("/usr/include/google/protobuf").is_dir() else []
    subprocess.run([system, *includes, *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def proto_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("proto")
    (directory / "sample.proto").write_text(SAMPLE_PROTO)
    (directory / "legacy.proto").write_text(LEGACY_PROTO)
    return directory


@pytest.fixture(scope="session")
def descriptor_set_path(proto_dir: Path) -> Path:
    """``sample.proto`` compiled with ``--include_imports``."""
    out = proto_dir / "sample.desc"
    if not out.exists():
        _compile(proto_dir, out, include_imports=True)
    return out


@pytest.fixture(scope="session")
def bare_descriptor_set_path(proto_dir: Path) -> Path:
    """``sample.proto`` compiled without its imports."""
    out = proto_dir / "bare.desc"
    if not out.exists():
        _compile(proto_dir, out, include_imports=False)
    return out
