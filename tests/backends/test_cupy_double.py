"""The CuPy double cannot drift from CuPy, and on it the CuPy backend's wiring is what a GPU needs: fusion from
the backend's creation, one kernel per ``@elementwise`` function, no implicit host transfers, one generator per
fit, TF32 only inside its block, each array on its backend's device, and NCCL's calls in order under MPI."""

from __future__ import annotations

import importlib
import inspect
import re
import time
import warnings

import cupy_double
import numpy as np
import pytest
from sklearn.datasets import load_digits, make_regression

from gpudeep import DeepClassifier, DeepRegressor, get_backend, load, save
from gpudeep.backends import FUSERS, DeviceMemoryError

# -- the double against the real CuPy wheel -----------------------------------------------------------------


def _real_cupy():
    if cupy_double.STANDS_IN:
        pytest.skip("the CuPy double stands in for the GPU in this process (the device-like run of gpu-check.sh)")
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'gpudeep[cuda12]'; CI installs it)")
    if cupy.ndarray is cupy_double.ndarray:
        pytest.fail("the double is installed where the real CuPy was asked for")
    return cupy


def _double_attributes():
    """(module name, attribute name, the double's object) for everything the double provides."""
    for module_name, module in cupy_double.modules().items():
        for name, value in vars(module).items():
            if name.startswith("__") or isinstance(value, type(module)):
                continue
            yield module_name, name, value


def _parameters_of(function) -> list[str] | None:
    """The parameter list as text (``a``, ``axis=``, ``/``, ``*``, ``*args``), from ``inspect.signature`` or the
    signature line Cython puts first in a builtin's docstring; None when neither is there."""
    try:
        text = str(inspect.signature(function))
    except (TypeError, ValueError):
        text = (getattr(function, "__doc__", None) or "").strip().split("\n")[0]
    match = re.fullmatch(r"[\w.]*\((.*)\)(\s*->.*)?", text)
    if match is None:
        return None
    words = [word.strip().replace("\\*", "*") for word in match.group(1).split(",") if word.strip()]
    return [_bare(word) for word in words if word != "self"]


def _bare(word: str) -> str:
    """A parameter without its annotation, type or default value: ``int device_id=-1`` and
    ``dtype: 'DTypeLike' = float`` → ``device_id=`` and ``dtype=``; ``x`` → ``x``."""
    name, equals, _ = word.partition("=")
    return name.partition(":")[0].split()[-1] + ("=" if equals else "")


DOUBLE = list(_double_attributes())


@pytest.mark.parametrize(("module", "name", "value"), DOUBLE, ids=[f"{m}.{n}" for m, n, _ in DOUBLE])
def test_every_attribute_of_the_double_exists_in_cupy_with_its_signature(module, name, value):
    _real_cupy()
    real_module = _real_module(module)
    if module == "cupy.cuda.nccl" and not real_module.available:
        pytest.skip("the NCCL library is not installed (pip install nvidia-nccl-cu12), so cupy.cuda.nccl is empty")
    assert hasattr(real_module, name), f"{module}.{name} is in the double but not in CuPy {_real_cupy().__version__}"
    real = getattr(real_module, name)
    if value is real:  # NumPy's dtypes, which CuPy uses as they are
        return
    if isinstance(value, (int, float, str, bool)) and not isinstance(value, type):
        if name != "__version__":
            assert value == real, f"{module}.{name}: the double says {value!r}, CuPy {real!r}"
        return
    if inspect.isclass(value) and not issubclass(value, BaseException):
        if value is not cupy_double.ndarray:  # the library makes arrays through functions, never the class
            _same_parameters(f"{module}.{name}()", value.__init__, real)
        for method in [n for n, member in vars(value).items() if callable(member) and not n.startswith("_")]:
            real_method = getattr(real, method, None)
            assert real_method is not None, f"{module}.{name}.{method} is not in CuPy"
            _same_parameters(f"{module}.{name}.{method}", getattr(value, method), real_method)
    elif callable(value) and not inspect.isclass(value):
        _same_parameters(f"{module}.{name}", value, real)


def _real_module(name: str):
    """The real module ``name``, reached as the library reaches it: attribute by attribute from the package (CuPy's
    library packages load their shared libraries on attribute access), imported where it is no attribute yet."""
    parts = name.split(".")
    module = importlib.import_module(parts[0])
    for depth, part in enumerate(parts[1:], start=2):
        try:
            module = getattr(module, part)
        except AttributeError:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # cupy.cuda.nccl warns when the NCCL library is not installed
                module = importlib.import_module(".".join(parts[:depth]))
    return module


def _same_parameters(where: str, double, real) -> None:
    theirs = _parameters_of(real)
    if theirs is None:
        return  # CuPy exposes no signature for it (cupy.fuse takes *args, **kwargs)
    ours = _parameters_of(double)
    assert ours == theirs, f"{where}: the double takes ({', '.join(ours)}), CuPy ({', '.join(theirs)})"


