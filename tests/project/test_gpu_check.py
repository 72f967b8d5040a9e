"""scripts/gpu-check.sh: it fits its stated time, needs only a CUDA image's Python stack, and the GPU tests it
runs collect where the test extras' other packages are missing (each test needing one skips with the reason)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
SCRIPT = (ROOT / "scripts" / "gpu-check.sh").read_text()
CUDA_IMAGE_STACK = {"gpudeep", "cupy", "numpy", "sklearn", "threadpoolctl", "tqdm", "matplotlib", "pytest", "pandas"}
TEST_EXTRAS_BEYOND = ["nbval", "ipykernel", "array_api_strict", "hypothesis"]


def test_the_step_limits_add_up_to_the_stated_time_and_leave_room_for_a_rerun():
    """A lent machine has 15 minutes, its start (about 2) included: a first pass and a whole rerun must fit."""
    limits = dict(re.findall(r"^\s*step ([\w-]+) (\d+) ", SCRIPT, re.M))
    total, without_notebooks = map(int, re.search(r"add up to (\d+) seconds, (\d+) without the notebooks",
                                                  SCRIPT).groups())
    assert len(limits) >= 10 and sum(map(int, limits.values())) == total
    assert total - int(limits["notebooks"]) == without_notebooks and 120 + 2 * without_notebooks <= 15 * 60


def test_the_check_needs_only_a_cuda_images_python_stack():
    needed = set(re.search(r"^needed=\$\(missing ([\w ]+)\)", SCRIPT, re.M).group(1).split())
    assert needed <= CUDA_IMAGE_STACK, needed - CUDA_IMAGE_STACK


def pytest_without(packages, *arguments):
    """pytest in a fresh interpreter where ``packages`` cannot be imported (and plugins are not autoloaded)."""
    code = ("import sys\nfor name in sys.argv[1].split(','):\n    sys.modules[name] = None\n"
            "import pytest\nsys.exit(pytest.main(sys.argv[2:]))")
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run([sys.executable, "-c", code, ",".join(packages), "-q", "-p", "no:cacheprovider", "-rs",
                           *arguments], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300)


def test_the_gpu_tests_collect_without_the_test_extras_other_packages():
    result = pytest_without(TEST_EXTRAS_BEYOND, "-m", "gpu", "--collect-only", "tests")
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.search(r"(\d+)/\d+ tests collected", result.stdout) and "error" not in result.stdout.split("\n")[-2]


def test_without_them_each_test_that_needs_one_skips_saying_which():
    result = pytest_without(TEST_EXTRAS_BEYOND, "tests/math/test_activations.py")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "hypothesis is not installed (pip install -e '.[test]')" in result.stdout
    assert "array_api_strict is not installed (pip install -e '.[test]')" in result.stdout
    assert "notebooks: skipped, nbval and ipykernel not installed" in result.stdout


def run_the_check(tmp_path, startup: str):
    """scripts/gpu-check.sh into tmp_path/out, every Python it starts first running ``startup`` (a sitecustomize)."""
    site = tmp_path / "site"
    site.mkdir()
    support = str(ROOT / "tests" / "support")
    (site / "sitecustomize.py").write_text(f"import sys\nsys.path.insert(0, {support!r})\n{startup}\n")
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(site), "PYTHONSAFEPATH": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("GPUDEEP_BACKEND", None)
    out = tmp_path / "out"
    result = subprocess.run(["bash", "scripts/gpu-check.sh", str(out)], cwd=ROOT, env=env, capture_output=True,
                            text=True, check=False, timeout=120)
    return result, out


def test_without_cupy_it_says_what_to_install_and_exits_2(tmp_path):
    result, out = run_the_check(tmp_path, "sys.modules['cupy'] = None  # as if CuPy were not installed")
    summary = (out / "summary.txt").read_text()
    assert result.returncode == 2, summary
    assert "missing Python packages: cupy (pip install -e '.[cuda12]' pytest pandas)" in summary


def test_with_cupy_but_no_gpu_it_stops_after_info_saying_why(tmp_path):
    """On the CuPy double with no GPU: gpudeep info reports the cause and its fix, and nothing else runs."""
    result, out = run_the_check(tmp_path, "import cupy_double\ncupy_double.install_in_this_process(device_count=0)")
    summary = (out / "summary.txt").read_text()
    assert result.returncode == 1, summary
    assert "info         FAILED, exit 1" in summary and "no usable GPU" in summary
    log = (out / "log.txt").read_text()
    assert "sees 0 GPU(s), so there is no GPU 0" in log and "fix:      check that `nvidia-smi` lists the GPU" in log


def test_what_it_writes_fits_what_a_device_machine_brings_back():
    """At most 8 files, in $out itself; a step's output in the shared log, unbuffered."""
    written = set(re.findall(r'"\$out/([\w.-]+)"', SCRIPT))
    assert written == {"log.txt", "summary.txt", "env.txt", "gpu-tests.xml", "checks.txt", "bench-step.md",
                       "bench-fit.md", "crossover.md"}, written
    assert len(written) <= 8 and "export PYTHONUNBUFFERED=1" in SCRIPT


def test_the_scripts_it_runs_import_gpudeep_from_the_checkout():
    """A script's own folder, not the repository root, is its sys.path[0], and the lent machine has no gpudeep
    installed: the check puts the checkout on PYTHONPATH, and asks for packages as a script would see them."""
    assert 'export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"' in SCRIPT
    assert 'PYTHONSAFEPATH=1 "$python" -c' in SCRIPT
