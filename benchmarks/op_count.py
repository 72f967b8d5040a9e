"""Array operations per optimizer step on the mnist net ([784, 256, 128, 10]): one update per parameter
buffer, or one per parameter array. Counts every ufunc call and NumPy function on the parameters, gradients
and state (``tests/support/op_counter.py``); on CuPy each fused update is one kernel launch per buffer.

    python benchmarks/op_count.py            # this checkout
    PYTHONPATH=OTHER python benchmarks/op_count.py   # another checkout of gpudeep, to compare
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "support"))
from op_counter import OPERATIONS, counted  # noqa: E402

import gpudeep  # noqa: E402
from gpudeep.optim import SGD, Adam, RMSProp  # noqa: E402

SIZES = (784, 256, 128, 10)
OPTIMIZERS = {"adam": Adam, "rmsprop": RMSProp, "sgd": SGD, "sgd, momentum 0.9": lambda r: SGD(r, momentum=0.9)}


def counted_network():
    """(params, grads) of the mnist net as counted arrays, whichever form this gpudeep keeps them in."""
    arch = gpudeep.Architecture.build(SIZES, loss="categorical_cross_entropy")
    params = gpudeep.init_parameters(arch, gpudeep.get_backend("numpy"), rng=0)
    if hasattr(params, "flat"):  # one buffer, with views
        from gpudeep.parameters import Parameters

        return (Parameters(np, params.layout, counted(params.flat)),
                Parameters(np, params.layout, counted(np.full_like(params.flat, 1e-3))))
    pairs = [tuple(counted(P) for P in pair) for pair in params]
    return pairs, [tuple(counted(np.full_like(P, 1e-3)) for P in pair) for pair in pairs]


def main() -> None:
    params, grads = counted_network()
    arrays = sum(len(layer) for layer in params)
    print(f"gpudeep {gpudeep.__version__} from {Path(gpudeep.__file__).parent}: {arrays} parameter arrays, "
          f"{'one buffer' if hasattr(params, 'flat') else 'one buffer each'}")
    print("| optimizer | array operations per step | of them, each |")
    print("|---|---:|---|")
    for name, make in OPTIMIZERS.items():
        params, grads = counted_network()
        optimizer = make(0.01)
        optimizer.step(np, params, grads)  # the first step makes the state
        OPERATIONS.clear()
        optimizer.step(np, params, grads)
        print(f"| {name} | {sum(OPERATIONS.values())} | "
              f"{', '.join(f'{op} {n}' for op, n in sorted(OPERATIONS.items()))} |")


if __name__ == "__main__":
    main()
