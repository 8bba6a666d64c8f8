"""Hostile or broken bytes raise RemoteProtocolError; values RESP cannot carry raise LocalProtocolError."""

from __future__ import annotations

import math

import pytest

from pipework.codec.resp import (
    MAX_BIG_NUMBER_DIGITS,
    NULL,
    RESP2,
    Array,
    Attribute,
    BigNumber,
    BulkString,
    Decoder,
    Double,
    Integer,
    LocalProtocolError,
    Map,
    Null,
    Push,
    RemoteProtocolError,
    RESPError,
    Set,
    SimpleError,
    SimpleString,
    Value,
    VerbatimString,
    decode,
    encode,
)

# (bytes, a part of the error message, why)
BAD: list[tuple[bytes, str, str]] = [
    (b"?x\r\n", "unknown type byte", "no such type"),
    (b"$5\r\nhelloXY", "not followed by CRLF", "bulk data must end in CRLF"),
    (b"$-2\r\n", "not a number", "only -1 is a null length"),
    (b"$+5\r\nhello\r\n", "not a number", "no sign on lengths"),
    (b"$05\r\nhello\r\n", "not a number", "no leading zeros"),
    (b"$ 5\r\nhello\r\n", "not a number", "no spaces"),
    (b"$5_0\r\n", "not a number", "int() would accept an underscore"),
    (b"$\r\n", "not a number", "empty length"),
    (b"$99999999999999999999\r\n", "not a number", "more than 19 digits"),
    (b"!-1\r\n", "not a number", "bulk errors have no null"),
    (b"=-1\r\n", "not a number", "verbatim strings have no null"),
    (b"%-1\r\n", "not a number", "maps have no null"),
    (b"=3\r\ntxt\r\n", "format", "verbatim needs 'xxx:'"),
    (b"=5\r\ntxt;a\r\n", "format", "the fourth byte is always ':'"),
    (b":\r\n", "not a signed 64-bit", "empty integer"),
    (b":1.5\r\n", "not a signed 64-bit", "integers are integers"),
    (b":-0\r\n", "not a signed 64-bit", "one encoding of zero"),
    (b":007\r\n", "not a signed 64-bit", "leading zeros"),
    (b":9223372036854775808\r\n", "not a signed 64-bit", "2**63 needs a big number"),
    (b":-9223372036854775809\r\n", "not a signed 64-bit", "below -2**63"),
    (b"(1.5\r\n", "big number", "no decimal part"),
    (b"(\r\n", "big number", "empty big number"),
    (b"(" + b"9" * (MAX_BIG_NUMBER_DIGITS + 1) + b"\r\n", "big number", "too many digits for int()"),
    (b",\r\n", "double", "empty double"),
    (b",.5\r\n", "double", "'To just start with . assuming an initial zero is invalid'"),
    (b",1.\r\n", "double", "a dot needs digits after it"),
    (b",infinityx\r\n", "double", "junk after inf"),
    (b",1_0\r\n", "double", "float() would accept an underscore"),
    (b"#x\r\n", "'#' line", "booleans are t or f"),
    (b"#\r\n", "'#' line", "empty boolean"),
    (b"_x\r\n", "'_' line", "null has no payload"),
    (b"+a\nb\r\n", "CR or LF", "simple strings cannot contain LF"),
    (b"-a\rb\r\n", "CR or LF", "simple errors cannot contain CR"),
    (b"*1\r\n>1\r\n:1\r\n", "push data inside an aggregate", "'always at the top level'"),
    (b"%1\r\n+k\r\n>1\r\n:1\r\n", "push data inside an aggregate", "not in a map either"),
    (b"|1\r\n>1\r\n:1\r\n:1\r\n:1\r\n", "push data inside an aggregate", "nor as an attribute's key"),
]


@pytest.mark.parametrize(("wire", "match", "why"), BAD, ids=[why for _, _, why in BAD])
def test_malformed_is_a_remote_error(wire: bytes, match: str, why: str) -> None:
    with pytest.raises(RemoteProtocolError, match=match) as info:
        decode(wire)
    assert info.value.error.startswith("ERR Protocol error: ")
    assert isinstance(info.value, RESPError)


