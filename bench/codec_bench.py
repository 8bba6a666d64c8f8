"""Codec micro-benchmarks: pipework's sans-IO codecs beside the reference Python libraries.

Usage: ``bench/codec_bench.py [--quick] [--only dns,mqtt,...] [--markdown FILE] [--note TEXT]``

For each codec, typical messages are decoded and encoded by pipework and, where one exists, by the
library the codec's tests use as their independent peer: dnspython, paho-mqtt, thrift
(TBinaryProtocol/TCompactProtocol, as in bench/codecs_thrift.py), python-hessian, protobuf,
redis-py and hiredis, ExaBGP, websockets, dubbo-python. SOCKS and the PROXY protocol have no such
peer worth timing and are measured on their own. Each reference is labelled by what it runs on:
``pure Python``, ``C`` (protobuf's upb, hiredis) or ``Python + C`` (websockets with its C
``speedups`` masking; it is also timed with its pure-Python ``websockets.utils.apply_mask``). The
issue's targets are each codec at least as fast as the pure-Python reference it is compared with,
and DNS decode at least 2x dnspython for a typical answer; rows that miss are flagged. References
with any C in them are shown for context and never count against a target.

Figures are CPU time of this process (``time.process_time``), so that other load on the machine
slows the clock less than it would wall time: every function is first run for ~20 ms (warm-up and
calibration), then for three rounds of a third of ``--seconds`` each (0.45 s by default, 0.06 s
with ``--quick``), pipework and its references taking turns within each round so that a busy
machine slows them alike; the best round counts. Stream decoders (RESP, WebSocket) are given 100
messages per call, as a pipelined connection would be, and figures are per message. The load
average is printed at the start and the end: on a busy machine, rerun and compare ratios.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import platform
import struct
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from ipaddress import IPv4Address, ip_network
from pathlib import Path
from typing import Any

import run

_HERE = os.path.dirname(os.path.abspath(__file__))
Fn = Callable[[], object]
ROUNDS = 3
BATCH = 100  # messages per call for the stream decoders
DEFAULT_SECONDS = 0.45
QUICK_SECONDS = 0.06


# --- what is measured ------------------------------------------------------------------------


@dataclass
class Ref:
    """A reference implementation of the same operation."""

    name: str
    kind: str  # "pure Python", "C" or "Python + C"
    fn: Fn | None  # None: ``rate`` was measured elsewhere (a child process)
    rate: float = 0.0  # messages per CPU second, once measured
    compared: bool = True  # False: shown for context, no target

    @property
    def target(self) -> bool:
        """Whether the issue's target (at least as fast) applies: only to pure-Python references."""
        return self.compared and self.kind == "pure Python"


@dataclass
class Case:
    """One operation on one message: pipework's function and its references."""

    codec: str
    message: str
    op: str
    size: int  # bytes of one message on the wire
    ours: Fn
    refs: list[Ref] = field(default_factory=list)
    per_call: int = 1  # messages each call handles
    rate: float = 0.0


@dataclass
class Codec:
    name: str
    cases: list[Case] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str = ""


def measure(fns: Sequence[Fn], seconds: float) -> list[float]:
    """Calls per CPU second of each of ``fns``: ~20 ms each of warm-up and calibration, then
    ROUNDS rounds of ``seconds / ROUNDS`` each, the functions taking turns; the best round counts."""
    counts: list[int] = []
    for fn in fns:
        n = 1
        while True:
            start = time.process_time()
            for _ in range(n):
                fn()
            elapsed = time.process_time() - start
            if elapsed >= 0.02:
                break
            n *= 2
        counts.append(max(1, round(n * seconds / ROUNDS / elapsed)))
    best = [0.0] * len(fns)
    for _ in range(ROUNDS):
        for i, fn in enumerate(fns):
            n = counts[i]
            start = time.process_time()
            for _ in range(n):
                fn()
            elapsed = time.process_time() - start
            if elapsed > 0:
                best[i] = max(best[i], n / elapsed)
    return best


def run_codec(codec: Codec, seconds: float) -> None:
    for case in codec.cases:
        timed = [ref for ref in case.refs if ref.fn is not None]
        fns: list[Fn] = [case.ours] + [ref.fn for ref in timed if ref.fn is not None]
        rates = [r * case.per_call for r in measure(fns, seconds)]
        case.rate = rates[0]
        for ref, rate in zip(timed, rates[1:], strict=True):
            ref.rate = rate


def _missing(codec: Codec, package: str, why: ModuleNotFoundError | SystemExit) -> None:
    codec.notes.append(f"{package} is not installed ({why}): pipework measured alone")


# --- DNS -------------------------------------------------------------------------------------


def dns_codec() -> Codec:
    from pipework.codec import dns as pw

    codec = Codec("dns")
    try:
        import dns.message
        import dns.rrset
    except ModuleNotFoundError as e:
        _missing(codec, "dnspython", e)
        query_wire = pw.encode(pw.make_query("www.example.com", pw.RRType.A))
        codec.cases += [Case("dns", "query", "decode", len(query_wire), partial(pw.decode, query_wire))]
        return codec

    query = dns.message.make_query("www.example.com.", "A", use_edns=0, payload=1232)
    query.id = 0x2B1D
    answer = dns.message.make_response(query)
    answer.answer.append(dns.rrset.from_text("www.example.com.", 300, "IN", "CNAME", "cdn.example.net."))
    answer.answer.append(
        dns.rrset.from_text(
            "cdn.example.net.", 60, "IN", "A", "192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13"
        )
    )
    for label, msg in (("query (EDNS)", query), ("answer: CNAME + 4 A, compressed", answer)):
        wire = msg.to_wire()
        ours = pw.decode(wire)
        assert len(ours.answer) == sum(len(rrset) for rrset in msg.answer)
        again = pw.encode(ours)
        assert pw.decode(again) == ours
        if again != wire:
            codec.notes.append(
                f"{label}: pipework re-encodes {len(again)} bytes, dnspython wrote {len(wire)}"
            )
        codec.cases += [
            Case(
                "dns",
                label,
                "decode",
                len(wire),
                partial(pw.decode, wire),
                [Ref("dnspython", "pure Python", partial(dns.message.from_wire, wire))],
            ),
            Case(
                "dns",
                label,
                "encode",
                len(wire),
                partial(pw.encode, ours),
                [Ref("dnspython", "pure Python", msg.to_wire)],
            ),
        ]
    codec.cases.append(
        Case(
            "dns",
            "answer: CNAME + 4 A, compressed",
            "peek question",
            len(wire),
            partial(pw.peek_question, wire),
        )
    )
    codec.notes.append(
        "dnspython builds rdata objects, Name objects and RRsets; pipework's decode builds "
        "its slotted dataclasses (ipaddress objects for A records)"
    )
    return codec


