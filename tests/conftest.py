"""Fixtures for every test: see helpers.py."""

from helpers import loop_kind, pipework

__all__ = ["loop_kind", "pipework"]
