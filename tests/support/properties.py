"""Hypothesis for the property-based tests, or, where it is not installed (a GPU machine's preinstalled
Python, say), stand-ins that skip each property test with the reason and leave the module's other tests
to run.

Test modules import ``given``, ``settings``, ``st``, ``arrays`` and ``HealthCheck`` from here.
"""

from __future__ import annotations

import pytest

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays
except ImportError:
    MISSING = "hypothesis is not installed (pip install -e '.[test]')"

    class _Unused:
        """Strategies and health checks, which a skipped test never draws from: any attribute or call is itself."""

        def __getattr__(self, name):
            return self

        def __call__(self, *args, **kwargs):
            return self

        def __or__(self, other):  # strategies combined with |
            return self

        __ror__ = __or__

    st = arrays = HealthCheck = _Unused()

    def given(*args, **kwargs):
        return pytest.mark.skip(reason=MISSING)

    def settings(*args, **kwargs):
        return lambda test: test

__all__ = ["HealthCheck", "arrays", "given", "settings", "st"]
