"""Fixtures for every test (see helpers.py) and the hypothesis profiles.

CI (``PIPEWORK_REQUIRE_ALL=1`` or ``CI`` set) runs hypothesis derandomized, so a submission's
result does not depend on the examples drawn that day; local runs draw new examples each time.
Neither profile has a per-example deadline: this 2-core machine is often busy.
"""

import os

from helpers import loop_kind, pipework
from http_peers import backends
from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None)
IN_CI = os.environ.get("PIPEWORK_REQUIRE_ALL") == "1" or bool(os.environ.get("CI"))
settings.load_profile("ci" if IN_CI else "dev")

__all__ = ["backends", "loop_kind", "pipework"]
