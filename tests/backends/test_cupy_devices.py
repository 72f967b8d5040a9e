"""Which GPU the CuPy backend works on, checked on the CuPy double with one or two GPUs: contexts only where the
work is, the user's current device left alone, every kernel and copy on the backend's own GPU, each
data-parallel rank on its own GPU; and CuPy's arrays (which name no ``__array_namespace__``) taken as the
backend's own, never through the host."""

from __future__ import annotations

import warnings

import cupy_double
import numpy as np
import pytest
from properties import HealthCheck, given, settings, st
from sklearn.datasets import load_digits

from gpudeep import DeepClassifier, get_backend
from gpudeep.distributed import Group

X, y = load_digits(return_X_y=True)
X, y = X[:240] / 16.0, y[:240]
SETTINGS = {"hidden_layer_sizes": (16,), "max_iter": 3, "batch_size": 64, "random_state": 0, "dtype": "float64",
            "tol": 0, "n_iter_no_change": 100}


def fit(backend, X=X, **settings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # ConvergenceWarning: three epochs are not meant to converge
        return DeepClassifier(**SETTINGS | settings, backend=backend).fit(X, y)


def test_a_process_working_on_gpu_1_makes_no_context_on_gpu_0():
    """The probe and the backend's blocks leave a thread that worked on no GPU on the backend's: making GPU 0
    current again would give it a context (0.3-0.5 GiB, an error in exclusive-process mode)."""
    with cupy_double.installed(device_count=2) as double:
        fit(get_backend("cupy", device=1)).predict(X)
        assert double.contexts == {1} and set(double.made_current) == {1}


def test_the_users_current_device_is_left_as_it_was(tmp_path):
    """Resolving the backend and fitting on it move no one's current device: a user working on GPU 1 is on GPU 1
    after a fit on GPU 0, and the other way round."""
    with cupy_double.installed(device_count=2) as double:
        import cupy

        for mine, theirs in ((1, 0), (0, 1)):
            cupy.cuda.Device(mine).use()
            cupy.zeros(3)  # the user's own work on their GPU
            model = fit(get_backend("cupy", device=theirs), early_stopping=True,
                        checkpoint_path=tmp_path / f"checkpoint{theirs}.npz")
            model.predict(X)
            assert double.current == mine
            assert double.peer_access == []


def test_every_kernel_and_copy_of_a_fit_runs_on_the_backends_gpu(tmp_path):
    """With another GPU current (the user's, or another backend's), fitting, resuming from a checkpoint, setting
    coefs_, continuing, predicting and releasing the pool all work on the backend's GPU: no array crosses
    between GPUs (CuPy would reach it through peer access, or fail without it)."""
    with cupy_double.installed(device_count=2) as double:
        import cupy

        double.p2p = False  # any cross-device kernel raises
        first, second = get_backend("cupy", device=0), get_backend("cupy", device=1)
        cupy.cuda.Device(0).use()
        first.zeros((2,), "float64")
        model = fit(second, checkpoint_path=tmp_path / "checkpoint.npz", max_iter=2)
        resumed = DeepClassifier(**SETTINGS, backend=second)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            resumed.fit(X, y, resume_from=tmp_path / "checkpoint.npz")
        resumed.coefs_ = [W * 0.5 for W in model.coefs_]
        resumed.partial_fit(X, y)
        resumed.predict(X)
        second.release_memory()
        assert {array._device for array in (resumed.state_.params.flat, resumed.state_.params.running_flat)} == {1}
        assert double.freed[-2:] == ["device 1", "pinned"] and double.current == 0


class OneOfTwoRanks(Group):
    """Rank 1 of a two-rank job, with rank 0's broadcasts answered by ``rank_zero_says``."""

    def __init__(self, rank_zero_says=None):
        super().__init__(comm=self, rank=1, size=2, local_rank=1, local_size=2)
        self.rank_zero_says = rank_zero_says

    def bcast(self, value, root=0):
        return self.rank_zero_says if self.rank_zero_says is not None else value

    def gather(self, value, root=0):
        return None


def test_a_gpu_backend_object_given_to_every_rank_puts_each_rank_on_its_own_gpu():
    """A script passing backend=get_backend("cupy") to every rank names the library: rank 1 works on GPU 1 (NCCL
    refuses two ranks on one GPU), and makes it its process's current device."""
    with cupy_double.installed(device_count=2) as double:
        backend = OneOfTwoRanks().agree_on_backend(get_backend("cupy"))
        assert backend.device.id == 1 and double.current == 1


def test_a_rank_that_sees_one_gpu_takes_that_one():
    """Under SLURM's --gpus-per-task=1, or a CUDA_VISIBLE_DEVICES per rank, rank 1 sees its GPU as GPU 0."""
    with cupy_double.installed(device_count=1):
        backend = OneOfTwoRanks(rank_zero_says="cupy").agree_on_backend(None)
        assert backend.name == "cupy" and backend.device.id == 0


def test_a_host_backend_object_is_taken_as_given_by_every_rank(numpy_backend):
    assert OneOfTwoRanks().agree_on_backend(numpy_backend) is numpy_backend


def test_cupy_input_is_the_backends_own_and_never_goes_through_the_host(double):
    """CuPy's arrays name no ``__array_namespace__`` (CuPy 14): they are told by their library, so X is checked,
    scaled, split and trained on the GPU, and predictions come back as CuPy arrays; the host sees the epochs'
    metrics, the labels, and a number or two per check."""
    import cupy

    backend = get_backend("cupy")
    X_gpu = cupy.asarray(X)
    assert not hasattr(X_gpu, "__array_namespace__")
    double.explicit.clear()
    model = fit(backend, X_gpu, standardize=True, early_stopping=True)
    probabilities = model.predict_proba(X_gpu)
    labels = model.predict(X_gpu)
    moved = [shape for direction, shape in double.explicit if direction == "to host"]
    assert all(len(shape) <= 1 for shape in moved), moved  # never X, nor a row of it
    assert isinstance(probabilities, cupy.ndarray) and isinstance(labels, cupy.ndarray)
    host = fit("numpy", standardize=True, early_stopping=True)
    np.testing.assert_allclose(backend.to_numpy(probabilities), host.predict_proba(X), rtol=1e-10, atol=1e-12)
    assert model.score(X_gpu, y) == host.score(X, y)


def test_a_real_cupy_array_is_taken_as_the_backends_own():
    """With the real CuPy wheel (no GPU needed): its arrays, which name no namespace, are the cupy backend's own."""
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'gpudeep[cuda12]'; CI installs it)")
    from gpudeep.backends.cupy import CupyBackend
    from gpudeep.estimators import namespaces

    memory = cupy.cuda.UnownedMemory(0x1000_0000, 8 * 6, None, device_id=0)
    array = cupy.ndarray((2, 3), cupy.float64, memptr=cupy.cuda.MemoryPointer(memory, 0))
    backend = CupyBackend("cupy", cupy, cupy.cuda.Device(0), "GPU 0", "test", 0)
    source = namespaces.source_of(array)
    assert not hasattr(array, "__array_namespace__") and source.library == "cupy"
    assert namespaces.on_backend(backend, source) and namespaces.namespace_of(array, backend) is cupy


