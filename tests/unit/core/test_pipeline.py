"""Pipelines and the generic sub-pipeline filters, as transcripts of events in and out."""

from __future__ import annotations

import asyncio

import pytest

import pipework as pw
from pipework.core import Context, Data, MessageEnd, MessageStart, StreamEnd


def run(layout: pw.Layout, events: list, ctx: Context | None = None) -> list:
    out: list = []
    p = layout.spawn(ctx or Context(), out.append)
    p.start()
    for e in events:
        p.input(e)
    p.close()
    return out


def msg(head: object, body: bytes = b"") -> list:
    return [MessageStart(head), *([Data(body)] if body else []), MessageEnd()]


def test_empty_layout_passes_events_through() -> None:
    evts = [Data(b"a"), Data(b"b"), StreamEnd()]
    assert run(pw.pipeline(lambda p: p), evts) == evts


def test_filters_run_in_order() -> None:
    layout = pw.pipeline(
        lambda p: (
            p.replace_data(lambda d: d + b"1")
            .replace_data(lambda d: d + b"2")
            .replace_data(lambda d: d + b"3")
        )
    )
    assert run(layout, [Data(b"x"), StreamEnd()]) == [Data(b"x123"), StreamEnd()]


def test_event_order_through_nested_sub_pipelines() -> None:
    seen: list[str] = []
    inner = pw.pipeline(
        lambda p: p.handle_data(lambda d: seen.append(f"inner {d.decode()}")).replace_data(
            lambda d: d.upper()
        )
    )
    middle = pw.pipeline(lambda p: p.handle_data(lambda d: seen.append(f"middle {d.decode()}")).link(inner))
    outer = pw.pipeline(
        lambda p: (
            p.handle_data(lambda d: seen.append(f"outer {d.decode()}"))
            .link(middle)
            .handle_data(lambda d: seen.append(f"after {d.decode()}"))
        )
    )
    out = run(outer, [Data(b"a"), Data(b"b"), StreamEnd()])
    assert out == [Data(b"A"), Data(b"B"), StreamEnd()]
    assert seen == ["outer a", "middle a", "inner a", "after A", "outer b", "middle b", "inner b", "after B"]


def test_link_with_to() -> None:
    layout = pw.pipeline(lambda p: p.link().to(lambda p: p.replace_data(b"!")))
    assert run(layout, [Data(b"a")]) == [Data(b"!")]


def test_missing_to_is_an_error_at_build_time() -> None:
    with pytest.raises(TypeError, match=r"demux\(\) needs a sub-pipeline"):
        pw.pipeline(lambda p: p.demux())


def test_to_after_a_step_without_sub_pipeline() -> None:
    with pytest.raises(TypeError, match="takes no sub-pipeline"):
        pw.pipeline(lambda p: p.dump().to(lambda p: p))


def test_unknown_filter_names_the_known_ones() -> None:
    with pytest.raises(AttributeError, match=r"no filter named 'conect'.*connect"):
        pw.pipeline(lambda p: p.conect("x:1"))


def test_branch_picks_first_true_condition_at_stream_start() -> None:
    a = pw.pipeline(lambda p: p.replace_data(b"A"))
    b = pw.pipeline(lambda p: p.replace_data(b"B"))
    layout = pw.pipeline(lambda p: p.branch(lambda e: e.data.startswith(b"a"), a, lambda e: True, b))
    assert run(layout, [Data(b"a1"), Data(b"zz")]) == [Data(b"A"), Data(b"A")]
    assert run(layout, [Data(b"b1"), Data(b"a1")]) == [Data(b"B"), Data(b"B")]


def test_branch_without_match_or_default_passes_through() -> None:
    a = pw.pipeline(lambda p: p.replace_data(b"A"))
    layout = pw.pipeline(lambda p: p.branch(False, a))
    assert run(layout, [Data(b"x")]) == [Data(b"x")]


def test_branch_default_and_context_argument() -> None:
    a = pw.pipeline(lambda p: p.replace_data(b"A"))
    d = pw.pipeline(lambda p: p.replace_data(b"D"))
    layout = pw.pipeline(lambda p: p.branch(lambda e, ctx: ctx.vars.pick == "a", a, d))
    ctx = Context()
    ctx.vars.pick = "a"
    assert run(layout, [Data(b"x")], ctx) == [Data(b"A")]
    ctx.vars.pick = "other"
    assert run(layout, [Data(b"x")], ctx) == [Data(b"D")]