def test_depth_limit() -> None:
    deep = b"*1\r\n" * 5 + b":1\r\n"
    assert decode(deep, max_depth=5) is not None
    with pytest.raises(RemoteProtocolError, match="nested deeper than 4"):
        decode(deep, max_depth=4)
    # The default limit is enforced even for a bomb of nested headers, without recursion.
    with pytest.raises(RemoteProtocolError, match="nested deeper"):
        decode(b"*1\r\n" * 100_000)


def test_element_limits() -> None:
    assert decode(b"*3\r\n:1\r\n:2\r\n:3\r\n", max_elements=4) is not None
    with pytest.raises(RemoteProtocolError, match="exceeds the limit"):
        decode(b"*5\r\n", max_elements=4)  # refused on the header alone
    with pytest.raises(RemoteProtocolError, match="more than 4 values"):
        decode(b"*2\r\n*2\r\n:1\r\n:2\r\n:3\r\n", max_elements=4)  # counted at every level


def test_bulk_and_message_limits() -> None:
    assert decode(b"$4\r\nabcd\r\n", max_bulk_length=4) is not None
    with pytest.raises(RemoteProtocolError, match="exceeds the limit of 3"):
        decode(b"$4\r\n", max_bulk_length=3)
    with pytest.raises(RemoteProtocolError, match="message longer than 20"):
        decode(b"*2\r\n$4\r\nabcd\r\n$4\r\n", max_message_size=20)  # refused before the data came


def test_line_limit() -> None:
    with pytest.raises(RemoteProtocolError, match="line longer than 8"):
        decode(b"+1234567890", max_line_length=8)
    assert decode(b"+12345678", max_line_length=8) is None  # might still end in time
    assert decode(b"+12345678\r\n", max_line_length=8) is not None


def test_decoder_arguments_are_checked() -> None:
    with pytest.raises(LocalProtocolError):
        Decoder(max_depth=0)
    with pytest.raises(LocalProtocolError):
        Decoder(protocol=1)


def test_after_eof_no_more_data() -> None:
    decoder = Decoder()
    decoder.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        decoder.receive_data(b"+OK\r\n")
    with pytest.raises(LocalProtocolError):
        decoder.receive_data(b"")


# (value, protocol, why) that the encoder must refuse
UNSENDABLE: list[tuple[Value, int, str]] = [
    (SimpleString(b"a\r\nb"), 3, "CR LF in a simple string"),
    (SimpleError(b"ERR\n"), 3, "LF in an error"),
    (Integer(2**63), 3, "Integer beyond 64 bits"),
    (Integer(True), 3, "a bool is not an int here"),
    (VerbatimString(b"text", b"x"), 3, "format is three bytes"),
    (VerbatimString(b"t:x", b"x"), 3, "no ':' in the format"),
    (Null(b"?"), 3, "unknown null marker"),
    (NULL, RESP2, "RESP2 has no '_'"),
    (Double(1.0), RESP2, "no doubles in RESP2"),
    (Array((Push((Integer(1),)),)), 3, "push below the top level"),
    (Map(((SimpleString(b"k"), Push()),)), 3, "push in a map"),
    (BigNumber(1.5), 3, "big numbers are ints"),  # type: ignore[arg-type]
    (Map(((Integer(1),),)), 3, "a pair of one"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("value", "protocol", "why"), UNSENDABLE, ids=[w for _, _, w in UNSENDABLE])
def test_unsendable_is_a_local_error(value: Value, protocol: int, why: str) -> None:
    with pytest.raises(LocalProtocolError):
        encode(value, protocol)


def test_encode_depth_and_type_checks() -> None:
    nested: Value = Integer(1)
    for _ in range(40):
        nested = Array((nested,))
    with pytest.raises(LocalProtocolError, match="max_depth"):
        encode(nested)
    assert encode(nested, max_depth=40).count(b"*1\r\n") == 40
    with pytest.raises(TypeError):
        encode(b"raw")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        encode(Integer(1), protocol=4)


def test_attribute_before_a_top_level_push_is_fine() -> None:
    value = Attribute(((SimpleString(b"a"), Integer(1)),), Push((BulkString(b"message"),)))
    wire = encode(value)
    assert decode(wire) == (value, len(wire))


def test_set_duplicates_and_special_doubles_survive() -> None:
    value = Set((Integer(1), Integer(1), Double(math.inf)))
    assert decode(encode(value)) == (value, len(encode(value)))
