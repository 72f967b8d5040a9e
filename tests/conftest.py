"""One backend fixture for every math test, the skip rule for GPU tests, and the notebooks (nbval: run, and
their stored outputs compared) whenever the test extras are installed. The tests' own helpers live in
``support/``, importable by name. SciPy's array API support is on, as scikit-learn's array API checks need."""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from pathlib import Path

# scikit-learn's array API checks (check_array_api_input) run only with SciPy's array API support on, which
# SciPy reads when it is first imported: before any test module imports it.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pytest

sys.path.insert(0, str(Path(__file__).parent / "support"))
import cupy_double  # noqa: E402

from gpudeep.backends import BackendUnavailableError, get_backend

NOTEBOOK_PACKAGES = ("nbval", "ipykernel")
SANITIZE = Path(__file__).parents[1] / "notebooks" / "sanitize.cfg"  # what changes from run to run
needs_array_api_strict = pytest.mark.skipif(
    importlib.util.find_spec("array_api_strict") is None,
    reason="array_api_strict is not installed (pip install -e '.[test]')",
)
BACKENDS = [
    pytest.param(("numpy", None), id="numpy"),
    pytest.param(("array_api_strict", None), id="array_api_strict", marks=needs_array_api_strict),
    # A second device catches any array the math creates without following its inputs.
    pytest.param(("array_api_strict", "device1"), id="array_api_strict-device1", marks=needs_array_api_strict),
    # CuPy's backend on a NumPy-backed double of CuPy: every CuPy-only statement runs on any CPU.
    pytest.param(("cupy_double", None), id="cupy_double"),
    pytest.param(("cupy", None), id="cupy", marks=pytest.mark.gpu),
]


def _missing_notebook_packages() -> list[str]:
    return [name for name in NOTEBOOK_PACKAGES if importlib.util.find_spec(name) is None]


def pytest_configure(config):
    """A plain ``pytest`` runs the notebooks too, through nbval, when it and a Jupyter kernel are installed:
    each cell's output must be the one the notebook stores, up to what ``SANITIZE`` says changes."""
    if not _missing_notebook_packages() and hasattr(config.option, "nbval"):
        config.option.nbval = True
        config.option.nbval_current_env = True  # this interpreter's kernel, whatever kernels are registered
        config.option.nbval_sanitize_with = config.option.nbval_sanitize_with or str(SANITIZE)


def pytest_terminal_summary(terminalreporter):
    missing = _missing_notebook_packages()
    if missing:
        terminalreporter.write_line(f"notebooks: skipped, {' and '.join(missing)} not installed "
                                    f"(pip install -e '.[test]')")


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


def _backend(name: str, device):
    """The backend ``name`` on ``device``, in a generator that holds the CuPy double in place while the test runs."""
    if name != "cupy_double":
        yield get_backend(name, device=device)
        return
    with cupy_double.installed():
        yield get_backend("cupy", device=device)


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each backend in turn: numpy, array_api_strict (two devices), CuPy's on the CuPy double, and cupy when a
    GPU is present."""
    yield from _backend(*request.param)


@pytest.fixture(params=[param for param in BACKENDS if param.id != "numpy"])
def compared_backend(request):
    """Each backend but NumPy, for the tests that compare a backend's results with NumPy's (NumPy against
    itself would prove nothing)."""
    yield from _backend(*request.param)


@pytest.fixture
def double():
    """The CuPy double installed as ``cupy`` for the test; yields what it records (``cupy_double.STATE``)."""
    with cupy_double.installed() as state:
        yield state


@pytest.fixture
def numpy_backend():
    return get_backend("numpy")