# --- MQTT ------------------------------------------------------------------------------------


def mqtt_codec() -> Codec:
    from pipework.codec import mqtt as pw

    codec = Codec("mqtt")
    topic = "sensors/building-7/floor-3/room-12/temperature"
    payload = bytes(range(100))
    connect = pw.Connect(
        "sensor-4a7f-0012",
        protocol_level=pw.MQTT_3_1_1,
        keep_alive=60,
        username="device",
        password=b"s3cret-token",
    )
    connect_wire = pw.encode(connect)
    publishes = {
        level: pw.Publish(topic, payload, qos=1, packet_id=1234) for level in (pw.MQTT_3_1_1, pw.MQTT_5)
    }
    try:
        import paho.mqtt.client as mqtt
        from paho.mqtt import _packet
        from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
    except ModuleNotFoundError as e:
        _missing(codec, "paho-mqtt", e)
        codec.cases.append(
            Case("mqtt", "CONNECT 3.1.1", "decode", len(connect_wire), partial(pw.decode, connect_wire))
        )
        return codec

    def client(level: int) -> Any:
        """A paho Client whose packets are built and handed back instead of being queued for a socket."""
        protocol = MQTTProtocolVersion.MQTTv5 if level == pw.MQTT_5 else MQTTProtocolVersion.MQTTv311
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sensor-4a7f-0012", protocol=protocol)
        c.username_pw_set("device", "s3cret-token")
        c._sock = _NoSocket()  # _send_publish only checks that there is one
        c._packet_queue = lambda command, packet, mid, qos, info=None: bytes(packet)
        return c

    paho311 = client(pw.MQTT_3_1_1)
    assert paho311._send_connect(60) == connect_wire, "paho and pipework disagree on CONNECT"
    codec.cases += [
        Case("mqtt", "CONNECT 3.1.1", "decode", len(connect_wire), partial(pw.decode, connect_wire)),
        Case(
            "mqtt",
            "CONNECT 3.1.1",
            "encode",
            len(connect_wire),
            partial(pw.encode, connect),
            [Ref("paho-mqtt", "pure Python", partial(paho311._send_connect, 60))],
        ),
    ]
    for level, publish in publishes.items():
        label = f"PUBLISH {'5.0' if level == pw.MQTT_5 else '3.1.1'} QoS1, 100 B"
        wire = pw.encode(publish, level)
        paho = client(level)
        protocol = paho._protocol
        assert paho._send_publish(1234, topic.encode(), payload, qos=1) == wire, f"paho disagrees on {label}"
        first, body = wire[0], _mqtt_body(wire)
        got = _packet.decode_publish(first, body, protocol)
        assert (got.topic, got.payload, got.mid) == (topic.encode(), payload, 1234)
        codec.cases += [
            Case(
                "mqtt",
                label,
                "decode",
                len(wire),
                partial(pw.decode, wire, level),
                [Ref("paho-mqtt", "pure Python", partial(_packet.decode_publish, first, body, protocol))],
            ),
            Case(
                "mqtt",
                label,
                "encode",
                len(wire),
                partial(pw.encode, publish, level),
                [
                    Ref(
                        "paho-mqtt",
                        "pure Python",
                        partial(paho._send_publish, 1234, topic.encode(), payload, qos=1),
                    )
                ],
            ),
        ]
    wire = pw.encode(publishes[pw.MQTT_3_1_1], pw.MQTT_3_1_1)
    codec.cases.append(
        Case("mqtt", "PUBLISH 3.1.1 QoS1, 100 B", "peek topic", len(wire), partial(pw.peek_topic, wire))
    )
    codec.notes += [
        "paho-mqtt is a client: it has no CONNECT decoder. Its rows are its own packet code: "
        "`Client._send_connect` / `_send_publish` with the socket queue replaced by `bytes(packet)`, and "
        "`_packet.decode_publish` given the packet already split after its fixed header (paho reads the "
        "type and remaining length byte by byte from its socket, not counted here); pipework's decode "
        "parses the fixed header too and checks the topic's UTF-8",
    ]
    return codec


class _NoSocket:
    """Stands for paho's socket: never read or written, closed when the Client is collected."""

    def close(self) -> None:
        pass


def _mqtt_body(wire: bytes) -> bytes:
    """The packet after its fixed header (the type byte and the remaining length)."""
    pos = 1
    while wire[pos] & 0x80:
        pos += 1
    return wire[pos + 1 :]


# --- Thrift ----------------------------------------------------------------------------------


