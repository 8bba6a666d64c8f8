"""Property tests: any bytes, in any chunking, give a ClientHello, wait, or raise the codec's
error, nothing else; real hellos read the same however they are cut."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipework.codec.tls import NEED_DATA, ClientHello, ClientHelloReader, TLSError, peek

from .test_tls_hello import TLS12, TLS13

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def feed(chunks: list[bytes]) -> ClientHello | None:
    reader = ClientHelloReader()
    for chunk in chunks:
        result = reader.receive_data(chunk)
        if result is not NEED_DATA:
            assert isinstance(result, ClientHello)
            return result
    return None


@FAST
@given(st.lists(st.binary(min_size=1, max_size=64), max_size=8))
def test_any_bytes_parse_wait_or_raise(chunks: list[bytes]) -> None:
    try:
        feed(chunks)
    except TLSError:
        pass


@FAST
@given(st.sampled_from([TLS13, TLS12]), st.data())
def test_mutated_hellos_parse_wait_or_raise(raw: bytes, data: st.DataObject) -> None:
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        buf[data.draw(st.integers(5, len(buf) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(buf)))
    try:
        hello = feed([bytes(buf[:cut]), bytes(buf[cut:])])
    except TLSError:
        return
    assert hello is None or hello.raw == bytes(buf[: len(hello.raw)])


@FAST
@given(st.sampled_from([TLS13, TLS12]), st.lists(st.integers(1, 600), max_size=6))
def test_any_chunking_reads_the_same(raw: bytes, cuts: list[int]) -> None:
    chunks, pos = [], 0
    for n in cuts:
        chunks.append(raw[pos : pos + n])
        pos += n
    chunks.append(raw[pos:])
    hello = feed([c for c in chunks if c])
    assert hello is not None
    assert hello.raw == raw
    assert peek(raw) is True


@FAST
@given(st.binary(max_size=8))
def test_peek_never_raises(data: bytes) -> None:
    assert peek(data) in (True, False, None)
