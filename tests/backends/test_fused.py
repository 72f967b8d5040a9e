"""The fused elementwise kernels: the same functions as the NumPy math, one kernel each on CuPy.

Every ``@elementwise`` function of the math is listed in CASES. On a GPU each fused
kernel is compared with the NumPy call (``gpu``-marked). Without a GPU, CuPy still
traces each function into the CUDA source it would launch, and NVRTC compiles that
source for the H100/H200 architecture (sm_90): a function that cannot fuse, a silent
upcast to float64 or code that does not compile fails here, on any CPU.
"""

from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest
from conftest import gpu_unavailable_reason

from gpudeep import activations, layers, losses, network, optim
from gpudeep.backends import elementwise, get_backend

SHAPE, BIAS, COLUMN = (5, 7), (5, 1), (1, 7)
# function, then its arguments after xp: "Z" an array of SHAPE with both signs, "S" a nonnegative one
# (a mean square, a target), "b" one of BIAS, "c" a row of COLUMN with both signs and "p" a positive one
# (per-sample values such as Z_max and Σ e^(Z - Z_max)); numbers as they are
CASES = {
    "sigmoid": (activations.sigmoid, ["Z"]),
    "sigmoid_backward": (activations.sigmoid_backward, ["Z", "Z", "Z"]),
    "relu": (activations.relu, ["Z"]),
    "relu_backward": (activations.relu_backward, ["Z", "Z", "Z"]),
    "leaky_relu": (activations.leaky_relu, ["Z"]),
    "leaky_relu_backward": (activations.leaky_relu_backward, ["Z", "Z", "Z"]),
    "tanh": (activations.tanh, ["Z"]),
    "tanh_backward": (activations.tanh_backward, ["Z", "Z", "Z"]),
    "shifted_exp": (activations.shifted_exp, ["Z", "c"]),
    "exp": (activations.exp, ["Z"]),
    "output_delta": (losses._difference_over, ["Z", "Z", 7]),
    "binary_cross_entropy": (losses._binary_cross_entropy_terms, ["Z", "S", 7]),
    "categorical_cross_entropy": (losses._categorical_cross_entropy_terms, ["Z", "S", "c", "p", 7]),
    "mean_squared_error": (losses._half_squared_error, ["Z", "Z", 14]),
    "poisson": (losses._poisson_terms, ["Z", "S", 7]),
    "sgd_W": (optim._descend, ["Z", "Z", 0.1]),
    "sgd_b": (optim._descend, ["b", "b", 0.1]),
    "momentum": (optim._momentum_step, ["Z", "Z", "Z", 0.1, 0.9]),
    "nesterov": (optim._nesterov_step, ["Z", "Z", "Z", 0.1, 0.9]),
    "rmsprop": (optim._rmsprop_step, ["Z", "Z", "S", 0.01, 0.9, 0.1, 1e-8]),
    "adam": (optim._adam_step, ["Z", "Z", "Z", "S", 0.9, 0.1, 0.999, 0.001, 0.003, 1e-8]),
    "l2_gradient": (network._add_scaled, ["Z", "Z", 0.01]),
    "dropout_mask": (optim._inverted_dropout_mask, ["S", 0.8]),
    "batch_norm_running": (layers._blend, ["b", "b", 0.9, 0.1]),
    "batch_norm_standardized": (layers._standardized, ["Z", "b", "b"]),
    "batch_norm_backward": (layers._through_batch_statistics, ["Z", "Z", "b", "b", "b"]),
}


def host_arguments(spec, dtype, rng=0):
    """NumPy arrays for the letters, numbers as given."""
    rng = np.random.default_rng(rng)
    arrays = {
        "Z": lambda: rng.uniform(0.1, 2.0, SHAPE) * rng.choice([-1.0, 1.0], SHAPE),
        "S": lambda: rng.uniform(0.0, 2.0, SHAPE),
        "b": lambda: rng.uniform(-2.0, 2.0, BIAS),
        "c": lambda: rng.uniform(-2.0, 2.0, COLUMN),
        "p": lambda: rng.uniform(0.5, 3.0, COLUMN),
    }
    return [arrays[a]().astype(dtype) if a in arrays else a for a in spec]


def test_every_elementwise_function_of_the_library_is_a_case():
    """A new ``@elementwise`` function is traced, dtype-checked, compiled and compared on a GPU only if listed."""
    import gpudeep

    marked = {value for module in vars(gpudeep).values() if isinstance(module, type(np))
              for value in vars(module).values() if callable(value) and hasattr(value, "kernels")
              and hasattr(value, "__wrapped__")}
    listed = {function for function, _ in CASES.values()}
    assert marked and marked == listed, sorted(f.__name__ for f in marked ^ listed)


