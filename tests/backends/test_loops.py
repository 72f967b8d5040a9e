"""NumPy's compiled updates: each in-place ``@elementwise`` function made one loop by ``backends.loops``.

The loop is the function's own statements applied element by element; compiled by Numba it must give what
NumPy gives running the function as written, bit for bit, and allocate no array of the buffer's size.
Without Numba (the test extra alone) the loop tests skip and the fallback is tested instead.
"""

from __future__ import annotations

import ast
import importlib.util
import logging
import sys
import tracemalloc

import numpy as np
import pytest
from test_fused import CASES

from gpudeep import optim
from gpudeep.backends import elementwise, get_backend, loops

needs_numba = pytest.mark.skipif(importlib.util.find_spec("numba") is None,
                                 reason="Numba is not installed (pip install 'gpudeep[fast]'; CI installs it)")
IN_PLACE = {name: case for name, case in CASES.items() if loops._returns_nothing(case[0].__wrapped__)}
SIZE = loops.MIN_SIZE + 17


@pytest.fixture(autouse=True)
def numpy_fuser():
    get_backend("numpy")  # registers loops.fuser for NumPy


def arguments(spec, dtype, rng=0):
    """Flat arrays of SIZE for the letters (nonnegative for "S"), a few of them subnormal, zero or huge."""
    rng = np.random.default_rng(rng)
    tiny = np.finfo(dtype).tiny
    made = []
    for a in spec:
        if not isinstance(a, str):
            made.append(a)
            continue
        values = rng.standard_normal(SIZE).astype(dtype)
        values[:4] = [tiny / 8, 0.0, -tiny / 3, 1e18]
        made.append(np.abs(values) if a == "S" else values)
    return made


def test_the_updates_are_the_in_place_cases():
    assert {"adam", "rmsprop", "momentum", "nesterov", "sgd_W", "l2_gradient"} <= set(IN_PLACE)
    assert "relu" not in IN_PLACE  # returns its result: runs as written


def test_a_loop_is_the_functions_own_statements_at_each_element():
    source = loops.loop_source(optim._adam_step.__wrapped__, [0, 1, 2, 3], "adam")
    loop = ast.parse(source).body[0].body[0]
    assert ast.unparse(loop.iter) == "range(P.shape[0])"
    assert [ast.unparse(s) for s in loop.body[:2]] == ["first_moment[i] *= beta_1",
                                                      "first_moment[i] += one_minus_beta_1 * dP[i]"]
    assert ast.unparse(loop.body[-1]) == "P[i] -= _scaled_descent_step"  # the helper inlined, its local renamed


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(IN_PLACE))
def test_the_compiled_loop_gives_numpys_results_bit_for_bit(case, dtype):
    function, spec = IN_PLACE[case]
    expected = arguments(spec, dtype)
    function.__wrapped__(np, *expected)  # as written
    compiled = arguments(spec, dtype)
    function(np, *compiled)
    assert np in function.kernels
    for after_numpy, after_loop in zip(expected, compiled):
        if isinstance(after_numpy, np.ndarray):
            assert after_loop.dtype == after_numpy.dtype
            np.testing.assert_array_equal(after_loop.view(np.uint8), after_numpy.view(np.uint8))


@needs_numba
def test_an_adam_step_on_a_large_buffer_allocates_no_array_of_its_size():
    P, dP, m, v = arguments(["Z", "Z", "Z", "S"], np.float32)
    scalars = (0.9, 0.1, 0.999, 0.001, 1e-3, 1e-8)
    optim._adam_step(np, P, dP, m, v, *scalars)  # compiled on this first call
    for run, most in ((lambda: optim._adam_step(np, P, dP, m, v, *scalars), 4096),
                      (lambda: optim._adam_step.__wrapped__(np, P, dP, m, v, *scalars), P.nbytes)):
        tracemalloc.start()
        run()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        if most == 4096:
            assert peak < most, f"the compiled step allocated {peak} bytes"
        else:
            assert peak >= most  # the control: as written, NumPy makes a temporary of the buffer's size


def test_small_or_mixed_arrays_run_as_written():
    P, dP = np.ones(10, np.float32), np.ones(10, np.float32)
    optim._descend(np, P, dP, 0.5)  # fewer elements than MIN_SIZE
    np.testing.assert_array_equal(P, 0.5)
    big = np.ones(SIZE, np.float32)
    optim._descend(np, big, np.ones(SIZE, np.float64), 0.5)  # two dtypes: NumPy's casting rules, as written
    np.testing.assert_array_equal(big, 0.5)
    assert loops._qualify([np.ones((SIZE, 2), np.float32).T]) is False  # not C-contiguous


def test_without_numba_updates_run_as_written_and_say_so_once(monkeypatch, caplog):
    monkeypatch.setattr(loops, "_numba", None)
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba raises ImportError

    @elementwise
    def halve(xp, P):
        P *= 0.5

    P = np.ones(SIZE, np.float32)
    with caplog.at_level(logging.INFO, logger="gpudeep"):
        halve(np, P)
        halve(np, P)
    np.testing.assert_array_equal(P, 0.25)
    assert len(caplog.records) == 1 and "pip install 'gpudeep[fast]'" in caplog.records[0].getMessage()


@pytest.mark.parametrize("body, problem", [
    ("    P = P * 2\n", "rebinds an array argument"),
    ("    if P:\n        P *= 2\n", "only assignments and helper calls"),
])
def test_a_function_the_loop_cannot_mean_is_refused(body, problem, tmp_path):
    path = tmp_path / "kernel_module.py"
    path.write_text(f"def kernel(xp, P):\n{body}")
    spec = importlib.util.spec_from_file_location("kernel_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(TypeError, match=problem):
        loops.loop_source(module.kernel, [0], "kernel")


def test_a_helper_whose_locals_clash_with_the_callers_names_is_refused(tmp_path):
    path = tmp_path / "clashing.py"
    path.write_text("def helper(xp, P, rate):\n    step = rate * 2\n    P -= step\n\n"
                    "def kernel(xp, P, step):\n    helper(xp, P, step)\n")
    spec = importlib.util.spec_from_file_location("clashing", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(TypeError, match=r"assigns \['step'\]"):
        loops.loop_source(module.kernel, [0], "kernel")
