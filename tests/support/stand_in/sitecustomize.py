"""With this folder on PYTHONPATH, every Python started runs on the CuPy double as if it were a GPU with CuPy:
CI's device-like run of scripts/gpu-check.sh (.ci/run), where an import error, a missing file or a step that
cannot end shows on the CPU before a lent GPU's few minutes are spent on it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/support, where the double lives

import cupy_double  # noqa: E402

cupy_double.install_in_this_process()
