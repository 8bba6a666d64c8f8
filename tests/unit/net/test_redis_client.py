"""The Redis client against a real redis-server: pipelined answers in order, a server that stops
answering (SIGSTOP) fails what waits within the timeout, refuses new calls at once while down,
and is used again once it answers (SIGCONT)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Callable, Iterator

import pytest
from helpers import free_port, require, wait_port

from pipework.codec.resp import BulkString, Integer, SimpleError
from pipework.net.redis import RedisClient, RedisError


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    exe = require("redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_port("127.0.0.1", port)
        yield proc, port
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait()


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(500):  # 5 s
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out waiting")


def test_pipelined_answers_timeouts_and_recovery(server: tuple[subprocess.Popen[bytes], int]) -> None:
    proc, port = server
    events: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        client = RedisClient(
            f"redis://127.0.0.1:{port}/3",
            timeout=0.3,
            retry=0.2,
            on_up=lambda: events.append("up"),
            on_down=lambda why: events.append(f"down: {why}"),
        )
        assert not client.call(print, "PING")  # not connected yet: refused at once
        client.start()
        await until(lambda: client.up)
        got: list[object] = []
        for i in range(100):  # written back to back, answered in order
            assert client.call(got.append, "INCRBY", "n", i)
        assert client.call(got.append, "GET", "n")
        assert client.call(got.append, "NOSUCHCOMMAND")
        await until(lambda: len(got) == 102)
        assert got[:100] == [Integer(sum(range(i + 1))) for i in range(100)]
        assert got[100] == BulkString(b"4950")
        assert isinstance(got[101], SimpleError)

        proc.send_signal(signal.SIGSTOP)  # the server hangs: no answer, no close
        failed: list[object] = []
        t0 = loop.time()
        assert client.call(failed.append, "PING")
        await until(lambda: bool(failed))
        assert isinstance(failed[0], RedisError)
        assert 0.25 < loop.time() - t0 < 0.8
        assert "no answer within 0.3s" in str(failed[0])
        assert not client.call(failed.append, "PING")  # down: refused at once
        proc.send_signal(signal.SIGCONT)
        await until(lambda: client.up)
        assert client.call(got.append, "GET", "n")  # the database of the URL, selected again
        await until(lambda: len(got) == 103)
        assert got[102] == BulkString(b"4950")
        client.stop()
        assert not client.up

    asyncio.run(asyncio.wait_for(main(), 20))
    assert events[0] == "up"
    assert events[1] == "down: no answer within 0.3s"
    assert events[-1] == "up"
