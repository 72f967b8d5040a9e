#!/usr/bin/env bash
# One command that checks gpudeep on a machine with an NVIDIA GPU and CuPy already installed:
# gpudeep info, the GPU-marked tests (the cupy parity tests, the fused kernels and TF32 among them),
# the notebooks, the GPU benchmarks and a probe of CUDA-graph capture. Logs and summary.txt go to the folder given as $1, else $OUT, else gpu-check-TIME.
# Each step has a time limit so that the whole check stays under 8 minutes on one GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-gpu-check-$(date +%Y%m%d-%H%M%S)}}"
mkdir -p "$out"
python="${PYTHON:-python3}"
failures=0

step() {  # step NAME SECONDS COMMAND...: run it, log it, add a line to the summary
    local name=$1 limit=$2 started code
    shift 2
    started=$(date +%s)
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    code=$?
    [ "$code" -eq 0 ] || failures=$((failures + 1))
    printf '%-12s %s (%ss)\n' "$name" "$([ "$code" -eq 0 ] && echo ok || echo "FAILED, exit $code")" \
        "$(($(date +%s) - started))" | tee -a "$out/summary.txt"
}

{ date -u '+%Y-%m-%d %H:%M UTC'; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; } \
    >"$out/summary.txt" 2>&1
# Everything the steps import must already be installed (pip install -e ".[test]" plus CuPy):
# say plainly what is missing instead of failing step after step.
missing=$("$python" - <<'PY'
import importlib.util
needed = ["gpudeep", "cupy", "numpy", "sklearn", "tqdm", "matplotlib", "pytest", "array_api_strict",
          "hypothesis", "nbmake", "ipykernel", "pandas"]
print(" ".join(name for name in needed if importlib.util.find_spec(name) is None))
PY
)
if [ -n "$missing" ]; then
    echo "missing Python packages: $missing (install them, e.g. pip install -e '.[test]')" | tee -a "$out/summary.txt"
    exit 2
fi
step info 60 "$python" -m gpudeep info --backend cupy
if [ "$failures" -ne 0 ]; then
    echo "no usable GPU (see $out/info.log): nothing else to check" | tee -a "$out/summary.txt"
    exit 1
fi
step gpu-tests 240 "$python" -m pytest -q -ra -p no:cacheprovider -m gpu tests
step notebooks 90 "$python" -m pytest -q -ra -p no:cacheprovider notebooks
step benchmark 150 "$python" -m gpudeep bench --backend cupy --repeats 10 --output "$out/bench-gpu.md"
step crossover 60 "$python" -m gpudeep bench --crossover --repeats 5 --output "$out/crossover.md"
step graph-probe 60 "$python" scripts/graph-probe.py
echo "failures: $failures" | tee -a "$out/summary.txt"
[ "$failures" -eq 0 ]
