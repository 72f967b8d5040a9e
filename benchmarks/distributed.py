"""Steps per second of data-parallel training against the number of ranks, with the all-reduce apart.

    mpirun -n 2 python benchmarks/distributed.py [--steps 40] [--batch 1024] [--net mnist]

Each rank trains a benchmark net (float32, SGD) on its shard of every global batch, through the same
``DataParallelStep`` a distributed fit uses, on the backend rank 0 resolves (each rank on the GPU of its index on
its node). Rank 0 prints one table row: ranks, global batch, steps/s, ms per step, ms of all-reduce per step (as
the device ran it), its share, and how the gradients were summed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gpudeep.bench import steps as benchmark
from gpudeep.distributed import DataParallelStep, world
from gpudeep.network import init_parameters
from gpudeep.optim import SGD

HEADER = "| ranks | batch | steps/s | ms/step | all-reduce ms/step | all-reduce share | reduction |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--net", default="mnist", choices=[net.name for net in benchmark.NETS + benchmark.TINY])
    args = parser.parse_args()
    group = world()
    backend = group.agree_on_backend(None)
    group.bind(backend)
    net = next(net for net in benchmark.NETS + benchmark.TINY if net.name == args.net)
    arch = net.architecture()
    params = init_parameters(arch, backend, rng=0, dtype="float32")
    step = DataParallelStep(group, backend)
    X, Y = (backend.asarray(a) for a in benchmark.data(net, args.batch))
    rows = step.shard(np.arange(args.batch))
    X, Y = X[:, rows], Y[:, rows]
    optimizer = SGD(benchmark.LEARNING_RATE)
    xp = backend.xp
    with backend.on_device():
        for _ in range(3):  # warm-up
            step(xp, arch, params, optimizer, X, Y)
        backend.synchronize()
        group.comm.Barrier()
        before, started = group.allreduce_seconds, time.perf_counter()
        for _ in range(args.steps):
            step(xp, arch, params, optimizer, X, Y)
        backend.synchronize()
        group.comm.Barrier()
        seconds = time.perf_counter() - started
    allreduce = group.comm.allreduce(group.allreduce_seconds - before) / group.size
    if group.is_root:
        print(HEADER)
        print(f"| {group.size} | {args.batch} | {args.steps / seconds:.1f} | {1e3 * seconds / args.steps:.2f} | "
              f"{1e3 * allreduce / args.steps:.2f} | {100 * allreduce / seconds:.0f} % | {group.reduction} |")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
