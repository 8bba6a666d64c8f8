"""Policy algorithms: token buckets, limits and matchers; pure code with no I/O."""

from .token_bucket import TokenBucket

__all__ = ["TokenBucket"]