def test_the_double_provides_what_the_library_calls_on_xp():
    """Every ``xp.NAME`` of the library's math is in the double (so that a name CuPy lacks fails in CI)."""
    from pathlib import Path

    names = set()
    for path in (Path(__file__).parents[2] / "gpudeep").rglob("*.py"):
        names |= set(re.findall(r"\bxp\.([A-Za-z_]\w*)", path.read_text()))
    names.discard("Device")  # array_api_strict's, in its backend
    provided = set(vars(cupy_double.modules()["cupy"]))
    assert names <= provided, sorted(names - provided)


# -- the CuPy backend's wiring, on the double ----------------------------------------------------------------

def digits(rows: int = 300):
    X, y = load_digits(return_X_y=True)
    return X[:rows] / 16.0, y[:rows]


SETTINGS = {"hidden_layer_sizes": (16,), "max_iter": 3, "batch_size": 64, "random_state": 0, "dtype": "float64",
            "tol": 0, "n_iter_no_change": 100}


def fitted(backend, **settings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DeepClassifier(**SETTINGS | settings, backend=backend).fit(*digits())


def test_fusion_is_registered_when_the_backend_is_made(double):
    import cupy

    assert cupy not in FUSERS
    get_backend("cupy")
    assert cupy in FUSERS


@pytest.mark.parametrize("solver", ["sgd", "adam", "rmsprop"])
def test_a_fit_runs_each_elementwise_function_as_one_kernel_and_transfers_nothing_implicitly(double, solver):
    backend = get_backend("cupy")
    double.implicit.clear()  # the probe's smoke test reads its result back
    model = fitted(backend, solver=solver, momentum=0.9, nesterovs_momentum=True)
    built = double.kernels_built
    assert len(built) == len(set(built)), "a kernel was built twice"
    assert set(double.launches) == set(built) and {"gpudeep_relu", "gpudeep_relu_backward"} <= set(built)
    assert {"sgd": "gpudeep__nesterov_step", "adam": "gpudeep__adam_step", "rmsprop": "gpudeep__rmsprop_step"}[
        solver] in built
    assert double.implicit == [], f"implicit device-to-host transfers: {double.implicit}"
    host = fitted("numpy", solver=solver, momentum=0.9, nesterovs_momentum=True)
    X = digits()[0]
    np.testing.assert_allclose(model.predict_proba(X), host.predict_proba(X), rtol=1e-10, atol=1e-12)
    assert double.implicit == []


def test_predict_partial_fit_save_and_load_on_the_double(double, tmp_path):
    backend = get_backend("cupy")
    X, y = digits()
    model = fitted(backend)
    model.partial_fit(X, y)
    save(model, tmp_path / "model.npz")
    on_the_cpu, on_the_gpu = load(tmp_path / "model.npz", backend="numpy"), load(tmp_path / "model.npz",
                                                                                  backend="cupy")
    np.testing.assert_array_equal(on_the_cpu.predict(X), model.predict(X))
    np.testing.assert_allclose(on_the_gpu.predict_proba(X), on_the_cpu.predict_proba(X), rtol=1e-12)
    assert on_the_gpu.backend_.on_gpu and not on_the_cpu.backend_.on_gpu


def test_a_checkpointed_fit_resumes_on_the_double_as_on_the_cpu(double, tmp_path):
    backend = get_backend("cupy")
    fitted(backend, max_iter=2, checkpoint_path=tmp_path / "ckpt.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resumed = DeepClassifier(**SETTINGS | {"max_iter": 4}, backend=backend).fit(
            *digits(), resume_from=tmp_path / "ckpt.npz")
    straight = fitted("numpy", max_iter=4)
    assert resumed.n_iter_ == 4
    np.testing.assert_allclose(resumed.loss_curve_, straight.loss_curve_, rtol=1e-10)


def test_dropout_draws_from_one_device_generator_per_fit(double):
    backend = get_backend("cupy")
    double.implicit.clear()  # the probe's smoke test reads its result back
    before = double.generators
    model = fitted(backend, dropout=0.3, max_iter=4)
    assert double.generators - before == 1 and model.n_iter_ == 4 and double.implicit == []


def test_a_regressor_on_the_double_equals_the_cpu(double):
    X, y = make_regression(n_samples=120, n_features=5, noise=0.1, random_state=0)
    common = SETTINGS | {"learning_rate_init": 0.01}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gpu = DeepRegressor(**common, backend=get_backend("cupy")).fit(X, y)
        cpu = DeepRegressor(**common, backend="numpy").fit(X, y)
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=1e-10)


def test_tf32_rounds_float32_products_only_inside_its_block(double):
    backend = get_backend("cupy")
    A = backend.asarray(np.full((1, 1), 1 + 2**-12, dtype=np.float32))
    exact = backend.to_numpy(A @ A)
    with backend.allow_tf32(True):
        rounded = backend.to_numpy(A @ A)
    assert rounded[0, 0] == 1.0 and exact[0, 0] > 1.0 and backend.to_numpy(A @ A)[0, 0] == exact[0, 0]