def test_pipe_with_selector_and_targets() -> None:
    targets = {
        "up": pw.pipeline(lambda p: p.replace_data(lambda d: d.upper())),
        "rev": pw.pipeline(lambda p: p.replace_data(lambda d: d[::-1])),
    }
    layout = pw.pipeline(lambda p: p.pipe(lambda e: "up" if e.data[:1] == b"u" else "rev", targets))
    assert run(layout, [Data(b"uab")]) == [Data(b"UAB")]
    assert run(layout, [Data(b"xab")]) == [Data(b"bax")]
    with pytest.raises(LookupError, match="names no target"):
        run(pw.pipeline(lambda p: p.pipe(lambda e: "nope", targets)), [Data(b"a")])


def test_pipe_returning_a_layout_or_none() -> None:
    up = pw.pipeline(lambda p: p.replace_data(lambda d: d.upper()))
    layout = pw.pipeline(lambda p: p.pipe(lambda e: up if e.data == b"a" else None))
    assert run(layout, [Data(b"a"), Data(b"b")]) == [Data(b"A"), Data(b"B")]
    assert run(layout, [Data(b"b"), Data(b"a")]) == [Data(b"b"), Data(b"a")]


def test_fork_copies_and_passes_originals() -> None:
    copies: list[bytes] = []
    side = pw.pipeline(lambda p: p.handle_data(copies.append).replace_data(b"dropped"))
    layout = pw.pipeline(lambda p: p.fork(side, count=2))
    assert run(layout, [Data(b"a"), Data(b"b")]) == [Data(b"a"), Data(b"b")]
    assert copies == [b"a", b"a", b"b", b"b"]


def test_demux_one_sub_pipeline_per_message() -> None:
    contexts = []
    sub = pw.pipeline(
        lambda p: p.handle_message_start(lambda e, ctx: contexts.append(ctx)).replace_message_start(
            lambda e: MessageStart(f"re:{e.head}")
        )
    )
    layout = pw.pipeline(lambda p: p.demux(sub))
    ctx = Context()
    out = run(layout, [*msg(1, b"a"), *msg(2, b"b"), StreamEnd()], ctx)
    assert out == [*msg("re:1", b"a"), *msg("re:2", b"b"), StreamEnd()]
    assert contexts == [ctx, ctx]  # sub-pipelines share the stream's context


async def test_demux_puts_late_responses_back_in_order() -> None:
    delays = {1: 0.03, 2: 0.0, 3: 0.01}

    async def slow(e: MessageStart) -> MessageStart:
        await asyncio.sleep(delays[e.head])
        return MessageStart(e.head)

    sub = pw.pipeline(lambda p: p.replace_message_start(slow))
    out: list = []
    p = pw.pipeline(lambda p: p.demux(sub)).spawn(Context(), out.append)
    for e in [*msg(1, b"x"), *msg(2, b"y"), *msg(3, b"z"), StreamEnd()]:
        p.input(e)
    await asyncio.sleep(0.1)
    assert out == [*msg(1, b"x"), *msg(2, b"y"), *msg(3, b"z"), StreamEnd()]


async def test_mux_merges_streams_and_returns_each_its_response() -> None:
    seen_by_session: list = []
    session = pw.pipeline(
        lambda p: p.handle_message_start(lambda e: seen_by_session.append(e.head)).replace_message_start(
            lambda e: MessageStart(f"re:{e.head}")
        )
    )
    layout = pw.pipeline(lambda p: p.mux(session, key="shared"))
    outs: list[list] = [[], []]
    ps = [layout.spawn(Context(), outs[i].append) for i in range(2)]
    for i, p in enumerate(ps):
        for e in msg(f"s{i}-1", b"a"):
            p.input(e)
    for e in msg("s0-2"):
        ps[0].input(e)
    for p in ps:
        p.input(StreamEnd())
    assert seen_by_session == ["s0-1", "s1-1", "s0-2"]
    assert outs[0] == [*msg("re:s0-1", b"a"), *msg("re:s0-2"), StreamEnd()]
    assert outs[1] == [*msg("re:s1-1", b"a"), StreamEnd()]
    for p in ps:
        p.close()


async def test_mux_default_key_is_one_session_per_connection() -> None:
    made: list = []
    session = pw.pipeline(lambda p: p.on_start(lambda ctx: made.append(ctx) and None))
    layout = pw.pipeline(lambda p: p.mux(session))
    c1, c2 = Context(), Context()
    for ctx in (c1, c1, c2):
        p = layout.spawn(ctx)
        for e in msg("m"):
            p.input(e)
    assert len(made) == 2
