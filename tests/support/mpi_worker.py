"""Run under mpirun by tests/training/test_distributed.py: data-parallel training, then rank 0 saves the weights."""

from __future__ import annotations

import logging
import sys
import warnings

import numpy as np
from sklearn.datasets import make_classification

from gpudeep import DeepClassifier, distributed

SETTINGS = {"hidden_layer_sizes": (16, 8), "batch_size": 32, "max_iter": 3, "alpha": 1e-3,
            "learning_rate_init": 0.05, "random_state": 0, "dtype": "float64", "tol": 0,
            "n_iter_no_change": 100, "backend": "numpy"}


def data(rows: int = 150):
    """150 rows in batches of 32 leave a last batch of 22; 129 rows leave one row, so most ranks get none."""
    return make_classification(n_samples=rows, n_features=6, n_informative=4, n_redundant=0, n_classes=3,
                               random_state=0)


def weights(rows: int) -> np.ndarray:
    """Sample weights for the weighted case: every sample counts differently."""
    return np.linspace(0.0, 3.0, rows)


def _rank() -> int:
    from mpi4py import MPI

    return MPI.COMM_WORLD.Get_rank()


def main(solver: str, output: str, failing_rank: int | None = None, resume_from: str | None = None,
         rows: int = 150, uneven: int = 0, weighted: bool = False, double: bool = False) -> None:
    """``double``: on CuPy's backend over the CuPy double (tests/support/cupy_double.py), whose NCCL sums over MPI."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # gpudeep's notices: the all-reduce chosen
    if double:
        import cupy_double
        from mpi4py import MPI

        cupy_double.install_in_this_process(device_count=MPI.COMM_WORLD.Get_size())  # one GPU per rank
    model = DeepClassifier(**SETTINGS | {"backend": "cupy" if double else "numpy"}, solver=solver, distributed=True)
    if failing_rank is not None:
        from mpi4py import MPI

        if MPI.COMM_WORLD.Get_rank() == failing_rank:
            original, steps = distributed.DataParallelStep.__call__, []

            def failing_step(self, *args, **kwargs):
                steps.append(1)
                if len(steps) == 3:
                    raise RuntimeError("simulated failure on the third step")
                return original(self, *args, **kwargs)

            distributed.DataParallelStep.__call__ = failing_step
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(*data(rows + _rank() * uneven), resume_from=resume_from,
                  sample_weight=weights(rows) if weighted else None)
    if model.rank_ == 0:
        recorded = {}
        if double:
            import cupy_double

            recorded = {"nccl_calls": np.array([call for call, _ in cupy_double.STATE.nccl_calls]),
                        "synchronizations": cupy_double.STATE.synchronizations,
                        "implicit": np.array([what for what, _ in cupy_double.STATE.implicit])}
        np.savez(output, *[model.backend_.to_numpy(array) for pair in model.state_.params for array in pair],
                 allreduce_seconds=model.allreduce_seconds_, **recorded)


if __name__ == "__main__":
    options = dict(argument.split("=", 1) for argument in sys.argv[3:])
    main(sys.argv[1], sys.argv[2], int(options["fail"]) if "fail" in options else None, options.get("resume"),
         int(options.get("rows", 150)), int(options.get("uneven", 0)), options.get("weighted") == "1",
         options.get("double") == "1")