def test_running_out_of_device_memory_says_what_was_running_and_frees_the_pool(double):
    import cupy

    backend = get_backend("cupy")
    with pytest.raises(DeviceMemoryError, match="out of memory on GPU 0: NumPy test double of a GPU.*while fitting"):
        with backend.memory_guard("fitting", "lower batch_size"):
            raise cupy.cuda.memory.OutOfMemoryError(2**40, 2**30)
    assert double.freed == ["device 0", "pinned"]


def test_each_backend_places_its_arrays_and_kernels_on_its_own_gpu():
    with cupy_double.installed(device_count=2) as double:
        import cupy

        first, second = get_backend("cupy", device=0), get_backend("cupy", device=1)
        cupy.cuda.Device(0).use()  # another library made GPU 0 current
        arrays = [second.asarray([1.0]), second.zeros((2,), "float32"), second.uniform(0)((2,), "float32")]
        assert [array.device.id for array in arrays] == [1, 1, 1] and double.current == 0
        with pytest.warns(cupy._util.PerformanceWarning, match="Peer access has been activated"):
            arrays[0] + arrays[0]  # CuPy 14 reaches another device's array through peer access, slowly
        assert double.peer_access == [(1, 0), (1, 0)]
        double.p2p = False
        with pytest.raises(ValueError, match="Peer access is unavailable"):
            arrays[0] + arrays[0]  # and refuses it where the GPUs cannot reach each other
        with second.on_device():
            assert second.to_numpy(arrays[0] + arrays[0]).tolist() == [2.0]
        assert first.asarray([1.0]).device.id == 0


def test_a_kernel_refuses_what_is_not_elementwise(double):
    from gpudeep.backends import elementwise

    @elementwise
    def reduces(xp, Z):
        return xp.sum(Z)

    backend = get_backend("cupy")
    with pytest.raises(TypeError, match="sum is not an elementwise operation"):
        reduces(backend.xp, backend.asarray(np.ones(3)))


def test_gpudeep_train_and_info_on_the_double(double, tmp_path, capsys):
    import json

    from gpudeep.cli import main

    assert main(["train", "--backend", "cupy", "--epochs", "2", "--dropout", "0.1", "--quiet",
                 "--out", str(tmp_path / "run")]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["backend"] == "cupy" and metrics["versions"]["cupy"] == cupy_double.VERSION
    assert main(["info", "--backend", "cupy"]) == 0
    assert "device:   GPU 0: NumPy test double of a GPU, 80.0 GiB" in capsys.readouterr().out


class OneRank:
    """A ``distributed.Group`` of one rank, as the backend's reduction sees it; ``device_mpi`` says whether its MPI
    takes device buffers, and what it sums is recorded."""

    rank, size, is_root = 0, 1, True

    def __init__(self, device_mpi: bool):
        self.device_mpi, self.summed = device_mpi, []

    def all_ranks(self, flag):
        return bool(flag)

    def broadcast(self, value):
        return value

    def takes_device_buffers(self):
        return self.device_mpi

    def sum_in_place(self, buffer):
        self.summed.append(type(buffer).__module__)


@pytest.mark.parametrize(("nccl", "device_mpi", "chosen", "summed"), [
    (True, False, "nccl", []), (False, True, "cuda-aware mpi", ["cupy"]), (False, False, "host", ["numpy"])])
def test_the_cupy_backend_sums_with_nccl_else_a_cuda_aware_mpi_else_through_the_host(double, nccl, device_mpi,
                                                                                    chosen, summed, monkeypatch):
    import cupy.cuda.nccl as nccl_module  # like CuPy's, an attribute of cupy.cuda only once imported

    monkeypatch.setattr(nccl_module, "available", nccl)
    backend, group = get_backend("cupy"), OneRank(device_mpi)
    reduction = backend.reduction(group)
    buffer = backend.asarray(np.arange(4.0))
    syncs = double.synchronizations
    result = reduction.run(buffer)
    assert reduction.name == chosen and group.summed == summed
    assert backend.to_numpy(result).tolist() == [0.0, 1.0, 2.0, 3.0] and result.device == buffer.device
    assert double.synchronizations - syncs == (1 if chosen == "cuda-aware mpi" else 0)  # MPI reads device memory
    if chosen == "nccl":
        assert [call for call, _ in double.nccl_calls] == ["NcclCommunicator", "allReduce"]
    else:
        assert "NCCL is missing on a rank" in reduction.why


def test_the_stopwatch_times_on_the_stream_and_waits_only_when_read(double):
    backend = get_backend("cupy")
    stopwatch = backend.stopwatch()
    with stopwatch():
        time.sleep(0.01)
    assert double.events == ["record", "record"]
    assert stopwatch.seconds >= 0.01 and double.events[-1] == "synchronize" and double.synchronizations == 0