def test_the_double_refuses_numpy_operands_as_cupy_does(double):
    backend = get_backend("cupy")
    on_gpu = backend.asarray(np.ones(3))
    for operation in (lambda: on_gpu + np.ones(3), lambda: backend.xp.maximum(on_gpu, np.ones(3)),
                      lambda: on_gpu @ np.ones(3), lambda: backend.xp.concat([on_gpu, np.ones(3)])):
        with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
            operation()
    with pytest.raises(BufferError, match="ask for a copy"):
        np.from_dlpack(on_gpu, device="cpu")
    assert np.from_dlpack(on_gpu, device="cpu", copy=True).tolist() == [1.0, 1.0, 1.0]


OPERATIONS = ("fit", "partial_fit", "predict", "set coefs_", "release")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user=st.sampled_from([None, 0, 1, 2]), gpu=st.integers(0, 2),
       operations=st.lists(st.sampled_from(OPERATIONS), min_size=1, max_size=4))
def test_whatever_a_user_does_the_work_stays_on_the_backends_gpu(user, gpu, operations):
    """Drawn: the device the user works on (None: none), the backend's GPU of three, and a sequence of what a user
    does with the model. After each: no array crossed GPUs (the double has no peer access), the user's device is
    still current, and no GPU but the user's and the backend's has a context."""
    with cupy_double.installed(device_count=3) as double:
        import cupy

        double.p2p = False
        if user is not None:
            cupy.cuda.Device(user).use()
            cupy.zeros(1)
        backend = get_backend("cupy", device=gpu)
        model = DeepClassifier(**SETTINGS | {"max_iter": 1}, backend=backend)
        for operation in ["fit", *operations]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                if operation == "fit":
                    model.fit(X, y)
                elif operation == "partial_fit":
                    model.partial_fit(X, y)
                elif operation == "predict":
                    model.predict_proba(X)
                elif operation == "set coefs_":
                    model.coefs_ = [W * 0.9 for W in model.coefs_]
                    model.partial_fit(X, y)
                else:
                    backend.release_memory()
            assert double.current == (gpu if user is None else user)
            assert double.contexts <= {gpu, user}
        assert {model.state_.params.flat._device} == {gpu}
