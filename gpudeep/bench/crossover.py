"""Where the GPU starts to beat the CPU: gpudeep's step time on both, over a grid of widths and batches."""

from __future__ import annotations

from collections.abc import Callable

from ..backends import Backend
from .steps import Net, gpudeep_step, median_seconds


def crossover(cpu: Backend, gpu: Backend, *, widths=(64, 256, 1024, 4096), batches=(16, 128, 1024, 8192),
              repeats: int = 10, log: Callable[[str], None] = print) -> list[tuple[int, int, float, float]]:
    """gpudeep's step time on the CPU and on the GPU for a [width, width, width, 10] ReLU net.

    Returns (width, batch, cpu seconds, gpu seconds) for every pair.
    """
    rows = []
    for width in widths:
        net = Net(f"w{width}", (width, width, width, 10), "relu", "categorical_cross_entropy", ())
        for m in batches:
            cpu_s = median_seconds(gpudeep_step(cpu, net, m), cpu.synchronize, repeats=repeats)
            gpu_s = median_seconds(gpudeep_step(gpu, net, m), gpu.synchronize, repeats=repeats)
            rows.append((width, m, cpu_s, gpu_s))
            log(f"width {width:>5} batch {m:>5}: CPU {cpu_s * 1e3:9.3f} ms  GPU {gpu_s * 1e3:9.3f} ms")
    return rows


def crossover_markdown(rows, info: dict) -> str:
    """The crossover grid as a Markdown table of CPU/GPU time ratios, and where the GPU starts to win."""
    widths = sorted({w for w, *_ in rows})
    batches = sorted({m for _, m, *_ in rows})
    ratio = {(w, m): c / g for w, m, c, g in rows}
    lines = ["| width \\ batch | " + " | ".join(str(m) for m in batches) + " |",
             "|---" * (len(batches) + 1) + "|"]
    lines += [f"| {w} | " + " | ".join(f"{ratio[w, m]:.2f}" for m in batches) + " |" for w in widths]
    wins = [(w * w * m, w, m) for (w, m), r in ratio.items() if r > 1]
    verdict = ("the GPU wins from width {1} at batch {2} (CPU time / GPU time > 1 in the table)".format(*min(wins))
               if wins else "the GPU wins nowhere in this grid")
    header = [f"- {key}: {value}" for key, value in info.items()]
    return "\n".join(header + ["", "CPU time / GPU time for one training step:", "", *lines, "", verdict])
