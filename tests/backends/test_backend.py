"""Backend selection, the CuPy probe and its fallback, and the rule against mixing backends."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import gpudeep
from gpudeep import backends
from gpudeep.backends import (
    BACKEND_NAMES,
    BackendUnavailableError,
    check_same_backend,
    cupy_probe,
    get_backend,
)


@pytest.fixture
def fresh_probe():
    """Forget cached CuPy probes before and after a test that fakes CuPy."""
    backends.forget()
    yield
    backends.forget()


def cupy_is_installed() -> bool:
    return importlib.util.find_spec("cupy") is not None


class CUDARuntimeError(RuntimeError):
    """The stand-in for CuPy's CUDA runtime error."""


class CompileException(Exception):
    """The stand-in for CuPy's NVRTC compile error."""


def fake_cupy(monkeypatch, device_count, smoke_test=None, driver=12090):
    """Install a stand-in ``cupy`` whose device count is ``device_count()`` (which may raise), whose ``arange`` is
    ``smoke_test``, and whose driver supports CUDA ``driver`` (0: no driver installed)."""
    runtime = types.SimpleNamespace(getDeviceCount=device_count, CUDARuntimeError=CUDARuntimeError,
                                    driverGetVersion=lambda: driver, runtimeGetVersion=lambda: 12090,
                                    getDevice=lambda: 0)
    module = types.ModuleType("cupy")
    module.__version__ = "0.0-fake"
    compiler = types.SimpleNamespace(CompileException=CompileException)
    module.cuda = types.SimpleNamespace(runtime=runtime, compiler=compiler, Device=lambda i: contextlib.nullcontext())
    module.float32 = np.float32
    module.arange = smoke_test
    monkeypatch.setitem(sys.modules, "cupy", module)


def test_argument_beats_environment(monkeypatch):
    monkeypatch.setenv("GPUDEEP_BACKEND", "cupy")
    chosen = get_backend("numpy")
    assert chosen.name == "numpy"
    assert "as requested" in chosen.reason


def test_environment_beats_auto(monkeypatch):
    monkeypatch.setenv("GPUDEEP_BACKEND", "array_api_strict")
    chosen = get_backend()
    assert chosen.name == "array_api_strict"
    assert "GPUDEEP_BACKEND" in chosen.reason


def test_default_is_auto(monkeypatch, fresh_probe):
    monkeypatch.delenv("GPUDEEP_BACKEND", raising=False)
    fake_cupy(monkeypatch, lambda: 0)
    chosen = get_backend()
    assert chosen.name == "numpy"
    assert chosen.reason.startswith("auto chose numpy")


def test_names_are_case_and_space_insensitive():
    assert get_backend(" NumPy ").name == "numpy"


@pytest.mark.parametrize("name", ["torch", "gpu", ""])
def test_unknown_name_lists_valid_ones(monkeypatch, name):
    with pytest.raises(ValueError) as error:
        get_backend(name or "  ")
    for valid in BACKEND_NAMES:
        assert valid in str(error.value)


def test_unknown_name_from_environment(monkeypatch):
    monkeypatch.setenv("GPUDEEP_BACKEND", "tpu")
    with pytest.raises(ValueError, match="'tpu'.*GPUDEEP_BACKEND"):
        get_backend()


def test_auto_without_cupy_falls_back_with_reason(monkeypatch, fresh_probe, caplog):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    with caplog.at_level(logging.DEBUG, logger="gpudeep"):
        chosen = get_backend("auto")
    assert chosen.name == "numpy"
    assert "CuPy is not installed" in chosen.reason
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]  # the CPU is no news without CuPy
    assert "CuPy is not installed" in caplog.records[0].getMessage()


def test_auto_with_cupy_but_no_device_warns(monkeypatch, fresh_probe, caplog):
    def no_driver():
        raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake_cupy(monkeypatch, no_driver)
    with caplog.at_level(logging.INFO, logger="gpudeep"):
        chosen = get_backend("auto")
    assert chosen.name == "numpy"
    assert "cudaErrorNoDevice" in chosen.reason
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    get_backend("auto")  # once per process
    assert [r.getMessage() for r in caplog.records] == [
        "gpudeep: CuPy 0.0-fake is installed but finds no usable GPU, so gpudeep runs on the CPU (NumPy); "
        "`gpudeep info` says why"]


@pytest.mark.parametrize("error", [
    ImportError("libcublas.so.12: cannot open shared object file: No such file or directory"),
    CompileException("catastrophic error: cannot open source file \"cuda_fp16.h\""),
    CUDARuntimeError("cudaErrorUnsupportedPtxVersion: the provided PTX was compiled with an unsupported toolchain"),
])
def test_a_failed_smoke_test_says_what_failed_and_which_cuda_parts_are_missing(monkeypatch, fresh_probe, error):
    def smoke_test(*args, **kwargs):
        raise error

    fake_cupy(monkeypatch, lambda: 1, smoke_test)
    monkeypatch.setattr(cupy_probe, "missing_cuda_parts", lambda: ["NVRTC (compiles CuPy's kernels)"])
    reason = get_backend("auto").reason
    assert f"smoke test failed on GPU 0: {type(error).__name__}: {error}" in reason
    assert "missing: NVRTC (compiles CuPy's kernels), which pip install 'gpudeep[cuda12]' (or [cuda13]) installs" \
        in reason


