"""throttle_data_rate, throttle_concurrency, wait, tee and dump."""

from __future__ import annotations

import asyncio
import logging

import pytest

import pipework as pw
from pipework.core import Context, Data, StreamEnd, Valve


def spawn(layout: pw.Layout, ctx: Context | None = None) -> tuple[object, list]:
    out: list = []
    p = layout.spawn(ctx or Context(), out.append)
    p.start()
    return p, out


async def test_throttle_data_rate_splits_and_paces() -> None:
    paused: list[bool] = []
    ctx = Context(valve=Valve(lambda: paused.append(True), lambda: paused.append(False)))
    p, out = spawn(pw.pipeline(lambda p: p.throttle_data_rate(100_000, burst=10_000)), ctx)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    p.input(Data(b"x" * 30_000))
    p.input(StreamEnd())
    assert 10_000 <= sum(len(e) for e in out if isinstance(e, Data)) < 11_000  # the burst goes at once
    assert paused == [True]  # and the reader is paused for the rest
    while not out or out[-1] != StreamEnd():
        await asyncio.sleep(0.01)
        assert loop.time() - t0 < 5
    assert loop.time() - t0 >= 0.15  # 20,000 more bytes at 100,000/s
    assert b"".join(e.data for e in out if isinstance(e, Data)) == b"x" * 30_000
    assert paused == [True, False]


async def test_shared_token_bucket_limits_streams_together() -> None:
    bucket = pw.TokenBucket(1000, burst=1000)
    layout = pw.pipeline(lambda p: p.throttle_data_rate(bucket))
    (p1, o1), (p2, o2) = spawn(layout), spawn(layout)
    p1.input(Data(b"a" * 800))
    p2.input(Data(b"b" * 800))
    assert len(o1[0]) == 800
    assert len(o2[0]) == 200


def test_throttle_concurrency_queues_streams_in_order() -> None:
    layout = pw.pipeline(lambda p: p.throttle_concurrency(2))
    streams = [spawn(layout) for _ in range(4)]
    for i, (p, _) in enumerate(streams):
        p.input(Data(str(i).encode()))
    assert [len(o) for _, o in streams] == [1, 1, 0, 0]
    streams[3][0].input(StreamEnd())  # gives up while waiting: leaves the line
    assert streams[3][1] == [Data(b"3"), StreamEnd()]
    streams[0][0].input(StreamEnd())
    assert streams[2][1] == [Data(b"2")]  # admitted when the first ended
    streams[1][0].close()
    streams[2][0].input(StreamEnd())
    assert streams[2][1] == [Data(b"2"), StreamEnd()]
    assert layout.templates[0].cfg.active == 0


async def test_wait_holds_until_condition() -> None:
    flag = {"go": False}
    p, out = spawn(pw.pipeline(lambda p: p.wait(lambda: flag["go"], interval=0.005)))
    p.input(Data(b"a"))
    p.input(Data(b"b"))
    await asyncio.sleep(0.02)
    assert out == []
    flag["go"] = True
    await asyncio.sleep(0.02)
    assert out == [Data(b"a"), Data(b"b")]
    p.input(Data(b"c"))
    assert out[-1] == Data(b"c")


async def test_wait_timeout_ends_the_stream() -> None:
    p, out = spawn(pw.pipeline(lambda p: p.wait(lambda: False, timeout=0.03, interval=0.005)))
    p.input(Data(b"a"))
    await asyncio.sleep(0.1)
    assert out == [StreamEnd("WaitTimeout")]


async def test_wait_async_condition() -> None:
    async def ready() -> bool:
        await asyncio.sleep(0.01)
        return True

    p, out = spawn(pw.pipeline(lambda p: p.wait(ready)))
    p.input(Data(b"a"))
    assert out == []
    await asyncio.sleep(0.05)
    assert out == [Data(b"a")]


def test_tee_appends_data_to_a_file(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "copy.bin"  # type: ignore[operator]
    p, out = spawn(pw.pipeline(lambda p: p.tee(lambda ctx: str(path))))
    p.input(Data(b"ab"))
    p.input(Data(b"cd"))
    p.input(StreamEnd())
    p.close()
    assert path.read_bytes() == b"abcd"
    assert out == [Data(b"ab"), Data(b"cd"), StreamEnd()]


def test_dump_logs_events(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pipework.dump")
    p, out = spawn(pw.pipeline(lambda p: p.dump("tag1")))
    p.input(Data(b"hello"))
    assert out == [Data(b"hello")]
    assert "tag1" in caplog.text
    assert "hello" in caplog.text
