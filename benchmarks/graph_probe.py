"""Whether this CuPy lets a gpudeep training step be captured in a CUDA graph, and what a replay costs
(``python benchmarks/graph_probe.py``, on a GPU).

CuPy has disabled cuBLAS calls during stream capture (cupy/cupy#6290), which would stop
a step's matrix products from being recorded. This probe records what the installed
CuPy does, on the seed net at batch 256, and times the eager step and, when capture
works, the graph's replay. It prints findings; a refusal is a finding, not a failure.
"""

from __future__ import annotations

import cupy

from gpudeep.backends import get_backend
from gpudeep.bench.steps import NETS, gpudeep_step, median_seconds


def main() -> None:
    backend = get_backend("cupy")
    seed = next(net for net in NETS if net.name == "seed")
    step = gpudeep_step(backend, seed, 256)
    eager = median_seconds(step, backend.synchronize, repeats=200)
    print(f"cupy {cupy.__version__}: eager seed step at batch 256: {eager * 1e6:.1f} µs")

    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        step()  # warm-up on this stream: kernels compiled, the pool holds this stream's blocks
        stream.synchronize()
        stream.begin_capture()
        try:
            step()
        except Exception as error:  # the finding is which error, from which library
            print(f"capture refused: {type(error).__name__}: {error}")
            try:
                stream.end_capture()
            except Exception as end_error:
                print(f"end_capture after the refusal: {type(end_error).__name__}: {end_error}")
            return
        graph = stream.end_capture()
        replay = median_seconds(lambda: graph.launch(stream), stream.synchronize, repeats=200)
    print(f"captured: one graph replay of the step takes {replay * 1e6:.1f} µs "
          f"({eager / replay:.1f}x faster than eager)")


if __name__ == "__main__":
    main()
