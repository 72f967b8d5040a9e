"""What benchmark numbers depend on: the date, the CPU, the device, library versions and thread counts."""

from __future__ import annotations

import platform
import time

from ..backends import Backend


def environment(backend: Backend) -> dict:
    """What the numbers depend on: date, machine, library versions, thread counts."""
    import sklearn

    info = {
        "date": time.strftime("%Y-%m-%d"),
        "cpu": _cpu_name(),
        "device": backend.description,
        "python": platform.python_version(),
        **backend.versions(),
        "scikit-learn": sklearn.__version__,
        "blas threads": _blas_threads(),
    }
    try:
        import torch

        info["pytorch"] = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:
        info["pytorch"] = "not installed"
    return info


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas_threads() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    return ", ".join(f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info()) or "none"
