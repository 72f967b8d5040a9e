"""Steps per second of data-parallel training against the number of ranks, with the all-reduce apart.

    mpirun -n 2 python benchmarks/distributed.py [--steps 40] [--batch 1024]

Each rank trains the mnist benchmark net ([784, 256, 128, 10], float32, SGD) on its shard of
every global batch; rank 0 prints one line: ranks, steps/s, and the all-reduce's share.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gpudeep import get_backend
from gpudeep.bench import steps as benchmark
from gpudeep.distributed import data_parallel_step, world
from gpudeep.network import init_parameters
from gpudeep.optim import SGD


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=1024)
    args = parser.parse_args()
    group = world()
    backend = get_backend()
    group.bind(backend)
    net = benchmark.NETS[1]
    arch = net.architecture()
    params = init_parameters(arch, backend, rng=0)
    X, Y = (backend.asarray(a) for a in benchmark.data(net, args.batch))
    shard = slice(group.rank, None, group.size)
    X, Y = X[:, shard], Y[:, shard]
    optimizer = SGD(benchmark.LEARNING_RATE)
    for _ in range(3):  # warm-up
        data_parallel_step(group, backend, arch, params, optimizer, X, Y, batch_size=args.batch)
    group.comm.Barrier()
    group.allreduce_seconds = 0.0
    started = time.perf_counter()
    for _ in range(args.steps):
        data_parallel_step(group, backend, arch, params, optimizer, X, Y, batch_size=args.batch)
    backend.synchronize()
    group.comm.Barrier()
    seconds = time.perf_counter() - started
    allreduce = group.comm.allreduce(group.allreduce_seconds) / group.size
    if group.is_root:
        print(f"| {group.size} | {args.batch} | {args.steps / seconds:.1f} | {1e3 * seconds / args.steps:.2f} | "
              f"{1e3 * allreduce / args.steps:.2f} | {100 * allreduce / seconds:.0f} % | {group.reduction} |")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