def thrift_codec() -> Codec:
    from pipework.codec.thrift import Protocol, decode_message, encode_message, peek_header, skip

    codec = Codec("thrift")
    spec = importlib.util.spec_from_file_location("codecs_thrift", os.path.join(_HERE, "codecs_thrift.py"))
    assert spec is not None
    assert spec.loader is not None
    ct = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(ct)
    except (ModuleNotFoundError, SystemExit) as e:
        codec.skipped = f"bench/codecs_thrift.py needs the thrift library ({e})"
        return codec
    binary, compact = ct.TBinaryProtocol.TBinaryProtocol, ct.TCompactProtocol.TCompactProtocol
    for label, proto, lib in (
        ("saveUser call, binary", Protocol.BINARY, binary),
        ("saveUser call, compact", Protocol.COMPACT, compact),
    ):
        data = ct.lib_encode(lib)
        assert encode_message(ct.OURS, proto) == data, "pipework and thrift disagree on the bytes"

        def boundary(data: bytes = data, proto: Protocol = proto) -> int | None:
            header = peek_header(data, proto)
            assert header is not None
            return skip(data, proto, header.body_offset)

        codec.cases += [
            Case(
                "thrift",
                label,
                "decode",
                len(data),
                partial(decode_message, data, proto),
                [Ref("thrift", "pure Python", partial(ct.lib_decode, lib, data))],
            ),
            Case(
                "thrift",
                label,
                "encode",
                len(data),
                partial(encode_message, ct.OURS, proto),
                [Ref("thrift", "pure Python", partial(ct.lib_encode, lib))],
            ),
            Case("thrift", label, "find end", len(data), boundary),
        ]
    codec.notes.append(
        "messages and the thrift side (classes as `thrift --gen py` writes them, on a "
        "TMemoryBuffer) come from bench/codecs_thrift.py, which also times thrift's C "
        "`fastbinary`; pipework decodes to its generic `{field_id: (TType, value)}` form"
    )
    return codec


# --- Hessian ---------------------------------------------------------------------------------


def hessian_codec() -> Codec:
    from pipework.codec.hessian import HessianObject, Long, decode, encode

    codec = Codec("hessian")

    # python-hessian's 'S'/'R' string reader drops the characters x7a-x7f: none in these strings
    def user(i: int) -> HessianObject:
        return HessianObject(
            "org.demo.dto.UserDTO",
            {
                "id": Long(1_000_000_000_000 + i),
                "name": f"Ada Lovelace {i}",
                "email": f"ada{i}@example.org",
                "age": 36,
                "active": True,
                "balance": 1234.5,
                "roles": ["admin", "dev", "ops"],
                "attributes": {"region": "eu-west-1", "tier": "gold"},
            },
        )

    messages = {"object, 8 fields": user(1), "list of 20 objects": [user(i) for i in range(20)]}
    try:
        from pyhessian.parser import Parser, ParserV2
    except ModuleNotFoundError as e:
        _missing(codec, "python-hessian", e)
        Parser = ParserV2 = None

    def peer_decode(data: bytes) -> Any:
        parser = Parser()
        parser._stream = io.BytesIO(data)
        return ParserV2(parser)._read_object()

    warnings.simplefilter("ignore", DeprecationWarning)  # python-hessian's dates use utcfromtimestamp
    for label, value in messages.items():
        data = encode(value)
        assert decode(data) == value
        refs = []
        if ParserV2 is not None:
            got = peer_decode(data)
            first = got[0] if isinstance(got, (list, tuple)) else got
            assert first.__getstate__()["email"] in ("ada0@example.org", "ada1@example.org"), got
            refs = [Ref("python-hessian", "pure Python", partial(peer_decode, data))]
        codec.cases += [
            Case("hessian", label, "decode", len(data), partial(decode, data), refs),
            Case("hessian", label, "encode", len(data), partial(encode, value)),
        ]
    codec.notes.append(
        "python-hessian writes only Hessian 1, so only decoding is compared (its ParserV2, "
        "reading from a BytesIO as its client does)"
    )
    return codec


# --- Protobuf --------------------------------------------------------------------------------


