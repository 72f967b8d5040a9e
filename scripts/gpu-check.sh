#!/usr/bin/env bash
# One command that checks gpudeep on a machine with an NVIDIA GPU and CuPy: gpudeep info, the GPU-marked
# tests (the cupy parity tests, the fused kernels and TF32 among them), scikit-learn's MLP tests on CuPy, the
# notebooks, the GPU benchmarks and a probe of CUDA-graph capture. Into the folder given as $1, else $OUT, else gpu-check-TIME, it writes
# five files (a device machine brings back at most 8): summary.txt (a line per step), log.txt (every step's
# output, unbuffered, so a step killed at its limit still shows how far it got) and the three benchmark tables.
#
# It needs only CuPy, NumPy, pytest, scikit-learn, pandas, matplotlib and tqdm (a CUDA image's preinstalled
# Python stack), run from the repository root; what needs more is skipped with the reason: the notebooks
# without nbval and ipykernel, property tests without hypothesis, PyTorch rows without torch.
# The step limits below add up to 505 seconds, so the whole check ends within 9 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-gpu-check-$(date +%Y%m%d-%H%M%S)}}"
mkdir -p "$out"
python="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
failures=0

step() {  # step NAME SECONDS COMMAND...: run it, log it, add a line to the summary
    local name=$1 limit=$2 started code
    shift 2
    started=$(date +%s)
    printf '\n===== %s: %s\n' "$name" "$*" >>"$out/log.txt"
    timeout "$limit" "$@" >>"$out/log.txt" 2>&1
    code=$?
    [ "$code" -eq 0 ] || failures=$((failures + 1))
    printf '%-12s %s (%ss)\n' "$name" "$([ "$code" -eq 0 ] && echo ok || echo "FAILED, exit $code")" \
        "$(($(date +%s) - started))" | tee -a "$out/summary.txt"
}

skipped() {  # skipped NAME REASON
    printf '%-12s skipped: %s\n' "$1" "$2" | tee -a "$out/summary.txt"
}

missing() {  # the names among "$@" that Python cannot import
    "$python" -c 'import importlib.util, sys
print(" ".join(name for name in sys.argv[1:] if importlib.util.find_spec(name) is None))' "$@"
}

{ date -u '+%Y-%m-%d %H:%M UTC'; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; } \
    >"$out/summary.txt" 2>&1
needed=$(missing gpudeep cupy numpy sklearn threadpoolctl tqdm matplotlib pytest pandas)
if [ -n "$needed" ]; then
    echo "missing Python packages: $needed (pip install -e '.[cuda12]' pytest pandas)" | tee -a "$out/summary.txt"
    exit 2
fi
step info 30 "$python" -m gpudeep info --backend cupy
if [ "$failures" -ne 0 ]; then
    echo "no usable GPU (see $out/log.txt): nothing else to check" | tee -a "$out/summary.txt"
    exit 1
fi
step gpu-tests 170 "$python" -m pytest -q -ra -p no:cacheprovider -m gpu tests
step sklearn-mlp 60 "$python" scripts/sklearn_mlp_tests.py --backend cupy
notebook_packages=$(missing nbval ipykernel)
if [ -z "$notebook_packages" ]; then
    step notebooks 45 "$python" -m pytest -q -ra -p no:cacheprovider --nbval --nbval-current-env \
        --nbval-sanitize-with notebooks/sanitize.cfg notebooks
else
    skipped notebooks "$notebook_packages not installed"
fi
[ -z "$(missing torch)" ] || skipped pytorch "torch not installed: the benchmarks have no PyTorch rows"
# scikit-learn runs on the CPU only: its rows belong to the CPU benchmark runs.
step bench-step 75 "$python" -m gpudeep bench --backend cupy --only step --without scikit-learn --repeats 10 \
    --output "$out/bench-step.md"
step bench-fit 60 "$python" -m gpudeep bench --backend cupy --only fit --output "$out/bench-fit.md"
step crossover 40 "$python" -m gpudeep bench --crossover --repeats 5 --output "$out/crossover.md"
step graph-probe 25 "$python" benchmarks/graph_probe.py
echo "failures: $failures" | tee -a "$out/summary.txt"
[ "$failures" -eq 0 ]
