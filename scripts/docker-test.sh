#!/usr/bin/env bash
# The container's default command: say which backend and device it sees, then run the whole
# test suite (GPU tests included) on CuPy. Without a GPU it stops with one line saying why.
set -euo pipefail
if ! gpudeep info --backend cupy; then
    echo "gpudeep: this container sees no usable GPU; start it with: docker run --rm --gpus all gpudeep" >&2
    exit 1
fi
exec python -m pytest "$@"
