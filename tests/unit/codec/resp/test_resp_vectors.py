"""Byte vectors from the RESP2 and RESP3 specs: fed whole, byte by byte and with trailing bytes."""

from __future__ import annotations

import math

import pytest

from pipework.codec.resp import (
    CLOSED,
    NEED_DATA,
    NULL,
    NULL_ARRAY,
    NULL_BULK_STRING,
    RESP2,
    RESP3,
    Array,
    Attribute,
    BigNumber,
    Boolean,
    BulkError,
    BulkString,
    Decoder,
    Double,
    Integer,
    LocalProtocolError,
    Map,
    Push,
    RemoteProtocolError,
    Set,
    SimpleError,
    SimpleString,
    Value,
    VerbatimString,
    command,
    command_args,
    decode,
    encode,
    encode_command,
)

S, B, N = SimpleString, BulkString, Integer
BIG = 3492890328409238509324850943850943825024385

# (wire bytes, value): each value encodes to exactly these bytes and decodes from them. Most are
# the examples of the RESP3 specification ("RESP3 types" ... "Push type") and the RESP2 page.
RESP2_VECTORS: list[tuple[bytes, Value]] = [
    (b"+OK\r\n", S(b"OK")),
    (b"+hello world\r\n", S(b"hello world")),
    (b"+\r\n", S(b"")),
    (b"-ERR this is the error description\r\n", SimpleError(b"ERR this is the error description")),
    (b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
     SimpleError(b"WRONGTYPE Operation against a key holding the wrong kind of value")),
    (b":1234\r\n", N(1234)),
    (b":0\r\n", N(0)),
    (b":-1\r\n", N(-1)),
    (b":9223372036854775807\r\n", N(2**63 - 1)),
    (b":-9223372036854775808\r\n", N(-(2**63))),
    (b"$11\r\nhello world\r\n", B(b"hello world")),
    (b"$0\r\n\r\n", B(b"")),
    (b"$4\r\n\r\n\x00\xff\r\n", B(b"\r\n\x00\xff")),
    (b"$-1\r\n", NULL_BULK_STRING),
    (b"*-1\r\n", NULL_ARRAY),
    (b"*0\r\n", Array()),
    (b"*3\r\n:1\r\n:2\r\n:3\r\n", Array((N(1), N(2), N(3)))),
    (b"*2\r\n$3\r\nfoo\r\n$3\r\nbar\r\n", Array((B(b"foo"), B(b"bar")))),
    (b"*5\r\n:1\r\n:2\r\n:3\r\n:4\r\n$5\r\nhello\r\n", Array((N(1), N(2), N(3), N(4), B(b"hello")))),
    (b"*2\r\n*3\r\n:1\r\n:2\r\n:3\r\n*2\r\n+Hello\r\n-World\r\n",
     Array((Array((N(1), N(2), N(3))), Array((S(b"Hello"), SimpleError(b"World")))))),
    (b"*3\r\n$3\r\nfoo\r\n$-1\r\n$3\r\nbar\r\n", Array((B(b"foo"), NULL_BULK_STRING, B(b"bar")))),
    (b"*2\r\n*0\r\n*-1\r\n", Array((Array(), NULL_ARRAY))),
]
RESP3_VECTORS: list[tuple[bytes, Value]] = [
    (b"_\r\n", NULL),
    (b",1.23\r\n", Double(1.23)),
    (b",10.0\r\n", Double(10.0)),
    (b",inf\r\n", Double(math.inf)),
    (b",-inf\r\n", Double(-math.inf)),
    (b",1e+16\r\n", Double(1e16)),
    (b",-2.5e-07\r\n", Double(-2.5e-07)),
    (b"#t\r\n", Boolean(True)),
    (b"#f\r\n", Boolean(False)),
    (b"!21\r\nSYNTAX invalid syntax\r\n", BulkError(b"SYNTAX invalid syntax")),
    (b"=15\r\ntxt:Some string\r\n", VerbatimString(b"txt", b"Some string")),
    (b"=4\r\nmkd:\r\n", VerbatimString(b"mkd", b"")),
    (b"(3492890328409238509324850943850943825024385\r\n", BigNumber(BIG)),
    (b"(-3492890328409238509324850943850943825024385\r\n", BigNumber(-BIG)),
    (b"*2\r\n*3\r\n:1\r\n$5\r\nhello\r\n:2\r\n#f\r\n",
     Array((Array((N(1), B(b"hello"), N(2))), Boolean(False)))),
    (b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n", Map(((S(b"first"), N(1)), (S(b"second"), N(2))))),
    (b"%0\r\n", Map()),
    (b"~5\r\n+orange\r\n+apple\r\n#t\r\n:100\r\n:999\r\n",
     Set((S(b"orange"), S(b"apple"), Boolean(True), N(100), N(999)))),
    (b"|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n",
     Attribute(((S(b"key-popularity"), Map(((B(b"a"), Double(0.1923)), (B(b"b"), Double(0.0012))))),),
               Array((N(2039123), N(9543892))))),
    (b"*3\r\n:1\r\n:2\r\n|1\r\n+ttl\r\n:3600\r\n:3\r\n",
     Array((N(1), N(2), Attribute(((S(b"ttl"), N(3600)),), N(3))))),
    (b">3\r\n+message\r\n+somechannel\r\n+this is the message\r\n",
     Push((S(b"message"), S(b"somechannel"), S(b"this is the message")))),
    (b"|1\r\n+a\r\n+b\r\n>1\r\n+invalidate\r\n", Attribute(((S(b"a"), S(b"b")),), Push((S(b"invalidate"),)))),
    (b"%1\r\n*1\r\n:1\r\n~1\r\n_\r\n", Map(((Array((N(1),)), Set((NULL,))),))),
]
ALL = [(RESP2, wire, value) for wire, value in RESP2_VECTORS] + [(RESP3, w, v) for w, v in RESP3_VECTORS]
IDS = [wire[:24].decode("latin-1") for _, wire, _ in ALL]


def drain(decoder: Decoder) -> list[object]:
    out: list[object] = []
    while (event := decoder.next_event()) is not NEED_DATA:
        out.append(event)
        if event is CLOSED:
            break
    return out


@pytest.mark.parametrize(("protocol", "wire", "value"), ALL, ids=IDS)
def test_encode(protocol: int, wire: bytes, value: Value) -> None:
    assert encode(value, protocol) == wire
    assert encode(value) == wire  # RESP3 is a superset


@pytest.mark.parametrize(("protocol", "wire", "value"), ALL, ids=IDS)
def test_decode_whole(protocol: int, wire: bytes, value: Value) -> None:
    assert decode(wire, protocol) == (value, len(wire))
    decoder = Decoder(protocol)
    decoder.receive_data(wire)
    decoder.receive_data(b"")
    assert drain(decoder) == [value, CLOSED]


@pytest.mark.parametrize(("protocol", "wire", "value"), ALL, ids=IDS)
def test_decode_byte_by_byte(protocol: int, wire: bytes, value: Value) -> None:
    decoder = Decoder(protocol)
    events: list[object] = []
    for i in range(len(wire)):
        decoder.receive_data(wire[i : i + 1])
        events += drain(decoder)
        assert events == ([] if i < len(wire) - 1 else [value])


@pytest.mark.parametrize(("protocol", "wire", "value"), ALL, ids=IDS)
def test_decode_with_trailing_bytes(protocol: int, wire: bytes, value: Value) -> None:
    assert decode(wire + b"+next\r\n:1", protocol) == (value, len(wire))
    decoder = Decoder(protocol)
    decoder.receive_data(wire + b"+next\r\n:1")
    assert drain(decoder) == [value, S(b"next")]
    assert decoder.trailing_data == (b":1", False)


@pytest.mark.parametrize(("protocol", "wire", "value"), ALL, ids=IDS)
def test_every_proper_prefix_is_incomplete(protocol: int, wire: bytes, value: Value) -> None:
    for end in range(len(wire)):
        assert decode(wire[:end], protocol) is None


@pytest.mark.parametrize(("protocol", "wire", "value"), ALL, ids=IDS)
def test_eof_inside_a_value_is_an_error(protocol: int, wire: bytes, value: Value) -> None:
    for end in range(1, len(wire)):
        decoder = Decoder(protocol)
        decoder.receive_data(wire[:end])
        decoder.receive_data(b"")
        with pytest.raises(RemoteProtocolError, match="stream ended inside a value"):
            decoder.next_event()


def test_pipelined_values_in_one_chunk_and_split_everywhere() -> None:
    wire = b"".join(w for _, w, _ in ALL)
    values = [v for _, _, v in ALL]
    decoder = Decoder()
    decoder.receive_data(wire)
    assert drain(decoder) == values
    for chunk in (2, 3, 7, 64):
        decoder = Decoder()
        events: list[object] = []
        for i in range(0, len(wire), chunk):
            decoder.receive_data(wire[i : i + chunk])
            events += drain(decoder)
        assert events == values


@pytest.mark.parametrize("wire", [w for w, _ in RESP3_VECTORS if w[:1] not in b"*"])
def test_resp3_types_refused_in_resp2(wire: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match="RESP3 only") as info:
        decode(wire, RESP2)
    assert "in RESP2" in info.value.error
    value = decode(wire)
    assert value is not None
    with pytest.raises(LocalProtocolError):
        encode(value[0], RESP2)


def test_protocol_switch_after_hello() -> None:
    decoder = Decoder(RESP2)
    decoder.receive_data(b"%1\r\n+server\r\n+redis\r\n")
    decoder.protocol = RESP3  # e.g. once HELLO 3 was answered
    assert decoder.next_event() == Map(((S(b"server"), S(b"redis")),))
    with pytest.raises(LocalProtocolError):
        decoder.protocol = 4


def test_nan_and_legacy_nan_spellings() -> None:
    for wire in (b",nan\r\n", b",-nan\r\n", b",NAN\r\n", b",nan(123)\r\n"):
        result = decode(wire)
        assert result is not None
        value = result[0]
        assert isinstance(value, Double)
        assert math.isnan(value.value)
        assert encode(value) == b",nan\r\n"


def test_double_forms_the_spec_allows() -> None:
    # "To completely miss the fractional part ... is valid", exponents since Redis 6.0.
    cases = [(b",10\r\n", 10.0), (b",1E5\r\n", 1e5), (b",+1.5e-3\r\n", 1.5e-3), (b",-0.0\r\n", -0.0)]
    for wire, number in cases:
        assert decode(wire) == (Double(number), len(wire))


def test_command_helpers() -> None:
    value = command("SET", b"k\r\n", 1, 2.5)
    assert value == Array((B(b"SET"), B(b"k\r\n"), B(b"1"), B(b"2.5")))
    assert encode(value) == encode_command("SET", b"k\r\n", 1, 2.5)
    assert encode_command("PING") == b"*1\r\n$4\r\nPING\r\n"
    assert command_args(value) == (b"SET", b"k\r\n", b"1", b"2.5")
    assert command_args(Array((B(b"GET"), N(1)))) is None
    assert command_args(N(1)) is None
    with pytest.raises(TypeError):
        command(True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode_command(None)  # type: ignore[arg-type]


def test_error_codes_and_push_kind() -> None:
    assert SimpleError(b"WRONGTYPE Operation").code == b"WRONGTYPE"
    assert BulkError(b"SYNTAX invalid syntax").code == b"SYNTAX"
    assert Push((B(b"invalidate"), NULL)).kind == b"invalidate"
    assert Push((N(1),)).kind is None
    assert Push().kind is None


def test_large_bulk_string_in_small_chunks_is_linear() -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    wire = b"$%d\r\n%b\r\n" % (len(payload), payload)
    decoder = Decoder()
    events: list[object] = []
    for i in range(0, len(wire), 1000):
        decoder.receive_data(wire[i : i + 1000])
        events += drain(decoder)
    assert events == [B(payload)]


def test_large_array_byte_by_byte_keeps_finished_elements() -> None:
    wire = encode(Array(tuple(N(i) for i in range(2000))))
    decoder = Decoder()
    events: list[object] = []
    for i in range(len(wire)):
        decoder.receive_data(wire[i : i + 1])
        events += drain(decoder)
    assert events == [Array(tuple(N(i) for i in range(2000)))]


def _feed_in_chunks(decoder: Decoder, wire: bytes, size: int) -> list[object]:
    events: list[object] = []
    for i in range(0, len(wire), size):
        decoder.receive_data(wire[i : i + size])
        events += drain(decoder)
    return events


def test_compaction_inside_one_message_keeps_its_size_accounting() -> None:
    value = Array(tuple(B(b"x" * 10) for _ in range(20_000)))  # ~340 KB: compacted mid-message
    wire = encode(value)
    assert _feed_in_chunks(Decoder(max_message_size=len(wire)), wire, 1000) == [value]
    with pytest.raises(RemoteProtocolError, match="message longer than"):
        _feed_in_chunks(Decoder(max_message_size=len(wire) - 1), wire, 1000)
