"""Requests as a Redis server reads them: arrays of bulk strings, inline commands, Redis's errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipework.codec.resp import (
    MAX_INLINE_LENGTH,
    NEED_DATA,
    Array,
    BulkString,
    Decoder,
    InlineCommand,
    LocalProtocolError,
    Peer,
    RemoteProtocolError,
    State,
    command_args,
    decode,
    encode_command,
    encode_inline,
    quote_arg,
    split_inline,
)


def requests(wire: bytes) -> list[object]:
    decoder = Decoder(peer=Peer.CLIENT)
    decoder.receive_data(wire)
    out = []
    while (event := decoder.next_event()) is not NEED_DATA:
        out.append(command_args(event))  # type: ignore[arg-type]
    return out


def test_multibulk_request() -> None:
    assert requests(b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n") == [(b"SET", b"key", b"value")]


def test_inline_commands_as_redis_splits_them() -> None:
    wire = (b"PING\r\n"
            b"SET  key\t value\n"  # runs of whitespace; a bare LF ends the line
            b'SET k "a b\\r\\n\\x41\\"\\\\"\r\n'  # double quotes with C escapes and \xHH
            b"SET k 'it\\'s \"x\"'\r\n"  # single quotes: only \' is special
            b'SET k ""\r\n'  # an empty word
            b'SET k"ey" v\r\n')  # a quote inside a word starts quoting, as in sdssplitargs
    assert requests(wire) == [
        (b"PING",),
        (b"SET", b"key", b"value"),
        (b"SET", b"k", b'a b\r\nA"\\'),
        (b"SET", b"k", b"it's \"x\""),
        (b"SET", b"k", b""),
        (b"SET", b"key", b"v"),
    ]


def test_empty_lines_and_empty_arrays_are_skipped() -> None:
    # Redis ignores an empty inline line and "*0" / "*-1" requests (processMultibulkBuffer: ll <= 0).
    assert requests(b"\r\n\n   \r\n*0\r\n*-1\r\nPING\r\n") == [(b"PING",)]


def test_skipped_requests_across_buffer_compaction() -> None:
    # Over 64 KiB of skipped empty lines and empty arrays make the decoder compact its buffer
    # between two events; the next request must still be read from the right place.
    wire = b"\r\n" * 40_000 + b"PING\r\n" + b"*0\r\n" * 20_000 + b"ECHO x\r\n" + b"\n" * 70_000
    assert requests(wire + encode_command("GET", "k")) == [(b"PING",), (b"ECHO", b"x"), (b"GET", b"k")]


def test_mixed_inline_and_multibulk_byte_by_byte() -> None:
    wire = b"PING\r\n" + encode_command("GET", "k") + b'ECHO "x y"\n'
    decoder = Decoder(peer=Peer.CLIENT)
    events = []
    for i in range(len(wire)):
        decoder.receive_data(wire[i : i + 1])
        while (event := decoder.next_event()) is not NEED_DATA:
            events.append(event)
    assert events == [InlineCommand((b"PING",)), Array((BulkString(b"GET"), BulkString(b"k"))),
                      InlineCommand((b"ECHO", b"x y"))]


# (request bytes, the error Redis answers with)
BAD_REQUESTS = [
    (b"*2\r\n:1\r\n", "ERR Protocol error: expected '$', got ':'"),
    (b"*1\r\n*1\r\n$1\r\na\r\n", "ERR Protocol error: expected '$', got '*'"),
    (b"*1\r\n$-1\r\n", "ERR Protocol error: invalid bulk length"),
    (b"*1\r\n$x\r\n", "ERR Protocol error: invalid bulk length"),
    (b"*1\r\n$99999999999\r\n", "ERR Protocol error: invalid bulk length"),
    (b"*x\r\n", "ERR Protocol error: invalid multibulk length"),
    (b"*-2\r\n", "ERR Protocol error: invalid multibulk length"),
    (b"*9999999999\r\n", "ERR Protocol error: invalid multibulk length"),
    (b'SET k "abc\r\n', "ERR Protocol error: unbalanced quotes in request"),
    (b"SET k 'abc\r\n", "ERR Protocol error: unbalanced quotes in request"),
    (b'SET k "abc"d\r\n', "ERR Protocol error: unbalanced quotes in request"),
    (b"a" * (MAX_INLINE_LENGTH + 1), "ERR Protocol error: too big inline request"),
    (b"*" + b"1" * (MAX_INLINE_LENGTH + 3), "ERR Protocol error: too big mbulk count string"),
    (b"*1\r\n$" + b"1" * (MAX_INLINE_LENGTH + 3), "ERR Protocol error: too big bulk count string"),
]


@pytest.mark.parametrize(("wire", "error"), BAD_REQUESTS, ids=[e for _, e in BAD_REQUESTS])
def test_bad_request_queues_redis_error_and_fails_for_good(wire: bytes, error: str) -> None:
    decoder = Decoder(peer=Peer.CLIENT)
    decoder.receive_data(wire)
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_event()
    assert info.value.error == error
    assert decoder.data_to_send() == b"-" + error.encode() + b"\r\n"
    assert decoder.data_to_send() == b""  # once
    assert decoder.state is State.ERROR
    with pytest.raises(RemoteProtocolError):
        decoder.next_event()
    with pytest.raises(LocalProtocolError):
        decoder.receive_data(b"PING\r\n")


def test_reply_decoder_queues_nothing() -> None:
    decoder = Decoder(peer=Peer.SERVER)
    decoder.receive_data(b"?\r\n")
    with pytest.raises(RemoteProtocolError, match="unknown type byte"):
        decoder.next_event()
    assert decoder.data_to_send() == b""


def test_bulk_limit_is_checked_before_buffering() -> None:
    decoder = Decoder(peer=Peer.CLIENT, max_bulk_length=10)
    decoder.receive_data(b"*1\r\n$11\r\n")  # refused on the header, before any data
    with pytest.raises(RemoteProtocolError) as info:
        decoder.next_event()
    assert info.value.error == "ERR Protocol error: invalid bulk length"


@pytest.mark.parametrize("args", [(b"GET", b"k"), (b"SET", b"k", b"a b"), (b"X", b"", b"\x00\xff\r\n\t\"'\\"),
                                  (b"ECHO", b"'\"")])
def test_inline_round_trip(args: tuple[bytes, ...]) -> None:
    wire = encode_inline(args)
    assert decode(wire, peer=Peer.CLIENT) == (InlineCommand(args), len(wire))


def test_quote_arg_leaves_plain_words_alone() -> None:
    assert quote_arg(b"SET") == b"SET"
    assert quote_arg(b"a b") == b'"a b"'
    assert quote_arg(b"") == b'""'
    assert quote_arg(b"\x01") == b'"\\x01"'


def test_encode_inline_refuses_what_redis_would() -> None:
    with pytest.raises(LocalProtocolError):
        encode_inline(())
    with pytest.raises(LocalProtocolError, match="exceeds") as info:
        encode_inline((b"SET", b"k", b"v" * MAX_INLINE_LENGTH))
    assert "too big inline request" in info.value.error


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=12), min_size=1, max_size=5))
def test_inline_round_trip_any_bytes(args: list[bytes]) -> None:
    line = encode_inline(args)
    assert split_inline(line[:-2]) == tuple(args)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=40))
def test_split_inline_fuzz(line: bytes) -> None:
    error = ""
    try:
        words = split_inline(line)
    except RemoteProtocolError as exc:
        error = exc.error
    else:
        assert all(isinstance(w, bytes) for w in words)
    assert error in ("", "ERR Protocol error: unbalanced quotes in request")