def _protobuf_message() -> tuple[Any, bytes]:
    """A typical gRPC message, as protobuf's generated class would be: its class and wire form."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FileDescriptorProto(name="bench_user.proto", package="bench", syntax="proto3")
    f = descriptor_pb2.FieldDescriptorProto
    address = fdp.message_type.add(name="Address")
    for number, name in enumerate(("street", "city", "zip"), 1):
        address.field.add(name=name, number=number, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
    user = fdp.message_type.add(name="User")
    for number, name, kind, label in (
        (1, "id", f.TYPE_INT64, f.LABEL_OPTIONAL),
        (2, "name", f.TYPE_STRING, f.LABEL_OPTIONAL),
        (3, "email", f.TYPE_STRING, f.LABEL_OPTIONAL),
        (4, "age", f.TYPE_INT32, f.LABEL_OPTIONAL),
        (5, "active", f.TYPE_BOOL, f.LABEL_OPTIONAL),
        (6, "tags", f.TYPE_STRING, f.LABEL_REPEATED),
        (7, "address", f.TYPE_MESSAGE, f.LABEL_OPTIONAL),
        (8, "score", f.TYPE_DOUBLE, f.LABEL_OPTIONAL),
        (9, "created_at", f.TYPE_INT64, f.LABEL_OPTIONAL),
        (10, "scores", f.TYPE_INT32, f.LABEL_REPEATED),
    ):
        added = user.field.add(name=name, number=number, type=kind, label=label)
        if kind == f.TYPE_MESSAGE:
            added.type_name = ".bench.Address"
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(fdp.SerializeToString())
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("bench.User"))
    msg = cls(
        id=1234567890123,
        name="Ada Lovelace",
        email="ada@example.org",
        age=36,
        active=True,
        tags=["admin", "dev", "ops"],
        score=98.25,
        created_at=1764115200000,
        scores=[3, 14, 159, 2653],
    )
    msg.address.street, msg.address.city, msg.address.zip = "12 St James's Square", "London", "SW1Y 4JH"
    return cls, msg.SerializeToString()


def _protobuf_rates(seconds: float) -> dict[str, float]:
    """protobuf's parse and serialize rates for the message, in this process's implementation."""
    cls, data = _protobuf_message()
    msg = cls.FromString(data)
    decode_rate, encode_rate = measure([partial(cls.FromString, data), msg.SerializeToString], seconds)
    return {"decode": decode_rate, "encode": encode_rate}


def protobuf_codec(seconds: float) -> Codec:
    from pipework.codec.protobuf import decode_fields, encode_fields, read_field

    codec = Codec("protobuf")
    try:
        from google.protobuf.internal import api_implementation
    except ModuleNotFoundError as e:
        codec.skipped = f"protobuf is not installed ({e}): no message to measure"
        return codec
    cls, data = _protobuf_message()
    fields = decode_fields(data)
    assert encode_fields(fields) == data
    msg = cls.FromString(data)
    impl = api_implementation.Type()
    kind = "pure Python" if impl == "python" else "C"
    codec.cases += [
        Case(
            "protobuf",
            "User, 10 fields + nested",
            "decode",
            len(data),
            partial(decode_fields, data),
            [Ref(f"protobuf ({impl})", kind, partial(cls.FromString, data))],
        ),
        Case(
            "protobuf",
            "User, 10 fields + nested",
            "encode",
            len(data),
            partial(encode_fields, fields),
            [Ref(f"protobuf ({impl})", kind, msg.SerializeToString)],
        ),
        Case(
            "protobuf",
            "User, 10 fields + nested",
            "read field 7.2",
            len(data),
            partial(read_field, data, 7, 2),
        ),
    ]
    codec.notes.append(
        f"protobuf {impl} is this interpreter's default implementation "
        f"({'its C core, upb' if impl == 'upb' else impl}). pipework's `decode_fields` is "
        "schema-less: nested messages stay bytes until asked for; protobuf parses the whole "
        "message against its schema"
    )
    if impl != "python":  # the pure-Python implementation, in a child process (chosen at import)
        env = dict(os.environ, PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION="python")
        child = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--protobuf-child", str(seconds)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if child.returncode == 0:
            got = json.loads(child.stdout)
            for case, op in zip(codec.cases, ("decode", "encode"), strict=False):
                case.refs.append(Ref("protobuf (python)", "pure Python", None, got[op]))
            codec.notes.append(
                "protobuf (python) is PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python, timed "
                "in a child process (the implementation is chosen at import)"
            )
        else:
            codec.notes.append(f"the pure-Python protobuf child failed: {child.stderr.strip()[-300:]}")
    return codec


# --- RESP ------------------------------------------------------------------------------------


def resp_codec() -> Codec:
    from pipework.codec.resp import RESP2, Array, BulkString, Decoder, Peer, encode, encode_command

    codec = Codec("resp")
    value = bytes(range(32, 132))  # 100 bytes
    args = (b"SET", b"session:4f2a9c", value, b"EX", b"3600")
    request = encode_command(*args)
    items = tuple(BulkString(b"item:%08d:payload" % i) for i in range(10))
    reply = encode(Array(items), RESP2)
    try:
        import hiredis
        from redis._parsers.encoders import Encoder
        from redis._parsers.resp2 import _RESP2Parser
        from redis._parsers.socket import SocketBuffer
        from redis.connection import PythonRespSerializer
    except ModuleNotFoundError as e:
        _missing(codec, "redis / hiredis", e)
        hiredis = None

    for label, wire, peer in (
        (f"SET request, {len(value)} B value", request, Peer.CLIENT),
        ("reply: array of 10 bulk strings", reply, Peer.SERVER),
    ):
        stream = wire * BATCH

        def ours(stream: bytes = stream, peer: Peer = peer) -> None:
            decoder = Decoder(RESP2, peer=peer)
            decoder.receive_data(stream)
            next_event = decoder.next_event
            for _ in range(BATCH):
                next_event()

        refs = []
        if hiredis is not None:

            def redis_py(stream: bytes = stream) -> None:
                parser = _RESP2Parser(socket_read_size=65536)
                parser._buffer = SocketBuffer(None, 65536, None)  # type: ignore[arg-type]  # never reads
                parser._buffer._buffer = io.BytesIO(stream)
                parser.encoder = Encoder("utf-8", "strict", False)
                read = parser.read_response
                for _ in range(BATCH):
                    read(disable_decoding=True)

            def c_reader(stream: bytes = stream) -> None:
                reader = hiredis.Reader()
                reader.feed(stream)
                gets = reader.gets
                for _ in range(BATCH):
                    gets()

            refs = [Ref("redis-py _RESP2Parser", "pure Python", redis_py), Ref("hiredis", "C", c_reader)]
        codec.cases.append(Case("resp", label, "decode", len(wire), ours, refs, per_call=BATCH))

    refs = []
    if hiredis is not None:
        packer = PythonRespSerializer(6000, Encoder("utf-8", "strict", False).encode)
        assert b"".join(packer.pack(*args)) == request == hiredis.pack_command(args)
        refs = [
            Ref("redis-py PythonRespSerializer", "pure Python", partial(packer.pack, *args)),
            Ref("hiredis.pack_command", "C", partial(hiredis.pack_command, args)),
        ]
    codec.cases += [
        Case(
            "resp",
            f"SET request, {len(value)} B value",
            "encode",
            len(request),
            partial(encode_command, *args),
            refs,
        ),
        Case(
            "resp",
            "reply: array of 10 bulk strings",
            "encode",
            len(reply),
            partial(encode, Array(items), RESP2),
        ),
    ]
    codec.notes.append(
        f"decoders get {BATCH} messages per call (a pipelined stream); redis-py's parser "
        "reads them from its SocketBuffer, filled beforehand so that no socket is read, with "
        "decoding to str off; pipework's Decoder keeps the wire types (frozen dataclasses) "
        "and enforces its limits, and redis-py and hiredis return plain bytes and lists"
    )
    return codec


# --- BGP -------------------------------------------------------------------------------------


def bgp_codec() -> Codec:
    from pipework.codec.bgp import Update, decode, encode

    codec = Codec("bgp")
    try:
        from exabgp.bgp.message import Message
        from exabgp.bgp.message import Open as XOpen
        from exabgp.bgp.message import Update as XUpdate
        from exabgp.bgp.message.action import Action
        from exabgp.bgp.message.direction import Direction
        from exabgp.bgp.message.open import ASN, HoldTime, RouterID, Version
        from exabgp.bgp.message.open.capability import Capabilities
        from exabgp.bgp.message.open.capability.negotiated import Negotiated
        from exabgp.bgp.message.update.attribute import (
            MED,
            ASPath,
            Attributes,
            Communities,
            LocalPreference,
            NextHop,
            Origin,
        )
        from exabgp.bgp.message.update.attribute.aspath import SEQUENCE
        from exabgp.bgp.message.update.attribute.community.initial.community import Community
        from exabgp.bgp.message.update.nlri.cidr import CIDR
        from exabgp.bgp.message.update.nlri.inet import INET
        from exabgp.bgp.neighbor import Neighbor
        from exabgp.logger import log
        from exabgp.protocol.family import AFI, SAFI
        from exabgp.protocol.ip import IP
    except ModuleNotFoundError as e:
        codec.skipped = f"exabgp is not installed ({e}): it builds the message"
        return codec

    log.disable()
    neighbor = Neighbor()  # ExaBGP's encoders and parser need a negotiated session, as its reactor builds
    neighbor["local-as"], neighbor["peer-as"] = ASN(4200000001), ASN(65002)
    neighbor["capability"]["asn4"] = True
    neighbor.add_family((AFI.ipv4, SAFI.unicast))
    open_ = XOpen(
        Version(4), ASN(4200000001), HoldTime(90), RouterID("192.0.2.9"), Capabilities().new(neighbor, False)
    )
    negotiated = Negotiated(neighbor)
    negotiated.sent(open_)
    negotiated.received(open_)

    nets = [
        ip_network(n)
        for n in ("203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/25", "10.20.0.0/16", "172.16.32.0/20")
    ]

    def nlri() -> list[Any]:
        out = []
        for net in nets:
            n = INET(AFI.ipv4, SAFI.unicast, Action.ANNOUNCE)
            n.cidr = CIDR(net.network_address.packed, net.prefixlen)
            n.nexthop = IP.create("192.0.2.1")
            out.append(n)
        return out

    attributes = Attributes()
    for attribute in (
        Origin(Origin.IGP),
        ASPath([SEQUENCE([ASN(65002), ASN(3356), ASN(1299), ASN(13335)])]),
        NextHop("192.0.2.1", IP.pton("192.0.2.1")),
        MED(100),
        LocalPreference(200),
        Communities([Community(struct.pack("!HH", 65002, 100)), Community(struct.pack("!HH", 65002, 200))]),
    ):
        attributes.add(attribute)
    routes = nlri()
    (wire,) = list(XUpdate(routes, attributes).messages(negotiated))
    ours, used = decode(wire) or (None, 0)
    assert isinstance(ours, Update)
    assert used == len(wire)
    assert set(ours.nlri) == set(nets)
    assert ours.next_hop == IPv4Address("192.0.2.1")
    if encode(ours) != wire:
        codec.notes.append("pipework re-encodes the UPDATE to different bytes than ExaBGP wrote")

    def exabgp_decode() -> Any:
        negotiated.cached_wire, negotiated.cached_attributes = b"", None  # another UPDATE came between
        return Message.unpack(wire[18], wire[19:], Direction.IN, negotiated)

    def exabgp_decode_again() -> Any:  # the session keeps the last attribute set it parsed
        return Message.unpack(wire[18], wire[19:], Direction.IN, negotiated)

    parsed = exabgp_decode()
    assert {str(n.cidr) for n in parsed.nlris} == {str(n) for n in nets}
    label = "UPDATE: 6 attributes, 5 IPv4 prefixes"
    codec.cases += [
        Case(
            "bgp",
            label,
            "decode",
            len(wire),
            partial(decode, wire),
            [
                Ref("exabgp", "pure Python", exabgp_decode),
                Ref("exabgp, same attributes again", "pure Python", exabgp_decode_again, compared=False),
            ],
        ),
        Case(
            "bgp",
            label,
            "encode",
            len(wire),
            partial(encode, ours),
            [Ref("exabgp", "pure Python", lambda: list(XUpdate(routes, attributes).messages(negotiated)))],
        ),
    ]
    codec.notes.append(
        "ExaBGP decodes with `Message.unpack` and encodes with `Update.messages`, both "
        "against a Negotiated session built from its own Neighbor and OPEN. A session keeps "
        "the last attribute set it parsed and reuses it when the next UPDATE's attribute "
        "bytes are the same: the `exabgp` row clears that before each message, the "
        "`same attributes again` row shows the hit (not a target)"
    )
    return codec


# --- WebSocket -------------------------------------------------------------------------------


def websocket_codec() -> Codec:
    codec = Codec("websocket")
    try:
        from pipework.codec.websocket import Frame, Opcode, decode_frame, encode_frame
    except Exception as e:  # still being written by someone else: take it only if it imports
        codec.skipped = f"pipework.codec.websocket does not import ({type(e).__name__}: {e})"
        return codec
    try:
        import websockets
        from websockets import frames as peer_frames
        from websockets.frames import Frame as PeerFrame
        from websockets.frames import Opcode as PeerOpcode
        from websockets.streams import StreamReader
        from websockets.utils import apply_mask as pure_apply_mask
    except ModuleNotFoundError as e:
        _missing(codec, "websockets", e)
        websockets = None
    urandom = os.urandom
    key = bytes.fromhex("37fa213d")
    for label, opcode, payload in (
        ("masked text, 43 B", Opcode.TEXT, b'{"type":"tick","symbol":"ACME","px":101.25}'),
        ("masked binary, 1 KiB", Opcode.BINARY, urandom(1024)),
    ):
        wire = encode_frame(Frame(opcode, payload), key)
        stream = wire * BATCH

        def ours_decode(stream: bytes = stream) -> None:
            pos = 0
            for _ in range(BATCH):
                got = decode_frame(stream, pos, mask_required=True)
                assert got is not None
                pos += got[1]

        def ours_encode(frame: Frame = Frame(opcode, payload)) -> None:  # noqa: B008  # bound once
            for _ in range(BATCH):
                encode_frame(frame, urandom(4))

        decode_refs, encode_refs = [], []
        if websockets is not None:

            def peer_decode(stream: bytes = stream) -> None:
                reader = StreamReader()
                reader.feed_data(stream)
                for _ in range(BATCH):
                    parser = PeerFrame.parse(reader.read_exact, mask=True, max_size=None)
                    try:
                        next(parser)
                    except StopIteration:
                        pass
                    else:
                        raise AssertionError("incomplete frame")

            def peer_encode(frame: Any = PeerFrame(PeerOpcode(opcode), payload)) -> None:  # noqa: B008
                for _ in range(BATCH):
                    frame.serialize(mask=True)

            kind = "Python + C" if _has_speedups() else "pure Python"
            decode_refs = [Ref("websockets Frame.parse", kind, peer_decode)]
            encode_refs = [Ref("websockets Frame.serialize", kind, peer_encode)]
            if kind != "pure Python":  # the same code with websockets' own pure-Python masking
                decode_refs.append(
                    Ref(
                        "websockets Frame.parse, utils.apply_mask",
                        "pure Python",
                        _pure_masking(peer_frames, pure_apply_mask, peer_decode),
                    )
                )
                encode_refs.append(
                    Ref(
                        "websockets Frame.serialize, utils.apply_mask",
                        "pure Python",
                        _pure_masking(peer_frames, pure_apply_mask, peer_encode),
                    )
                )
        codec.cases += [
            Case("websocket", label, "decode", len(wire), ours_decode, decode_refs, per_call=BATCH),
            Case("websocket", label, "encode", len(wire), ours_encode, encode_refs, per_call=BATCH),
        ]
    codec.notes.append(
        f"frames as a client sends them (masked), {BATCH} per call; both sides draw a fresh "
        "masking key per encoded frame. websockets parses in Python and masks in C (its "
        "`speedups` extension: the Python + C rows, context only); its `utils.apply_mask` rows "
        "are the same code with the pure-Python masking it falls back to without the extension "
        "(`websockets.frames.apply_mask` swapped for the call), the reference for the target; "
        "pipework masks with a big-integer XOR. bench/codecs_websocket.py also compares whole connections"
    )
    return codec


def _pure_masking(frames: Any, pure_mask: Callable[..., bytes], fn: Fn) -> Fn:
    """``fn`` run with websockets' pure-Python ``apply_mask`` in place of its C one."""
    c_mask = frames.apply_mask

    def run() -> object:
        frames.apply_mask = pure_mask
        try:
            return fn()
        finally:
            frames.apply_mask = c_mask

    return run


