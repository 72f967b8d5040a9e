#!/usr/bin/env bash
# One command that checks gpudeep on a machine with an NVIDIA GPU and CuPy, from a checkout (gpudeep need not be
# installed): gpudeep info, the GPU-marked tests (the cupy parity tests, the fused kernels and TF32 among them),
# the CuPy double against the real CuPy, scikit-learn's MLP tests on CuPy, the GPU-only checks
# (scripts/gpu_checks.py: no synchronisation in a step, NCCL, CuPy input, a sparse fit), the notebooks, the GPU
# benchmarks and a probe of CUDA-graph capture.
#
#   scripts/gpu-check.sh [OUT] [STEP ...]
#
# Into the folder OUT (else $OUT, else gpu-check-TIME) it writes at most the 8 files a device machine brings back:
# summary.txt (a line per step, with its time), log.txt (every step's output, unbuffered, so a step stopped at its
# limit still shows how far it got), env.txt (versions, CuPy's configuration), gpu-tests.xml (JUnit, each test's
# outcome and time), checks.txt and the three benchmark tables. Naming STEPs runs only those (a rerun of what
# failed), adding to the files already there.
#
# Time: the step limits add up to 385 seconds, 355 without the notebooks (which the lent machines skip). On a
# lent H100 (15 minutes, its start included) a first pass and a whole rerun both fit: about 2 minutes to start,
# at most 6 for the pass, 6 for a rerun (faster: the kernels are cached by then). Measured per step on CPU CI (the CuPy double standing in for the GPU, GPU_CHECK_QUICK=1)
# and estimated for an H100 in benchmarks/RESULTS.md.
#
# It needs only CuPy, NumPy, pytest, scikit-learn, pandas, matplotlib and tqdm (a CUDA image's Python stack);
# what needs more is skipped with the reason: the notebooks without nbval and ipykernel, per-test time limits
# without pytest-timeout, PyTorch rows without a CUDA build of torch. GPU_CHECK_QUICK=1 runs the benchmarks and
# the sparse check at small sizes (CI's run, where the double is no faster than NumPy).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # scripts and tests import gpudeep from this checkout
export PYTHONUNBUFFERED=1
out="${1:-${OUT:-gpu-check-$(date +%Y%m%d-%H%M%S)}}"
[ $# -gt 0 ] && shift
only=" $* "
mkdir -p "$out"
python="${PYTHON:-python3}"
quick=${GPU_CHECK_QUICK:+--quick}
failures=0

wanted() {  # wanted NAME: whether this run includes step NAME
    [ "$only" = "  " ] || [[ "$only" == *" $1 "* ]]
}

step() {  # step NAME SECONDS COMMAND...: run it within its limit, log it, add a line to the summary
    local name=$1 limit=$2 started code outcome
    shift 2
    wanted "$name" || return 0
    started=$(date +%s)
    printf '\n===== %s (limit %ss): %s\n' "$name" "$limit" "$*" >>"$out/log.txt"
    timeout --kill-after=5 "$limit" "$@" >>"$out/log.txt" 2>&1
    code=$?
    case $code in
        0) outcome=ok ;;
        124 | 137) outcome="TIMED OUT at its ${limit} s limit" ;;
        *) outcome="FAILED, exit $code" ;;
    esac
    [ "$code" -eq 0 ] || failures=$((failures + 1))
    printf '%-12s %s (%ss)\n' "$name" "$outcome" "$(($(date +%s) - started))" | tee -a "$out/summary.txt"
}

skipped() {  # skipped NAME REASON
    wanted "$1" || return 0
    printf '%-12s skipped: %s\n' "$1" "$2" | tee -a "$out/summary.txt"
}

missing() {  # the names among "$@" that Python cannot import (not counting what the current folder holds)
    PYTHONSAFEPATH=1 "$python" -c 'import importlib.util, sys
print(" ".join(name for name in sys.argv[1:] if importlib.util.find_spec(name) is None))' "$@"
}

{ date -u '+%Y-%m-%d %H:%M UTC'; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; } \
    >>"$out/summary.txt" 2>&1
needed=$(missing gpudeep cupy numpy sklearn threadpoolctl tqdm matplotlib pytest pandas)
if [ -n "$needed" ]; then
    echo "missing Python packages: $needed (pip install -e '.[cuda12]' pytest pandas)" | tee -a "$out/summary.txt"
    exit 2
fi
{
    "$python" -m pip list 2>/dev/null | grep -i -E '^(cupy|numpy|scipy|scikit-learn|torch|numba|mpi4py|nvidia-nccl|pytest)'
    timeout 30 "$python" -c 'import cupy; cupy.show_config()'
} >"$out/env.txt" 2>&1
step info 15 "$python" -m gpudeep info --backend cupy
if [ "$failures" -ne 0 ]; then
    echo "no usable GPU (see $out/log.txt): nothing else to check" | tee -a "$out/summary.txt"
    exit 1
fi
per_test=()
[ -n "$(missing pytest_timeout)" ] || per_test=(--timeout=60)
step gpu-tests 110 "$python" -m pytest -v -ra -p no:cacheprovider "${per_test[@]}" --durations=25 \
    --junitxml="$out/gpu-tests.xml" -m gpu tests
step double 20 "$python" -m pytest -q -ra -p no:cacheprovider tests/backends/test_cupy_double.py
step sklearn-mlp 60 "$python" scripts/sklearn_mlp_tests.py --backend cupy -p no:cacheprovider
step checks 30 "$python" scripts/gpu_checks.py $quick --output "$out/checks.txt"
notebook_packages=$(missing nbval ipykernel)
if [ -z "$notebook_packages" ]; then
    step notebooks 30 "$python" -m pytest -q -ra -p no:cacheprovider --nbval --nbval-current-env \
        --nbval-sanitize-with notebooks/sanitize.cfg notebooks
else
    skipped notebooks "$notebook_packages not installed"
fi
# scikit-learn runs on the CPU only: its rows belong to the CPU benchmark runs.
step bench-step 40 "$python" -m gpudeep bench --backend cupy --only step --without scikit-learn --repeats 10 \
    $quick --output "$out/bench-step.md"
step bench-fit 35 "$python" -m gpudeep bench --backend cupy --only fit $quick --output "$out/bench-fit.md"
step crossover 30 "$python" -m gpudeep bench --crossover --repeats 5 $quick --output "$out/crossover.md"
step graph-probe 15 "$python" benchmarks/graph_probe.py
echo "failures: $failures" | tee -a "$out/summary.txt"
[ "$failures" -eq 0 ]
