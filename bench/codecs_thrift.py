"""Thrift codec micro-benchmark: pipework's codec against the ``thrift`` library's pure-Python protocols.

Usage: ``.venv/bin/python bench/codecs_thrift.py [--seconds 0.5]`` (needs ``pip install thrift``).

The message is a typical call, ``saveUser(1: User user, 2: string trace_id, 3: list<string> tags)``
with ``User {1: i64 id, 2: string name, 3: i32 age, 4: bool active}``. The thrift library reads and
writes it through classes written the way ``thrift --gen py`` writes them (readFieldBegin, a branch
per field id, skip for the rest), on a TMemoryBuffer, with the pure-Python TBinaryProtocol and
TCompactProtocol; pipework decodes to and encodes from its generic ``{field_id: (TType, value)}``
form, with no IDL. The C-accelerated protocols (``fastbinary``) are shown for reference when the
library was built with them. Also shown: what a forwarding proxy pays on an unframed stream to find
a message's end without decoding it (``peek_header`` + ``skip``). Figures are the best of five
rounds, in CPU time of this process (``time.process_time``), so that other load on the machine
slows the clock less than it would wall time.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from pipework.codec.thrift import (
    Message,
    MessageType,
    Protocol,
    TList,
    TType,
    decode_message,
    encode_message,
    peek_header,
    skip,
)

try:
    from thrift.protocol import TBinaryProtocol, TCompactProtocol
    from thrift.Thrift import TMessageType
    from thrift.Thrift import TType as T
    from thrift.transport.TTransport import TMemoryBuffer
except ModuleNotFoundError:
    sys.exit("the thrift library is the baseline: .venv/bin/pip install thrift")

TAGS = ["alpha", "beta", "gamma", "delta", "epsilon"]


class User:
    """As ``thrift --gen py`` writes a struct (without its C fast path)."""

    __slots__ = ("active", "age", "id", "name")

    def __init__(self, id: int = 0, name: str = "", age: int = 0, active: bool = False) -> None:
        self.id, self.name, self.age, self.active = id, name, age, active

    def read(self, iprot: Any) -> None:
        iprot.readStructBegin()
        while True:
            _, ftype, fid = iprot.readFieldBegin()
            if ftype == T.STOP:
                break
            if fid == 1 and ftype == T.I64:
                self.id = iprot.readI64()
            elif fid == 2 and ftype == T.STRING:
                self.name = iprot.readString()
            elif fid == 3 and ftype == T.I32:
                self.age = iprot.readI32()
            elif fid == 4 and ftype == T.BOOL:
                self.active = iprot.readBool()
            else:
                iprot.skip(ftype)
            iprot.readFieldEnd()
        iprot.readStructEnd()

    def write(self, oprot: Any) -> None:
        oprot.writeStructBegin("User")
        oprot.writeFieldBegin("id", T.I64, 1)
        oprot.writeI64(self.id)
        oprot.writeFieldEnd()
        oprot.writeFieldBegin("name", T.STRING, 2)
        oprot.writeString(self.name)
        oprot.writeFieldEnd()
        oprot.writeFieldBegin("age", T.I32, 3)
        oprot.writeI32(self.age)
        oprot.writeFieldEnd()
        oprot.writeFieldBegin("active", T.BOOL, 4)
        oprot.writeBool(self.active)
        oprot.writeFieldEnd()
        oprot.writeFieldStop()
        oprot.writeStructEnd()


class SaveUserArgs:
    __slots__ = ("tags", "trace_id", "user")

    def __init__(self, user: User | None = None, trace_id: str = "", tags: list[str] | None = None) -> None:
        self.user, self.trace_id, self.tags = user, trace_id, tags or []

    def read(self, iprot: Any) -> None:
        iprot.readStructBegin()
        while True:
            _, ftype, fid = iprot.readFieldBegin()
            if ftype == T.STOP:
                break
            if fid == 1 and ftype == T.STRUCT:
                self.user = User()
                self.user.read(iprot)
            elif fid == 2 and ftype == T.STRING:
                self.trace_id = iprot.readString()
            elif fid == 3 and ftype == T.LIST:
                _, size = iprot.readListBegin()
                self.tags = [iprot.readString() for _ in range(size)]
                iprot.readListEnd()
            else:
                iprot.skip(ftype)
            iprot.readFieldEnd()
        iprot.readStructEnd()

    def write(self, oprot: Any) -> None:
        oprot.writeStructBegin("saveUser_args")
        oprot.writeFieldBegin("user", T.STRUCT, 1)
        assert self.user is not None
        self.user.write(oprot)
        oprot.writeFieldEnd()
        oprot.writeFieldBegin("trace_id", T.STRING, 2)
        oprot.writeString(self.trace_id)
        oprot.writeFieldEnd()
        oprot.writeFieldBegin("tags", T.LIST, 3)
        oprot.writeListBegin(T.STRING, len(self.tags))
        for tag in self.tags:
            oprot.writeString(tag)
        oprot.writeListEnd()
        oprot.writeFieldEnd()
        oprot.writeFieldStop()
        oprot.writeStructEnd()


ARGS = SaveUserArgs(User(1234567890123, "Ada Lovelace", 36, True), "3f2a9c7e-trace-0001", TAGS)
OURS = Message("saveUser", MessageType.CALL, 42, {
    1: (TType.STRUCT, {1: (TType.I64, 1234567890123), 2: (TType.STRING, b"Ada Lovelace"),
                       3: (TType.I32, 36), 4: (TType.BOOL, True)}),
    2: (TType.STRING, b"3f2a9c7e-trace-0001"),
    3: (TType.LIST, TList(TType.STRING, [t.encode() for t in TAGS])),
})


def lib_encode(factory: Callable[[Any], Any]) -> bytes:
    buf = TMemoryBuffer()
    proto = factory(buf)
    proto.writeMessageBegin("saveUser", TMessageType.CALL, 42)
    ARGS.write(proto)
    proto.writeMessageEnd()
    return bytes(buf.getvalue())


def lib_decode(factory: Callable[[Any], Any], data: bytes) -> SaveUserArgs:
    proto = factory(TMemoryBuffer(data))
    proto.readMessageBegin()
    args = SaveUserArgs()
    args.read(proto)
    proto.readMessageEnd()
    return args


Key = tuple[str, str]  # (operation, implementation)


def rates(fns: dict[Key, Callable[[], object]], seconds: float) -> dict[Key, float]:
    """Calls per CPU second of each of ``fns``: the best of five rounds, the functions taking
    turns within each round so that a busy machine slows them alike."""
    batch: dict[Key, int] = {}
    for name, fn in fns.items():  # calibrate a batch of ~10 ms
        n = 1
        while True:
            start = time.process_time()
            for _ in range(n):
                fn()
            elapsed = time.process_time() - start
            if elapsed > 0.01:
                break
            n *= 2
        batch[name] = max(1, int(n * seconds / 5 / len(fns) / elapsed))
    best = dict.fromkeys(fns, 0.0)
    for _ in range(5):
        for name, fn in fns.items():
            n = batch[name]
            start = time.process_time()
            for _ in range(n):
                fn()
            best[name] = max(best[name], n / (time.process_time() - start))
    return best


Row = tuple[str, str, str, float, int]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per comparison (default 1)")
    seconds = parser.parse_args().seconds

    rows: list[Row] = []
    protocols = [("binary", Protocol.BINARY, TBinaryProtocol.TBinaryProtocol),
                 ("compact", Protocol.COMPACT, TCompactProtocol.TCompactProtocol)]
    for label, proto, lib in protocols:
        data = lib_encode(lib)
        assert encode_message(OURS, proto) == data, "pipework and thrift disagree on the bytes"
        assert decode_message(data, proto) == OURS
        size = len(data)

        def boundary(data: bytes = data, proto: Protocol = proto) -> int | None:
            header = peek_header(data, proto)
            assert header is not None
            return skip(data, proto, header.body_offset)

        decoders: dict[Key, Callable[[], object]] = {
            ("decode", "pipework"): partial(decode_message, data, proto),
            ("decode", "thrift (pure Python)"): partial(lib_decode, lib, data),
            ("find end", "pipework peek_header+skip"): boundary,
        }
        encoders: dict[Key, Callable[[], object]] = {
            ("encode", "pipework"): partial(encode_message, OURS, proto),
            ("encode", "thrift (pure Python)"): partial(lib_encode, lib),
        }
        measured = rates(decoders, seconds) | rates(encoders, seconds)
        rows.extend((label, op, impl, per_s, size) for (op, impl), per_s in measured.items())
    try:
        from thrift.protocol import fastbinary  # noqa: F401  # only to know whether it was built
    except ImportError:
        pass
    else:  # for reference: thrift's C extension, used by generated code through TBase and thrift_spec
        rows.extend(_accelerated(seconds))

    print(f"{'protocol':<8} {'op':<9} {'implementation':<34} {'msgs/s':>10} {'MB/s':>7} {'us/msg':>7}")
    for label, op, impl, per_s, size in rows:
        print(f"{label:<8} {op:<9} {impl:<34} {per_s:>10,.0f} {per_s * size / 1e6:>7.1f} {1e6 / per_s:>7.2f}")
    binary_size = len(lib_encode(TBinaryProtocol.TBinaryProtocol))
    compact_size = len(lib_encode(TCompactProtocol.TCompactProtocol))
    python = sys.version.split()[0]
    print(f"message: {binary_size} bytes binary, {compact_size} bytes compact; Python {python}")


def _accelerated(seconds: float) -> list[Row]:
    from thrift.protocol.TBase import TBase

    class AUser(TBase):  # type: ignore[misc]  # thrift ships no type hints
        __slots__ = ("active", "age", "id", "name")
        thrift_spec = (None, (1, T.I64, "id", None, None), (2, T.STRING, "name", "UTF8", None),
                       (3, T.I32, "age", None, None), (4, T.BOOL, "active", None, None))

        def __init__(self, id: int = 0, name: str = "", age: int = 0, active: bool = False) -> None:
            self.id, self.name, self.age, self.active = id, name, age, active

    class AArgs(TBase):  # type: ignore[misc]  # thrift ships no type hints
        __slots__ = ("tags", "trace_id", "user")
        thrift_spec = (None, (1, T.STRUCT, "user", [AUser, AUser.thrift_spec], None),
                       (2, T.STRING, "trace_id", "UTF8", None),
                       (3, T.LIST, "tags", (T.STRING, "UTF8", False), None))

        def __init__(self, user: Any = None, trace_id: str = "", tags: Any = None) -> None:
            self.user, self.trace_id, self.tags = user, trace_id, tags

    args = AArgs(AUser(1234567890123, "Ada Lovelace", 36, True), "3f2a9c7e-trace-0001", TAGS)
    rows: list[Row] = []
    for label, factory in (("binary", TBinaryProtocol.TBinaryProtocolAccelerated),
                           ("compact", TCompactProtocol.TCompactProtocolAccelerated)):
        def encode(factory: Any = factory) -> bytes:
            buf = TMemoryBuffer()
            proto = factory(buf)
            proto.writeMessageBegin("saveUser", TMessageType.CALL, 42)
            args.write(proto)
            proto.writeMessageEnd()
            return bytes(buf.getvalue())

        data = encode()

        def decode(factory: Any = factory, data: bytes = data) -> Any:
            proto = factory(TMemoryBuffer(data))
            proto.readMessageBegin()
            got = AArgs()
            got.read(proto)
            proto.readMessageEnd()
            return got

        assert decode().user.name == "Ada Lovelace"
        impl = "thrift + C fastbinary (reference)"
        measured = rates({("decode", impl): decode, ("encode", impl): encode}, seconds)
        rows.extend((label, op, name, per_s, len(data)) for (op, name), per_s in measured.items())
    return rows


if __name__ == "__main__":
    main()