def _has_speedups() -> bool:
    try:
        from websockets import speedups  # noqa: F401  # only to know whether it is there
    except ImportError:
        return False
    return True


# --- SOCKS and the PROXY protocol (no reference) --------------------------------------------


def socks_codec() -> Codec:
    from pipework.codec.socks import (
        Address,
        AuthMethod,
        Command,
        Greeting,
        Reply,
        ReplyCode,
        Request,
        Socks4Request,
        encode,
        parse_greeting,
        parse_request,
        parse_socks4_request,
    )

    codec = Codec("socks")
    greeting = encode(Greeting((AuthMethod.NO_AUTHENTICATION, AuthMethod.USERNAME_PASSWORD)))
    by_name = Request(Command.CONNECT, Address("api.example.com", 443))
    by_ip = Request(Command.CONNECT, Address(IPv4Address("198.51.100.7"), 8443))
    socks4a = encode(Socks4Request(Command.CONNECT, Address("api.example.com", 443), b"alice"))
    reply = Reply(ReplyCode.SUCCEEDED, Address(IPv4Address("10.0.0.5"), 40000))
    for label, wire, parse in (
        ("SOCKS5 greeting, 2 methods", greeting, parse_greeting),
        ("SOCKS5 CONNECT api.example.com:443", encode(by_name), parse_request),
        ("SOCKS5 CONNECT 198.51.100.7:8443", encode(by_ip), parse_request),
        ("SOCKS4a CONNECT api.example.com:443", socks4a, parse_socks4_request),
    ):
        assert parse(wire, 0) is not None
        codec.cases.append(Case("socks", label, "decode", len(wire), partial(parse, wire, 0)))
    codec.cases += [
        Case(
            "socks",
            "SOCKS5 CONNECT api.example.com:443",
            "encode",
            len(encode(by_name)),
            partial(encode, by_name),
        ),
        Case(
            "socks", "SOCKS5 reply, IPv4 bound address", "encode", len(encode(reply)), partial(encode, reply)
        ),
    ]
    codec.notes.append("no reference: python-socks and PySocks are clients tied to their sockets")
    return codec


