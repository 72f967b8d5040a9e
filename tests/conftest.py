"""One backend fixture for every math test, and the skip rule for GPU tests."""

from __future__ import annotations

import functools

import pytest

from gpudeep.backend import BackendUnavailableError, get_backend

BACKENDS = [
    pytest.param(("numpy", None), id="numpy"),
    pytest.param(("array_api_strict", None), id="array_api_strict"),
    # A second device catches any array the math creates without following its inputs.
    pytest.param(("array_api_strict", "device1"), id="array_api_strict-device1"),
    pytest.param(("cupy", None), id="cupy", marks=pytest.mark.gpu),
]


@functools.cache
def gpu_unavailable_reason() -> str | None:
    """Why the cupy backend cannot run here, or None when it can."""
    try:
        get_backend("cupy")
    except BackendUnavailableError as error:
        return str(error).partition(". To fix:")[0]
    return None


def pytest_runtest_setup(item):
    if item.get_closest_marker("gpu") and gpu_unavailable_reason():
        pytest.skip(f"needs a GPU: {gpu_unavailable_reason()}")


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each backend in turn: numpy, array_api_strict (two devices), and cupy when a GPU is present."""
    name, device = request.param
    return get_backend(name, device=device)


@pytest.fixture
def numpy_backend():
    return get_backend("numpy")
