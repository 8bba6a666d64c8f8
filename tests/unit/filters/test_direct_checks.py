"""Steps that decide from the request head alone run on demux_http's direct path in place of a
sub-pipeline (filters.http.direct_checks): which layouts qualify, and what the forwarder does."""

from __future__ import annotations

import pipework as pw
from pipework.codec.http1 import RequestHead
from pipework.core import Context
from pipework.filters.http import GatedForwarder, Refusal


def demux_cfg(layout_fn):  # type: ignore[no-untyped-def]
    layout = pw.pipeline(lambda p: p.demux_http().to(layout_fn))
    return layout.templates[0].cfg


def test_gates_before_a_proxy_or_a_route_go_direct() -> None:
    up = pw.Upstream(["127.0.0.1:9"])
    cfg = demux_cfg(lambda p: p.request_id().rate_limit(5, 60).proxy(up))
    assert type(cfg.forwarder) is GatedForwarder
    assert len(cfg.forwarder.checks) == 2
    routes = pw.Router()
    routes.add(pw.to(pw.pipeline(lambda p: p.api_key(["k"]).proxy(up))), prefix="/")
    cfg = demux_cfg(lambda p: p.request_id().route(routes))
    assert type(cfg.forwarder) is GatedForwarder
    forward = routes.routes[0].value
    assert forward.proxy is not None
    assert len(forward.checks) == 1


def test_steps_that_need_the_body_or_redis_keep_the_sub_pipeline() -> None:
    up = pw.Upstream(["127.0.0.1:9"])
    assert demux_cfg(lambda p: p.rate_limit(5, 60, cost="bytes").proxy(up)).forwarder is None
    assert demux_cfg(lambda p: p.rate_limit(5, 60, redis="redis://127.0.0.1:9").proxy(up)).forwarder is None
    assert demux_cfg(lambda p: p.forward_auth("127.0.0.1:9").proxy(up)).forwarder is None
    assert demux_cfg(lambda p: p.handle_message_start(lambda e: None).proxy(up)).forwarder is None


def test_the_first_answer_is_sent_and_later_checks_do_not_run() -> None:
    up = pw.Upstream(["127.0.0.1:9"])
    cfg = demux_cfg(lambda p: p.api_key(["k"]).rate_limit(1, 60, zone="direct-test").proxy(up))
    fwd = cfg.forwarder
    ctx = Context()
    head = RequestHead("GET", "/", "1.1", [(b"host", b"x")])
    refusal = fwd.direct(head, ctx)
    assert type(refusal) is Refusal
    assert refusal.answer[0] == 401
    data = refusal.encode(head, True)
    assert data.startswith(b"HTTP/1.1 401 ")
    assert data.endswith(b"an API key is required in the x-api-key field\n")
    ok = RequestHead("GET", "/", "1.1", [(b"host", b"x"), (b"x-api-key", b"k")])
    assert fwd.direct(ok, ctx) is cfg.forwarder.inner  # the proxy takes it
    again = fwd.direct(RequestHead("GET", "/", "1.1", [(b"host", b"x"), (b"x-api-key", b"k")]), ctx)
    assert type(again) is Refusal
    assert again.answer[0] == 429