def proxy_protocol_codec() -> Codec:
    from pipework.codec.proxy_protocol import TLV, ProxyHeader, TLVType, decode, encode

    codec = Codec("proxy_protocol")
    src, dst = ("192.0.2.1", 56324), ("198.51.100.7", 443)
    tlvs = (
        TLV(TLVType.ALPN, b"h2"),
        TLV(TLVType.AUTHORITY, b"api.example.com"),
        TLV(TLVType.UNIQUE_ID, bytes(range(16))),
    )
    headers = {
        "v1 TCP4": (ProxyHeader.proxy(src, dst, version=1), False),
        "v2 TCP4": (ProxyHeader.proxy(src, dst), False),
        "v2 TCP6 + ALPN, authority, unique ID": (
            ProxyHeader.proxy(("2001:db8::1", 56324), ("2001:db8::7", 443), tlvs=tlvs),
            False,
        ),
        "v2 TCP4 + 3 TLVs + CRC32C": (ProxyHeader.proxy(src, dst, tlvs=tlvs), True),
    }
    for label, (header, checksum) in headers.items():
        wire = encode(header, checksum=checksum)
        got = decode(wire)
        assert got is not None
        assert got[1] == len(wire)
        codec.cases += [
            Case("proxy_protocol", label, "decode", len(wire), partial(decode, wire)),
            Case("proxy_protocol", label, "encode", len(wire), partial(encode, header, checksum=checksum)),
        ]
    codec.notes.append("no reference timed: the proxy-protocol package is built around its asyncio reader")
    return codec