def test_a_bug_in_the_smoke_test_is_not_a_fallback(monkeypatch, fresh_probe):
    """Only the errors a GPU CuPy cannot use raises are turned into a reason; anything else is a bug and says so."""
    def typo(*args, **kwargs):
        raise AttributeError("module 'cupy' has no attribute 'arang'")

    fake_cupy(monkeypatch, lambda: 1, typo)
    with pytest.raises(AttributeError, match="arang"):
        get_backend("auto")


@pytest.mark.skipif(not cupy_is_installed(), reason="cupy-cuda12x is not installed (CI installs it)")
def test_missing_cuda_parts_match_what_is_installed():
    """Against CuPy's own locator: NVRTC and the headers are found where their wheels are installed, cuBLAS
    where its wheel is; each missing part is named."""
    def installed(module):
        return importlib.util.find_spec(module) is not None

    wheels = {"NVRTC (compiles CuPy's kernels)": "nvidia.cuda_nvrtc", "cuBLAS (matrix products)": "nvidia.cublas",
              "the CUDA runtime headers (included by CuPy's kernels)": "nvidia.cuda_runtime"}
    expected = [part for part, wheel in wheels.items() if not installed(wheel)]
    assert cupy_probe.missing_cuda_parts() == expected


def test_auto_with_zero_devices(monkeypatch, fresh_probe):
    fake_cupy(monkeypatch, lambda: 0)
    assert "sees 0 GPU(s)" in get_backend("auto").reason


def insufficient_driver():
    raise CUDARuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA runtime version")


@pytest.mark.parametrize(("device_count", "driver", "cause", "fix"), [
    (lambda: 0, 12090, "sees 0 GPU(s)", "check that `nvidia-smi` lists the GPU"),
    (insufficient_driver, 0, "no NVIDIA driver is installed", "install the NVIDIA driver"),
    (insufficient_driver, 11040, "the NVIDIA driver supports CUDA 11.4, older than this CuPy's CUDA 12.9",
     "update the NVIDIA driver"),
])
def test_explicit_cupy_without_gpu_names_the_cause_then_its_fix(monkeypatch, fresh_probe, device_count, driver,
                                                                cause, fix):
    """The first fix offered is the one for the cause found: with CuPy installed, reinstalling it is not it."""
    fake_cupy(monkeypatch, device_count, driver=driver)
    with pytest.raises(BackendUnavailableError) as error:
        get_backend("cupy")
    why, _, fixes = str(error.value).partition(". To fix: ")
    assert cause in why and fixes.startswith(fix), str(error.value)
    assert not fixes.startswith("install CuPy")


def test_explicit_cupy_without_cupy_says_to_install_it(monkeypatch, fresh_probe):
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(BackendUnavailableError, match=r"CuPy is not installed .*To fix: install CuPy for your CUDA "
                                                      r"version .*pip install 'gpudeep\[cuda12\]'"):
        get_backend("cupy")


@pytest.mark.skipif(not cupy_is_installed(), reason="cupy-cuda12x is not installed (CI installs it)")
def test_real_cupy_without_gpu(fresh_probe, caplog):
    """With the real CuPy wheel and no usable GPU: auto falls back, cupy raises the documented error."""
    probe = cupy_probe.probe_gpu(0)
    if probe.module is not None:
        pytest.skip("a GPU is present: this test is for machines without one")
    with caplog.at_level(logging.INFO, logger="gpudeep"):
        chosen = get_backend("auto")
    assert chosen.name == "numpy"
    assert "CuPy" in chosen.reason and "installed" in chosen.reason
    assert caplog.records and caplog.records[0].levelno == logging.WARNING
    with pytest.raises(BackendUnavailableError, match=r"cannot run: CuPy .*no NVIDIA driver is installed.*To fix: "
                                                      r"install the NVIDIA driver"):
        get_backend("cupy")


def test_import_gpudeep_does_not_import_cupy():
    code = "import sys, gpudeep; gpudeep.get_backend('numpy'); print('cupy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_backend_is_resolved_once_and_carries_reason():
    chosen = get_backend("numpy")
    assert chosen.xp is np and chosen.description == "CPU" and chosen.reason


def test_mixing_backends_names_both():
    strict = get_backend("array_api_strict")
    with pytest.raises(TypeError, match="X is a numpy array but W1 is a array_api_strict array"):
        check_same_backend(X=np.ones((2, 2)), W1=strict.asarray(np.ones((2, 2))))


