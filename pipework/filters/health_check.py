"""Active health checks: each target of an upstream probed on a timer, marked down and up.

Theory of operation: ``Upstream(health_check=HealthCheck(...))`` gives each target a
:class:`Prober`. Every ``interval`` seconds (spread by ``jitter`` so that targets and workers do
not probe in step) it opens a connection to the target; an HTTP check sends one request and reads
the status line, a TCP check only connects. Whatever happens within ``timeout`` seconds is one
success or one failure for the target's :class:`~pipework.lb.health.HealthCheckState`: ``fall``
failures in a row take the target out of balancing, ``rise`` successes bring it back. Changes are
logged with the reason of the last failure.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from ..codec.http1 import RemoteProtocolError, ResponseDecoder, ResponseHead, header_block, request_line
from ..core.checks import seconds, whole
from ..lb.health import HealthCheckState
from ..net import Outbound
from ..net.loop import running_loop

if TYPE_CHECKING:
    from .upstream import Endpoint, Upstream

#: bytes of a check's response read before its status line must have come
MAX_RESPONSE_HEAD = 64 * 1024


def _statuses(spec: Any) -> frozenset[int]:
    """``"200-399"``, ``"200,204"``, ``200``, or a collection of ints → the set."""
    if isinstance(spec, int) and not isinstance(spec, bool):
        spec = [spec]
    if isinstance(spec, str):
        out: set[int] = set()
        for part in spec.split(","):
            lo, dash, hi = part.strip().partition("-")
            try:
                a = int(lo)
                b = int(hi) if dash else a
            except ValueError:
                raise ValueError(f"HealthCheck(): statuses {spec!r}: write '200-399' or '200,204'") from None
            out.update(range(a, b + 1))
        spec = out
    try:
        result = frozenset(int(s) for s in spec)
    except (TypeError, ValueError):
        raise ValueError(f"HealthCheck(): statuses {spec!r}: write '200-399' or '200,204'") from None
    if not result or any(not 100 <= s <= 599 for s in result):
        raise ValueError(f"HealthCheck(): statuses {spec!r} must be HTTP statuses (100-599)")
    return result


class HealthCheck:
    """How to probe each target of an upstream: ``pw.HealthCheck(path, ...)``.

    ``path``: the HTTP request target of the check; None makes it a TCP check (a connection
    that opens is a success). ``statuses``: the statuses that count as healthy (``"200-399"``).
    ``interval`` seconds between checks of one target, each spread by up to ``jitter`` of it;
    ``timeout``: the longest a check may take. ``fall`` failures in a row take a target down,
    ``rise`` successes bring it back up; targets start up. ``host``: the Host field (the
    target's address by default); ``method`` and ``headers`` of the request.
    """

    def __init__(
        self,
        path: str | None = "/",
        *,
        statuses: Any = "200-399",
        interval: float = 5.0,
        timeout: float = 2.0,
        rise: int = 2,
        fall: int = 3,
        jitter: float = 0.2,
        host: str | None = None,
        method: str = "GET",
        headers: dict[str, str] | None = None,
    ) -> None:
        for what, value in (("interval", interval), ("timeout", timeout)):
            seconds(value, f"HealthCheck(): {what}", zero=False)
        for what, value in (("rise", rise), ("fall", fall)):
            whole(value, f"HealthCheck(): {what}", 1)
        if isinstance(jitter, bool) or not isinstance(jitter, int | float) or not 0 <= jitter < 1:
            raise ValueError(
                f"HealthCheck(): jitter must be a share of the interval in [0, 1), not {jitter!r}"
            )
        if path is not None and not path.startswith("/"):
            raise ValueError(f"HealthCheck(): path {path!r} must start with /")
        self.path = path
        self.statuses = _statuses(statuses)
        self.interval = float(interval)
        self.timeout = float(timeout)
        self.rise = rise
        self.fall = fall
        self.jitter = float(jitter)
        self.host = host
        self.method = method.upper()
        self.fields = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
        if path is not None:
            request_line(self.method, path)  # LocalProtocolError for a space, CR or LF
            header_block(self.fields)

    def request(self, ep: Endpoint) -> bytes:
        host = self.host.encode("idna") if self.host else ep.host_field
        fields = b"".join(b"%s: %s\r\n" % kv for kv in self.fields)
        assert self.path is not None
        return (
            b"%s %s HTTP/1.1\r\nhost: %s\r\nuser-agent: pipework-health-check\r\n%sconnection: close\r\n\r\n"
            % (
                self.method.encode(),
                self.path.encode("latin-1"),
                host,
                fields,
            )
        )

    def prober(self, upstream: Upstream, ep: Endpoint) -> Prober:
        return Prober(self, upstream, ep)

    def __repr__(self) -> str:
        what = f"GET {self.path}" if self.path is not None else "TCP"
        return f"HealthCheck({what} every {self.interval:g}s, rise={self.rise} fall={self.fall})"


class Prober:
    """The checks of one target (see the module docstring); the Outbound's handler while one runs."""

    __slots__ = ("conn", "deadline", "dec", "ep", "hc", "state", "timer", "upstream")

    def __init__(self, hc: HealthCheck, upstream: Upstream, ep: Endpoint) -> None:
        self.hc = hc
        self.upstream = upstream
        self.ep = ep
        self.state = HealthCheckState(hc.rise, hc.fall)
        self.conn: Outbound | None = None
        self.dec: ResponseDecoder | None = None
        self.deadline: Any = None
        # the first check soon, at a random point of the first interval's jitter window
        self.timer: Any = running_loop().call_later(
            random.uniform(0, hc.interval * max(hc.jitter, 0.05)), self.run
        )

    def run(self) -> None:
        self.timer = None
        hc = self.hc
        loop = running_loop()
        self.deadline = loop.call_later(hc.timeout, self._done, False, f"no answer in {hc.timeout:g}s")
        if hc.path is not None:
            self.dec = ResponseDecoder(one_at_a_time=True)
            self.dec.expect(hc.method)
        self.conn = Outbound(self, self.ep.host, self.ep.port, connect_timeout=hc.timeout)
        if hc.path is not None:
            self.conn.write(hc.request(self.ep))

    # -- the connection's handler -------------------------------------------------------------------
    def on_connect(self) -> None:
        if self.hc.path is None:
            self._done(True, "")

    def on_data(self, data: bytes) -> None:
        dec = self.dec
        if dec is None:
            return
        try:
            dec.receive_data(data)
        except RemoteProtocolError as exc:
            self._done(False, f"bad response: {exc}")
            return
        for e in dec.events:
            if type(e) is ResponseHead and e.status >= 200:
                ok = e.status in self.hc.statuses
                self._done(ok, "" if ok else f"status {e.status}")
                return
        dec.events.clear()

    def on_eof(self) -> None:
        self._done(False, "closed before answering")

    def on_close(self, error: str | None) -> None:
        if self.conn is not None:
            self.conn = None
            self._done(False, error or "closed before answering")

    def on_write_paused(self, paused: bool) -> None:
        pass

    # -----------------------------------------------------------------------------------------------
    def _done(self, ok: bool, reason: str) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.abort()
        if self.timer is not None or self.upstream.stopped:
            return  # already settled
        if self.state.record(ok, reason):
            what = "GET " + self.hc.path if self.hc.path is not None else "TCP connect"
            if self.state.up:
                why = f"{self.hc.rise} checks passed"
            else:
                why = f"{self.hc.fall} checks failed ({what}: {reason})"
            self.upstream.set_health(self.ep, down=not self.state.up, why=why)
        hc = self.hc
        delay = hc.interval * (1 + random.uniform(-hc.jitter, hc.jitter))
        self.timer = running_loop().call_later(delay, self.run)

    def stop(self) -> None:
        for t in (self.timer, self.deadline):
            if t is not None:
                t.cancel()
        self.timer = self.deadline = None
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.abort()