def test_elsewhere_the_function_runs_as_written():
    import array_api_strict

    calls = []

    @elementwise
    def double(xp, Z):
        calls.append(xp.__name__)
        return 2 * Z

    Z = array_api_strict.ones(3)
    assert array_api_strict.all(double(array_api_strict, Z) == 2.0)
    assert calls == ["array_api_strict"] and double.kernels == {} and double.__name__ == "double"
    get_backend("numpy")  # NumPy's fuser: a function that returns its result runs as written there too
    np.testing.assert_array_equal(double(np, np.ones(3)), [2.0, 2.0, 2.0])
    assert calls == ["array_api_strict", "numpy"]


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(CASES))
def test_fused_kernel_matches_numpy(case, dtype):
    """Outputs and in-place updates of the CuPy kernel against the NumPy call, to float tolerance."""
    cupy = get_backend("cupy")
    function, spec = CASES[case]
    host = host_arguments(spec, dtype)
    device = [cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in host]
    expected = function(np, *host)
    result = function(cupy.xp, *device)
    assert cupy.xp in function.kernels  # it ran fused, not as separate operations
    tolerance = {"float32": 2e-6, "float64": 1e-14}[dtype]
    if expected is not None:
        assert result.dtype == expected.dtype
        np.testing.assert_allclose(cupy.to_numpy(result), expected, rtol=tolerance, atol=tolerance)
    for after_numpy, after_cupy in zip(host, device):  # the arguments updated in place
        if isinstance(after_numpy, np.ndarray):
            np.testing.assert_allclose(cupy.to_numpy(after_cupy), after_numpy, rtol=tolerance, atol=tolerance)


# --- CuPy's code generation: what each kernel computes in, and that NVRTC compiles it ----------------------

KNOWN_CUPY = 14  # the major version of CuPy whose private code generator these helpers read
C_TYPE = {"float32": "float", "float64": "double"}
FLOAT_TYPES = re.compile(r"\b(float16|half|float|double)\b")


def _cupy_internals_changed(cupy, what: str, error: BaseException):
    """Fail on the CuPy these helpers were written for; on another major version skip, saying what changed."""
    message = f"CuPy {cupy.__version__} {what}: {type(error).__name__}: {error}"
    if int(cupy.__version__.split(".")[0]) == KNOWN_CUPY:
        pytest.fail(message)
    pytest.skip(f"{message} (these helpers read CuPy {KNOWN_CUPY}'s internals)")


def _cuda_toolchain():
    """(cupy, nvrtc, include directories) for compiling CuPy's kernel source, or a skip saying what is missing.
    NVRTC and the headers are found the way CuPy finds them (``cuda.pathfinder``)."""
    if not gpu_unavailable_reason():
        pytest.skip("a GPU is present: the gpu-marked parity tests compile and run the kernels themselves")
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'gpudeep[cuda12]')")
    from cupy._core import core
    from cupy_backends.cuda.libs import nvrtc

    from gpudeep.backends.cupy_probe import missing_cuda_parts

    missing = [part for part in missing_cuda_parts() if not part.startswith("cuBLAS")]
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (pip install 'gpudeep[cuda12]')")
    from cuda import pathfinder

    cupy_include = pathlib.Path(core._get_header_dir_path())
    cccl = cupy_include / "cupy" / "_cccl"
    includes = [cupy_include, cccl / "libcudacxx", cccl / "cub", cccl / "thrust",
                pathlib.Path(pathfinder.find_nvidia_header_directory("cudart"))]
    return cupy, nvrtc, includes


def _placeholder(cupy, array):
    """A CuPy array with the shape and dtype of ``array`` over memory that is never touched: enough to trace."""
    memory = cupy.cuda.UnownedMemory(0x1000_0000, array.nbytes, None, device_id=0)
    return cupy.ndarray(array.shape, array.dtype, memptr=cupy.cuda.MemoryPointer(memory, 0))


def _device_arguments(cupy, spec, dtype):
    """The case's arguments as CuPy arrays: real ones on a GPU, placeholders without one."""
    host = host_arguments(spec, dtype)
    make = _placeholder if gpu_unavailable_reason() else lambda cupy, array: cupy.asarray(array)
    return [make(cupy, a) if isinstance(a, np.ndarray) else a for a in host]


def _traced_kernel(cupy, function, arguments, monkeypatch):
    """The ElementwiseKernel that cupy.fuse makes of ``function`` for these arguments (without a GPU, only
    the launch fails: tracing and code generation need no driver)."""
    from gpudeep.backends.cupy import enable_fusion

    enable_fusion(cupy)  # what a CupyBackend does when it is made
    monkeypatch.setattr(function, "kernels", {})
    if gpu_unavailable_reason():
        with pytest.raises(cupy.cuda.runtime.CUDARuntimeError):
            function(cupy, *arguments)
    else:
        function(cupy, *arguments)
    try:
        memo = function.kernels[cupy]._memo
    except AttributeError as error:
        _cupy_internals_changed(cupy, "keeps its fused kernels elsewhere than Fusion._memo", error)
    assert len(memo) == 1, f"{function.__name__} did not fuse into one kernel: an operation cupy.fuse cannot trace"
    (kernel, _), = memo.values()
    return kernel


