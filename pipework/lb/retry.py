"""When a failed request may go again: the retry policy, its budget and its back-off (pure).

Theory of operation: a proxy asks :meth:`Retry.allows` after a try failed, with what went wrong
(an error name such as ``ConnectionRefused``, or a response status), the method, how many tries
were made and the time; the proxies using the policy count their requests in ``requests``. The
answer weighs the safety of the method (RFC 9110 9.2.2: only idempotent requests are sent twice
unless the user says otherwise; a connection that never opened carried nothing, so any method
may go again), the conditions the user listed, the number of attempts, and a budget, as
Finagle's and Linkerd's: each request earns ``budget`` of a retry and each second
``min_per_second`` more, up to what ``window`` seconds at that floor would earn, and a retry
spends one. A burst of failures (a server dying under load) is absorbed; a steady failure rate
adds at most ``budget`` of the load in retries, so a struggling upstream is not buried under
them. :meth:`Retry.delay` gives a jittered exponential back-off ("full jitter").
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable

from ..core.checks import whole

IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"))

#: failures to connect: nothing reached the server, so any method may be tried again
CONNECT_FAILURES = frozenset(("ConnectionRefused", "ConnectionTimeout", "Unreachable", "AddressNotAvailable"))
#: the connection broke after the request may have reached the server
RESETS = frozenset(("ConnectionReset", "UpstreamClosed", "ReadError", "WriteError"))
TIMEOUTS = frozenset(("ReadTimeout",))

#: the names ``on`` takes, and the error names each stands for
CONDITIONS: dict[str, frozenset[str]] = {
    "connect-failure": CONNECT_FAILURES,
    "reset": RESETS,
    "timeout": TIMEOUTS,
    "bad-gateway": frozenset(("BadGateway",)),
}


class Retry:
    """A retry policy for ``proxy(..., retry=Retry(...))``.

    ``attempts``: tries after the first (0: never retry). ``on``: what may be retried — any of
    ``"connect-failure"``, ``"reset"`` (the connection broke before the response head came),
    ``"timeout"`` (no response head within the read timeout), ``"bad-gateway"`` (an unparsable
    response), and response statuses such as 502, 503, 504. The default is nginx's
    ``proxy_next_upstream error timeout``. ``methods``: the methods retried after the request may
    have reached the server (the idempotent ones by default); a connect failure is retried for
    any method. ``budget``: the share of the requests that may be retried; ``min_per_second``
    retries a second are allowed whatever the traffic, and an unused allowance is kept up to
    ``window`` seconds' worth of that floor (see the module docstring). ``backoff`` and
    ``max_backoff``: the first retry waits a random time up to ``backoff`` seconds, each next
    one up to twice as long, never more than ``max_backoff`` (0: go at once).
    A retry goes to a different target when the upstream has one.
    """

    __slots__ = (
        "_counted",
        "_stamp",
        "attempts",
        "backoff",
        "budget",
        "cap",
        "errors",
        "max_backoff",
        "methods",
        "min_per_second",
        "requests",
        "rng",
        "statuses",
        "tokens",
    )

    def __init__(
        self,
        attempts: int = 2,
        *,
        on: Iterable[str | int] = ("connect-failure", "reset", "timeout"),
        methods: Collection[str] = IDEMPOTENT,
        budget: float = 0.2,
        min_per_second: float = 10.0,
        window: float = 10.0,
        backoff: float = 0.025,
        max_backoff: float = 0.25,
        rng: random.Random | None = None,
    ) -> None:
        whole(attempts, "Retry(): attempts")
        errors: set[str] = set()
        statuses: set[int] = set()
        for cond in [on] if isinstance(on, str | int) else on:
            if isinstance(cond, int) and not isinstance(cond, bool):
                if not 100 <= cond <= 599:
                    raise ValueError(f"Retry(): {cond} is not an HTTP status")
                statuses.add(cond)
            elif isinstance(cond, str) and cond in CONDITIONS:
                errors |= CONDITIONS[cond]
            else:
                raise ValueError(
                    f"Retry(): cannot retry on {cond!r}; use {', '.join(CONDITIONS)} or a status such as 503"
                )
        numbers = {
            "budget": budget,
            "min_per_second": min_per_second,
            "window": window,
            "backoff": backoff,
            "max_backoff": max_backoff,
        }
        for name, value in numbers.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"Retry(): {name} must be a number >= 0, not {value!r}")
        self.attempts = attempts
        self.errors = frozenset(errors)
        self.statuses = frozenset(statuses)
        self.methods = frozenset(m.upper() for m in methods)
        self.budget = float(budget)
        self.min_per_second = float(min_per_second)
        #: the most retries the budget can hold; it starts full
        self.cap = max(1.0, self.min_per_second * window)
        self.tokens = self.cap
        #: requests sent under this policy, counted by the proxies that use it (shared by routes)
        self.requests = 0
        self._counted = 0
        self._stamp: float | None = None
        self.backoff = float(backoff)
        self.max_backoff = float(max(max_backoff, backoff))
        self.rng = rng or random.Random()

    def allows(self, failure: str | int, method: str, tries: int, now: float = 0.0) -> bool:
        """Whether a request that failed with ``failure`` (an error name or a status) after
        ``tries`` tries may go again, ``now`` being the time in seconds; a True answer spends
        one retry of the budget."""
        if tries > self.attempts:
            return False
        if isinstance(failure, int):
            if failure not in self.statuses or method not in self.methods:
                return False
        elif failure not in self.errors or (failure not in CONNECT_FAILURES and method not in self.methods):
            return False
        requests = self.requests
        earned = self.budget * (requests - self._counted)
        if self._stamp is not None:
            earned += self.min_per_second * max(0.0, now - self._stamp)
        self._counted, self._stamp = requests, now
        self.tokens = min(self.cap, self.tokens + earned)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def delay(self, tries: int) -> float:
        """Seconds to wait before try number ``tries + 1`` (``tries`` >= 1 made so far)."""
        if self.backoff <= 0:
            return 0.0
        cap = min(self.max_backoff, self.backoff * (1 << min(tries - 1, 16)))
        return self.rng.uniform(0, cap)

    def __repr__(self) -> str:
        on = sorted(n for n, names in CONDITIONS.items() if names <= self.errors)
        return f"Retry(attempts={self.attempts}, on={on + sorted(self.statuses)})"
