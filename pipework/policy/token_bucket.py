"""Token buckets: the arithmetic of rate limits, with the clock passed in (no I/O).

A bucket holds up to ``burst`` tokens and gains ``rate`` tokens a second. ``take`` removes what
is there up to the amount asked for; ``wait_time`` says how long until an amount is available.
"""

from __future__ import annotations


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` (default: one second's worth) saved up.

    One bucket may be shared by many streams to limit them together.
    """

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"a rate must be > 0, not {rate!r}")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else self.rate
        if self.burst <= 0:
            raise ValueError(f"a burst must be > 0, not {burst!r}")
        self.tokens = self.burst
        self.stamp: float | None = None

    def refill(self, now: float) -> None:
        if self.stamp is not None and now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now if self.stamp is None or now > self.stamp else self.stamp

    def take(self, n: float, now: float) -> float:
        """Remove up to ``n`` tokens; return how many were taken."""
        self.refill(now)
        got = min(n, self.tokens)
        if got > 0:
            self.tokens -= got
            return got
        return 0.0

    def wait_time(self, n: float, now: float) -> float:
        """Seconds until ``min(n, burst)`` tokens are there (0 if they are now)."""
        self.refill(now)
        need = min(n, self.burst) - self.tokens
        return 0.0 if need <= 0 else need / self.rate

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate:g}, burst={self.burst:g})"