def _computed_in(kernel) -> set[str]:
    """The C float types of the kernel's temporaries, casts and device functions: what the GPU computes in.

    Constants (``const double v1 = 0.5;``) and scalar parameters are cast to the kernel's type where they
    are used, and ``#include`` lines name headers, so neither counts.
    """
    return {name for line in _arithmetic_lines(kernel) for name in FLOAT_TYPES.findall(line)}


def _arithmetic_lines(kernel) -> list[str]:
    lines = f"{kernel.operation}\n{kernel.preamble}".splitlines()
    return [line for line in lines if not line.lstrip().startswith(("#include", "const "))]


def _kernel_source(cupy, kernel, arguments) -> str:
    """The CUDA C++ that CuPy generates for ``kernel`` over 2-d strided arrays."""
    from cupy._core import _kernel

    try:
        return _generated_source(cupy, _kernel, kernel, arguments)
    except (AttributeError, TypeError) as error:  # private CuPy API, which a new CuPy may change
        _cupy_internals_changed(cupy, "generates kernel source through other internals", error)


def _generated_source(cupy, _kernel, kernel, arguments) -> str:
    """Through CuPy's private code generator; argument kinds: 1 an array, 2 the indexer, 3 a number."""
    info = [_kernel._ArgInfo(1, cupy.ndarray, a.dtype.type, 2, False, True) if isinstance(a, cupy.ndarray)
            else _kernel._ArgInfo(3, type(a), np.dtype(type(a)).type, 0, False, True) for a in arguments]
    info += [_kernel._ArgInfo(1, cupy.ndarray, p.dtype.type, 2, False, True) for p in kernel.out_params]
    info.append(_kernel._ArgInfo(2, None, None, 2, False, True))
    params = (*kernel.in_params, *kernel.out_params, _kernel.ParameterInfo("CIndexer _ind", False))
    code = _kernel._get_elementwise_kernel_code(tuple(info), _kernel._TypeMap(()), params, kernel.operation,
                                                kernel.name, kernel.preamble)
    headers = ("cuda_workaround.h", "complex.cuh", "carray.cuh", "atomics.cuh", "math_constants.h")
    return "".join(f"#include <cupy/{header}>\n" for header in headers) + code


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(CASES))
def test_kernel_computes_in_the_dtype_of_its_arrays(case, dtype, monkeypatch):
    """No float16 anywhere, and a float32 kernel does no float64 arithmetic: the generated source's types are
    what the GPU computes in (with a GPU or without one)."""
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'gpudeep[cuda12]')")
    function, spec = CASES[case]
    kernel = _traced_kernel(cupy, function, _device_arguments(cupy, spec, dtype), monkeypatch)
    computed_in = _computed_in(kernel)
    offending = [line for line in _arithmetic_lines(kernel) if set(FLOAT_TYPES.findall(line)) - {C_TYPE[dtype]}]
    assert computed_in == {C_TYPE[dtype]}, f"the {dtype} {case} kernel computes in {sorted(computed_in)}:\n" + \
        "\n".join(offending[:12])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(CASES))
def test_kernel_traces_keeps_its_dtype_and_compiles_for_sm90(case, dtype, monkeypatch):
    cupy, nvrtc, includes = _cuda_toolchain()
    function, spec = CASES[case]
    arguments = _device_arguments(cupy, spec, dtype)
    kernel = _traced_kernel(cupy, function, arguments, monkeypatch)

    inputs = dict(zip(kernel.in_params, arguments))
    assert all(p.dtype == np.dtype(dtype) for p, a in inputs.items() if isinstance(a, cupy.ndarray))
    assert all(p.dtype == np.dtype(dtype) for p in kernel.out_params), "the kernel changes the dtype"
    if function(np, *host_arguments(spec, dtype)) is None:  # an update in place writes its arguments
        assert kernel.out_params == () and any(not p.is_const for p in kernel.in_params)
    else:
        assert len(kernel.out_params) == 1

    program = nvrtc.createProgram(_kernel_source(cupy, kernel, arguments), f"{case}.cu", [], [])
    try:
        nvrtc.compileProgram(program, ["-arch=compute_90", "--std=c++17", *(f"-I{path}" for path in includes)])
    except nvrtc.NVRTCError:
        pytest.fail(f"NVRTC cannot compile the {case} kernel:\n{nvrtc.getProgramLog(program)}")
    finally:
        nvrtc.destroyProgram(program)