# --- Dubbo -----------------------------------------------------------------------------------


def dubbo_codec() -> Codec:
    from pipework.codec.dubbo import Request, Response, decode, encode, peek_invocation
    from pipework.codec.hessian import HessianObject, Long

    codec = Codec("dubbo")
    user = HessianObject(
        "org.demo.dto.UserDTO",
        {
            "id": Long(1234567890123),
            "name": "Ada Lovelace",
            "email": "ada@example.org",
            "age": 36,
            "active": True,
            "roles": ["admin", "dev", "ops"],
        },
    )
    response = Response(42, value=user, attachments={"dubbo": "2.0.2"})
    try:
        from dubbo.codec.decoder import Response as PeerResponse
        from dubbo.codec.decoder import parse_response_head
        from dubbo.codec.encoder import Object as PeerObject
        from dubbo.codec.encoder import Request as PeerRequest
    except ModuleNotFoundError as e:
        _missing(codec, "dubbo-python", e)
        PeerRequest = None
        request = Request(
            42,
            "org.demo.UserService",
            "findUsers",
            "Ljava/lang/String;I",
            ["Ada", 20],
            {"path": "org.demo.UserService"},
            version="1.0.0",
        )
        request_wire = encode(request)
    else:
        body = {
            "dubbo_version": "2.0.2",
            "path": "org.demo.UserService",
            "version": "1.0.0",
            "method": "findUsers",
            "arguments": ["Ada", 20, PeerObject("org.demo.dto.Query", {"city": "London", "limit": 50})],
        }
        request_wire = bytes(PeerRequest(body).encode())
        got = decode(request_wire)
        assert got is not None
        assert isinstance(got[0], Request)
        request = got[0]
        assert encode(request)[4:] == request_wire[4:]  # the peer numbers requests itself: skip the ID

    response_wire = encode(response)

    def peer_response(data: bytes = response_wire) -> list[Any]:
        parse_response_head(data[:16])
        reader = PeerResponse(bytearray(data[16:]))
        got = []
        while reader.length() > 0:
            got.append(reader.read_next())
        return got

    request_label = "request: findUsers(String, int, Query)"
    response_label = "response: UserDTO + attachments"
    encode_refs = (
        []
        if PeerRequest is None
        else [Ref("dubbo-python", "pure Python", lambda: PeerRequest(body).encode())]
    )
    decode_refs = [] if PeerRequest is None else [Ref("dubbo-python", "pure Python", peer_response)]
    if decode_refs:
        assert peer_response()[1]["email"] == "ada@example.org"
    codec.cases += [
        Case("dubbo", request_label, "decode", len(request_wire), partial(decode, request_wire)),
        Case("dubbo", request_label, "encode", len(request_wire), partial(encode, request), encode_refs),
        Case(
            "dubbo",
            request_label,
            "peek invocation",
            len(request_wire),
            partial(peek_invocation, request_wire),
        ),
        Case(
            "dubbo", response_label, "decode", len(response_wire), partial(decode, response_wire), decode_refs
        ),
        Case("dubbo", response_label, "encode", len(response_wire), partial(encode, response)),
    ]
    codec.notes.append(
        "dubbo-python (a blocking client) encodes requests and decodes responses only; "
        "its rows are that, from and to bytes"
    )
    return codec


# --- report ----------------------------------------------------------------------------------


BUILDERS: dict[str, Callable[[float], Codec]] = {
    "dns": lambda s: dns_codec(),
    "mqtt": lambda s: mqtt_codec(),
    "thrift": lambda s: thrift_codec(),
    "hessian": lambda s: hessian_codec(),
    "dubbo": lambda s: dubbo_codec(),
    "protobuf": protobuf_codec,
    "resp": lambda s: resp_codec(),
    "bgp": lambda s: bgp_codec(),
    "websocket": lambda s: websocket_codec(),
    "socks": lambda s: socks_codec(),
    "proxy_protocol": lambda s: proxy_protocol_codec(),
}
HEAD = [
    "codec",
    "message",
    "op",
    "bytes",
    "ours msg/s",
    "ours MB/s",
    "reference",
    "ref msg/s",
    "ratio",
    "flag",
]


def flag(case: Case, ref: Ref) -> str:
    ratio = case.rate / ref.rate
    if ref.target and ratio < 1:
        return "SLOWER than reference"
    if case.codec == "dns" and case.op == "decode" and "answer" in case.message and ratio < 2:
        return "under 2x (target)"
    if ref.kind != "pure Python":
        return "(C reference)"
    return "" if ref.target else "(context)"


def rows(codecs: list[Codec]) -> list[list[str]]:
    out = []
    for codec in codecs:
        for case in codec.cases:
            ours = [
                case.codec,
                case.message,
                case.op,
                str(case.size),
                f"{case.rate:,.0f}",
                f"{case.rate * case.size / 1e6:,.1f}",
            ]
            if not case.refs:
                out.append([*ours, "—", "", "", ""])
            out.extend(
                [
                    *ours,
                    f"{ref.name} ({ref.kind})",
                    f"{ref.rate:,.0f}",
                    f"{case.rate / ref.rate:.2f}x",
                    flag(case, ref),
                ]
                for ref in case.refs
            )
    return out


