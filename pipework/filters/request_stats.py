"""The numbers the metrics report about HTTP requests: counts by status class, a latency
histogram and bytes, per (listener, route, upstream); and each upstream's time to the response
head and to its end.

Theory of operation: once a program serves metrics (:func:`enable`), ``demux_http`` times each
request and adds its response to the :class:`Series` of its listener (the local port), route
name and upstream name, which it looks up once and keeps while the next requests of the
connection go the same way (a program without metrics pays nothing). A series is one flat
list of numbers: a response costs three or four increments and, past a millisecond, one C
``bisect`` (its bucket). Buckets are kept apart (not cumulative) and made cumulative when a
scrape reads them. The proxy's exchange feeds :data:`UPSTREAMS` when a response from an
upstream ends. Label sets are bounded: routes and upstreams come from the script, and past
``MAX_SERIES`` new combinations are counted under ``route="~other"`` and ``upstream="~other"``.
"""

from __future__ import annotations

from bisect import bisect_left

#: upper bounds (seconds) of the latency buckets: from a cached file (well under 1 ms) to a slow
#: upstream; the +Inf bucket follows. Prometheus' defaults, with 1 and 2.5 ms for a local proxy.
BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FIRST_BOUND = BOUNDS[0]
#: distinct (listener, route, upstream) label sets kept; more are counted together as "~other"
MAX_SERIES = 1000
OTHER = "~other"


#: buckets of one histogram (BOUNDS, then +Inf)
WIDTH = len(BOUNDS) + 1
#: where Series.v keeps the seconds taken, the bytes received and sent (after the buckets)
SECONDS, RECEIVED, SENT = 10 * WIDTH, 10 * WIDTH + 1, 10 * WIDTH + 2


class Series:
    """The requests of one (listener, route, upstream), as one flat list ``v`` (one attribute
    read per request, one increment per fact): a latency histogram per status class (the first
    digit of the status, 0..9: ``v[digit * WIDTH + bucket]``, each bucket apart, not cumulative),
    then the seconds taken in all, request body bytes received and response bytes sent (head and
    body). :meth:`classes` and :meth:`buckets` read them back."""

    __slots__ = ("v",)

    def __init__(self) -> None:
        self.v: list[float] = [0] * (10 * WIDTH + 3)

    def observe(self, cls: int, seconds: float, received: int, sent: int) -> None:
        """One response: ``cls`` the first digit of its status, ``seconds`` from the request
        head to the response's last byte handed to the connection, request body bytes and
        response bytes."""
        v = self.v
        # most answers take under a millisecond: one comparison instead of a bisection
        v[cls * WIDTH + (0 if seconds <= FIRST_BOUND else bisect_left(BOUNDS, seconds))] += 1
        v[SECONDS] += seconds
        v[SENT] += sent
        if received:
            v[RECEIVED] += received

    def classes(self) -> list[int]:
        """Responses by the first digit of their status (index 0..9)."""
        v = self.v
        return [int(sum(v[c * WIDTH : (c + 1) * WIDTH])) for c in range(10)]

    def buckets(self) -> list[int]:
        """Responses by latency bucket (BOUNDS, then +Inf), whatever their status."""
        v = self.v
        return [int(sum(v[c * WIDTH + b] for c in range(10))) for b in range(WIDTH)]

    @property
    def seconds(self) -> float:
        return self.v[SECONDS]

    @property
    def received(self) -> int:
        return int(self.v[RECEIVED])

    @property
    def sent(self) -> int:
        return int(self.v[SENT])


#: [True] once a program serves metrics (``serve_metrics``): only then does ``demux_http`` time
#: requests and feed the series (and proxies their upstream's timing); nobody would read them
ENABLED = [False]


def enable() -> None:
    """Count requests in the series from now on (connections opened from now on)."""
    ENABLED[0] = True


#: every series of this process, by (listener, route, upstream); "" when there is none
SERIES: dict[tuple[str, str, str], Series] = {}


def series(listener: str, route: str, upstream: str) -> Series:
    """The series of these labels, made on first use (bounded, see the module docstring)."""
    key = (listener, route, upstream)
    s = SERIES.get(key)
    if s is None:
        if len(SERIES) >= MAX_SERIES:
            key = (listener, OTHER, OTHER)
            s = SERIES.get(key)
        if s is None:
            s = SERIES[key] = Series()
    return s


class Timing:
    """One upstream's responses: time from the request sent to the response head (``head``) and
    to its end (``whole``), as histograms over :data:`BOUNDS` with their sums."""

    __slots__ = ("head", "head_sum", "whole", "whole_sum")

    def __init__(self) -> None:
        self.head = [0] * WIDTH
        self.whole = [0] * WIDTH
        self.head_sum = 0.0
        self.whole_sum = 0.0

    def observe(self, head: float, whole: float) -> None:
        self.head[0 if head <= FIRST_BOUND else bisect_left(BOUNDS, head)] += 1
        self.head_sum += head
        self.whole[0 if whole <= FIRST_BOUND else bisect_left(BOUNDS, whole)] += 1
        self.whole_sum += whole


#: by upstream name (upstreams are named in the script or after their targets: bounded)
UPSTREAMS: dict[str, Timing] = {}


def upstream_timing(name: str) -> Timing:
    t = UPSTREAMS.get(name)
    if t is None:
        if len(UPSTREAMS) >= MAX_SERIES:
            name = OTHER
            t = UPSTREAMS.get(name)
        if t is None:
            t = UPSTREAMS[name] = Timing()
    return t