def test_forward_refuses_mixed_backends():
    strict = get_backend("array_api_strict")
    arch = gpudeep.Architecture.build([2, 3, 1])
    params = gpudeep.init_parameters(arch, strict, rng=0)
    with pytest.raises(TypeError, match="numpy.*array_api_strict"):
        gpudeep.forward(strict.xp, arch, params, np.ones((2, 4), dtype=np.float32))


def test_asarray_refuses_another_device_library():
    strict = get_backend("array_api_strict")
    with pytest.raises(TypeError, match="array_api_strict array on the numpy backend"):
        get_backend("numpy").asarray(strict.asarray([1.0, 2.0]))
    with pytest.raises(TypeError, match="got a numpy array"):
        strict.to_numpy(np.ones(2))


def test_asarray_and_to_numpy_round_trip(backend):
    host = np.arange(6, dtype=np.float64).reshape(2, 3)
    on_device = backend.asarray(host, "float32")
    assert on_device.dtype == backend.xp.float32
    back = backend.to_numpy(on_device)
    assert isinstance(back, np.ndarray) and back.dtype == np.float32
    np.testing.assert_array_equal(back, host)
    backend.synchronize()


def test_unknown_dtype(backend):
    with pytest.raises(ValueError, match="dtype must be one of .*'float16'"):
        backend.asarray([1.0], "float16")


def test_describe_lists_versions():
    lines = backends.describe(get_backend("numpy"))
    text = "\n".join(lines)
    assert "backend:  numpy" in text and f"numpy:    {np.__version__}" in text and "cupy:" in text


@pytest.mark.parametrize("name, device", [("numpy", "gpu0"), ("cupy", "device1"), ("auto", -1), ("cupy", True)])
def test_bad_device(name, device):
    with pytest.raises(ValueError, match="device"):
        get_backend(name, device=device)


def test_zeros_follow_the_backend_device(backend):
    zeros = backend.zeros((2, 1), "float32")
    assert zeros.dtype == backend.xp.float32
    if backend.name == "array_api_strict":
        assert zeros.device == backend.device
    np.testing.assert_array_equal(backend.to_numpy(zeros), np.zeros((2, 1)))


@pytest.mark.gpu
def test_two_backends_on_two_gpus_keep_their_arrays_apart():
    import cupy

    if cupy.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two GPUs")
    first, second = get_backend("cupy", device=0), get_backend("cupy", device=1)
    with first.on_device():
        assert second.asarray([1.0]).device.id == 1 and second.zeros((2,), "float32").device.id == 1
    assert first.asarray([1.0]).device.id == 0


def test_the_cuda_extras_bring_what_cupy_loads_on_a_driver_only_machine():
    """gpudeep[cuda12] and [cuda13] ask for CuPy's ctk extra, and that extra (in the installed CuPy's own
    metadata) installs NVRTC, cuBLAS and the CUDA runtime with its headers."""
    import re
    from importlib import metadata
    from pathlib import Path

    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    for major in (12, 13):
        assert re.search(rf'^cuda{major} = \["cupy-cuda{major}x\[ctk\]>=14', pyproject, re.M), f"cuda{major} extra"
    if not cupy_is_installed():
        pytest.skip("cupy-cuda12x is not installed (CI installs it)")
    cupy_wheel = next(name for name in ("cupy-cuda12x", "cupy-cuda13x") if _installed(name))
    ctk = [r for r in metadata.requires(cupy_wheel) if 'extra == "ctk"' in r]
    assert any(re.match(r"cuda-toolkit\[.*\bnvrtc\b.*\]", r) and "cublas" in r and "cudart" in r for r in ctk), ctk


def _installed(distribution: str) -> bool:
    from importlib import metadata

    try:
        metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


CORE_IMPORT = """
import sys
import gpudeep
from gpudeep import backends, gradcheck, network, optim
heavy = [name for name in ("sklearn", "scipy", "matplotlib", "cupy", "torch") if name in sys.modules]
from gpudeep import cli
cli.main(["info", "--backend", "numpy"])
print(heavy, [name for name in ("sklearn", "matplotlib") if name in sys.modules])
"""


def test_the_core_and_gpudeep_info_import_no_estimator_or_gpu_library():
    """The math and the optimizers import neither scikit-learn, SciPy, matplotlib, CuPy nor PyTorch, and
    ``gpudeep info`` (which reports CuPy) imports no estimator; the estimators come, with scikit-learn, when
    first asked for."""
    env = {key: value for key, value in os.environ.items() if key != "GPUDEEP_BACKEND"}
    result = subprocess.run([sys.executable, "-c", CORE_IMPORT], capture_output=True, text=True, check=False,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[] []"
    lazy = "import gpudeep, sys; gpudeep.DeepClassifier; print('sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", lazy], capture_output=True, text=True, check=True).stdout == "True\n"