def targets(codecs: list[Codec]) -> list[str]:
    """One line per target of the issue: met or missed, with the figures."""
    lines = []
    for codec in codecs:
        compared = [(case, ref) for case in codec.cases for ref in case.refs if ref.target]
        if not compared:
            continue
        slower = [
            f"{case.message} {case.op} {case.rate / ref.rate:.2f}x {ref.name}"
            for case, ref in compared
            if case.rate < ref.rate
        ]
        worst = min(case.rate / ref.rate for case, ref in compared)
        verdict = f"missed ({'; '.join(slower)})" if slower else f"met (lowest ratio {worst:.2f}x)"
        lines.append(f"{codec.name} at least as fast as its pure-Python reference: {verdict}")
        if codec.name == "dns":
            for case, ref in compared:
                if case.op == "decode" and "answer" in case.message:
                    ratio = case.rate / ref.rate
                    lines.append(
                        f"dns decode of a typical answer >= 2x dnspython: {ratio:.2f}x — "
                        f"{'met' if ratio >= 2 else 'missed'}"
                    )
    return lines


def text_table(table: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    numeric = {3, 4, 5, 7, 8}
    return "\n".join(
        "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in table
    )


def markdown_table(table: list[list[str]]) -> str:
    numeric = {3, 4, 5, 7, 8}
    lines = [table[0], ["--:" if i in numeric else "---" for i in range(len(table[0]))], *table[1:]]
    return "\n".join("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in lines)


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def environment(start_load: str, end_load: str, seconds: float) -> list[str]:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    cpu = next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
        platform.processor(),
    )
    rev = (
        subprocess.run(
            ["git", "-C", _HERE, "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        or "unknown"
    )
    peers = ", ".join(
        f"{d} {version(d)}"
        for d in (
            "dnspython",
            "paho-mqtt",
            "thrift",
            "python-hessian",
            "dubbo-python",
            "protobuf",
            "redis",
            "hiredis",
            "exabgp",
            "websockets",
        )
    )
    return [
        f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"machine: {os.cpu_count()} CPUs, {cpu}, {platform.system()} {platform.release()}",
        f"load average at start: {start_load}; at end: {end_load}",
        f"pipework: {rev}, Python {platform.python_version()} ({platform.python_implementation()})",
        f"peers: {peers}",
        f"method: CPU time (process_time), {ROUNDS} rounds of {seconds / ROUNDS * 1000:.0f} ms per function "
        "after ~20 ms of warm-up, best round; pipework and references interleaved",
    ]


SECTION = "## Codecs"


def report_markdown(
    env: list[str], table: list[list[str]], met: list[str], notes: list[str], note: str
) -> str:
    parts = [
        SECTION,
        "Made by `bench/codec_bench.py`: pipework's sans-IO codecs beside the reference Python libraries; "
        "see bench/README.md for how to rerun it. Ratio = pipework's rate / the reference's (above 1: "
        "pipework is faster).",
        "\n".join(f"- {line}" for line in env),
    ]
    if note:
        parts.append(f"> {note}")
    parts += [markdown_table(table)]
    if met:
        parts.append("### targets\n\n" + "\n".join(f"- {line}" for line in met))
    if notes:
        parts.append("### notes\n\n" + "\n".join(f"- {line}" for line in notes))
    return "\n\n".join(parts) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument(
        "--quick", action="store_true", help=f"{QUICK_SECONDS} s per measurement, for smoke testing"
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=None,
        help=f"CPU time per measured function (default {DEFAULT_SECONDS})",
    )
    p.add_argument("--only", default="", metavar="CODECS", help=f"comma-separated, of: {','.join(BUILDERS)}")
    p.add_argument(
        "--markdown",
        type=Path,
        metavar="FILE",
        help=f"also write the results as a markdown section: it replaces FILE's '{SECTION}' "
        "section, or is appended to FILE",
    )
    p.add_argument("--note", default="", help="a remark for the markdown report's header")
    p.add_argument("--protobuf-child", type=float, help=argparse.SUPPRESS)  # the pure-Python protobuf run
    args = p.parse_args()
    if args.protobuf_child is not None:
        print(json.dumps(_protobuf_rates(args.protobuf_child)))
        return 0
    seconds = args.seconds or (QUICK_SECONDS if args.quick else DEFAULT_SECONDS)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BUILDERS)
    if unknown := [n for n in names if n not in BUILDERS]:
        p.error(f"unknown codecs {unknown}; known: {', '.join(BUILDERS)}")

    start_load = loadavg()
    print(f"load average at start: {start_load}", file=sys.stderr)
    codecs: list[Codec] = []
    for name in names:
        started = time.monotonic()
        codec = BUILDERS[name](seconds)
        run_codec(codec, seconds)
        codecs.append(codec)
        print(
            f"{name}: {len(codec.cases)} cases in {time.monotonic() - started:.1f} s"
            + (f" (skipped: {codec.skipped})" if codec.skipped else ""),
            file=sys.stderr,
        )
    end_load = loadavg()

    env = environment(start_load, end_load, seconds)
    table = [HEAD, *rows(codecs)]
    met = targets(codecs)
    notes = [f"{c.name}: {n}" for c in codecs for n in c.notes] + [
        f"{c.name}: skipped, {c.skipped}" for c in codecs if c.skipped
    ]
    print("\n".join(env))
    print()
    print(text_table(table))
    if met:
        print("\ntargets:\n" + "\n".join(f"  {line}" for line in met))
    if notes:
        print("\nnotes:\n" + "\n".join(f"  {line}" for line in notes))
    if args.markdown:
        run.write_section(args.markdown, SECTION, report_markdown(env, table, met, notes, args.note))
    return 0


if __name__ == "__main__":
    sys.exit(main())
