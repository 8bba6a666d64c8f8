"""handle_*, replace_*, on_start and on_end: sync and async callbacks, order, context."""

from __future__ import annotations

import asyncio

import pytest

import pipework as pw
from pipework.core import Context, Data, Message, MessageEnd, MessageStart, StreamEnd


def run(layout: pw.Layout, events: list, ctx: Context | None = None) -> list:
    out: list = []
    p = layout.spawn(ctx or Context(), out.append)
    p.start()
    for e in events:
        p.input(e)
    return out


def test_handle_calls_back_and_passes_events() -> None:
    seen: list = []
    layout = pw.pipeline(
        lambda p: (
            p.handle_stream_start(lambda e: seen.append(("start", e)))
            .handle_data(lambda d: seen.append(("data", d)))
            .handle_message_start(lambda e: seen.append(("ms", e.head)))
            .handle_message_end(lambda e: seen.append(("me", e.tail)))
            .handle_stream_end(lambda e: seen.append(("end", e.error)))
        )
    )
    evts = [MessageStart("h"), Data(b"x"), MessageEnd("t"), StreamEnd("Oops")]
    assert run(layout, evts) == evts
    assert seen == [("start", MessageStart("h")), ("ms", "h"), ("data", b"x"), ("me", "t"), ("end", "Oops")]


def test_replace_data_results() -> None:
    layout = pw.pipeline(
        lambda p: p.replace_data(
            lambda d: {b"drop": None, b"two": [b"1", b"2"], b"str": "s", b"msg": Message("h", b"b")}[d]
        )
    )
    out = run(layout, [Data(b"drop"), Data(b"two"), Data(b"str"), Data(b"msg")])
    assert out == [Data(b"1"), Data(b"2"), Data(b"s"), MessageStart("h"), Data(b"b"), MessageEnd()]


def test_replace_with_a_constant() -> None:
    layout = pw.pipeline(lambda p: p.replace_stream_end(Data(b"bye")))
    assert run(layout, [Data(b"a"), StreamEnd()]) == [Data(b"a"), Data(b"bye")]


def test_bad_constant_fails_at_build_time() -> None:
    with pytest.raises(TypeError, match="expected bytes"):
        pw.pipeline(lambda p: p.replace_data(42))


def test_bad_return_value_raises_with_the_type() -> None:
    layout = pw.pipeline(lambda p: p.replace_data(lambda d: 42))
    with pytest.raises(TypeError, match="returned int"):
        run(layout, [Data(b"a")])


def test_callback_arity_is_checked_at_build_time() -> None:
    with pytest.raises(TypeError, match="takes 3 arguments"):
        pw.pipeline(lambda p: p.handle_data(lambda a, b, c: None))


def test_context_argument() -> None:
    ctx = Context()
    ctx.vars.n = 0

    def count(d: bytes, c: Context) -> None:
        c.vars.n += len(d)

    run(pw.pipeline(lambda p: p.handle_data(count)), [Data(b"abc"), Data(b"de")], ctx)
    assert ctx.vars.n == 5


def test_on_start_emits_and_on_end_runs_at_close() -> None:
    ended: list = []
    layout = pw.pipeline(lambda p: p.on_start(lambda: b"hello").on_end(lambda ctx: ended.append(ctx)))
    ctx = Context()
    out: list = []
    p = layout.spawn(ctx, out.append)
    p.start()
    assert out == [Data(b"hello")]
    p.close()
    p.close()
    assert ended == [ctx]


async def test_async_callbacks_keep_event_order() -> None:
    async def slow_upper(d: bytes) -> bytes:
        await asyncio.sleep(0.01 if d == b"a" else 0)
        return d.upper()

    layout = pw.pipeline(lambda p: p.replace_data(slow_upper))
    out = run(
        layout,
        [
            Data(b"a"),
            Data(b"b"),
            StreamEnd(),
        ],
    )
    assert out == []
    await asyncio.sleep(0.05)
    assert out == [Data(b"A"), Data(b"B"), StreamEnd()]


async def test_async_on_start_holds_input_until_done() -> None:
    async def greet() -> bytes:
        await asyncio.sleep(0.01)
        return b"hi"

    out = run(pw.pipeline(lambda p: p.on_start(greet)), [Data(b"x")])
    assert out == []
    await asyncio.sleep(0.05)
    assert out == [Data(b"hi"), Data(b"x")]


async def test_async_failure_goes_to_the_context() -> None:
    async def boom(d: bytes) -> None:
        raise ValueError("nope")

    ctx = Context()
    failures: list = []
    ctx.fail = failures.append
    run(pw.pipeline(lambda p: p.handle_data(boom)), [Data(b"x")], ctx)
    await asyncio.sleep(0.01)
    assert [type(e) for e in failures] == [ValueError]


def test_handle_message_calls_back_with_the_whole_message_and_passes_it_on() -> None:
    seen: list = []
    layout = pw.pipeline(lambda p: p.handle_message(lambda m, ctx: seen.append((m.head, m.body, m.tail))))
    evts = [
        Data(b"before"),
        MessageStart("h1"),
        Data(b"a"),
        Data(b"b"),
        MessageEnd("t1"),
        MessageStart("h2"),
        MessageEnd(),
        StreamEnd(),
    ]
    out = run(layout, evts)
    assert seen == [("h1", b"ab", "t1"), ("h2", b"", None)]
    assert out == [
        Data(b"before"),
        MessageStart("h1"),
        Data(b"ab"),
        MessageEnd("t1"),
        MessageStart("h2"),
        MessageEnd(),
        StreamEnd(),
    ]


def test_replace_message() -> None:
    layout = pw.pipeline(lambda p: p.replace_message(lambda m: Message(f"re:{m.head}", m.body.upper())))
    out = run(layout, [MessageStart("q"), Data(b"x"), MessageEnd(), StreamEnd()])
    assert out == [MessageStart("re:q"), Data(b"X"), MessageEnd(), StreamEnd()]


def test_a_message_past_max_size_ends_the_stream() -> None:
    layout = pw.pipeline(lambda p: p.handle_message(lambda m: None, max_size=4))
    out = run(layout, [MessageStart("q"), Data(b"123"), Data(b"45"), MessageEnd()])
    assert out == [StreamEnd("MessageTooLarge")]
    with pytest.raises(ValueError, match="max_size must be a positive"):
        pw.pipeline(lambda p: p.handle_message(lambda m: None, max_size=0))


async def test_async_replace_message_keeps_order() -> None:
    async def slow(m: Message) -> Message:
        await asyncio.sleep(0.01 if m.head == 1 else 0)
        return Message(m.head * 10)

    out = run(
        pw.pipeline(lambda p: p.replace_message(slow)),
        [MessageStart(1), MessageEnd(), MessageStart(2), MessageEnd(), StreamEnd()],
    )
    await asyncio.sleep(0.05)
    assert out == [MessageStart(10), MessageEnd(), MessageStart(20), MessageEnd(), StreamEnd()]
