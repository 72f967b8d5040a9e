"""gpudeep's ONNX export beside skl2onnx's export of an ``MLPClassifier`` with the same layers, in one run.

Both are fitted on the digits (float32, hidden layers 256 and 128), exported, and run by ONNX Runtime on the
CPU: the graph's node count and size, the median latency of 1,000 rows (over 50 runs, one thread), and the
largest difference of each graph's probabilities from its own ``predict_proba``. Needs the onnx extra and
skl2onnx (``pip install ".[onnx]" skl2onnx``). Prints a Markdown table.

    python benchmarks/onnx_export.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from skl2onnx import to_onnx
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from gpudeep import DeepClassifier
from gpudeep.export import export_onnx

HIDDEN = (256, 128)
ROWS, RUNS = 1000, 50


def latency_ms(path: Path, X: np.ndarray) -> tuple[float, np.ndarray]:
    """(median milliseconds of one run on X, the probabilities it gives)."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    outputs = [o.name for o in session.get_outputs()]
    session.run(None, {name: X})  # warm-up
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        result = session.run(None, {name: X})
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3, result[outputs.index("probabilities")]


def main() -> None:
    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    rows = np.resize(X, (ROWS, X.shape[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = DeepClassifier(hidden_layer_sizes=HIDDEN, max_iter=50, random_state=0).fit(X, y)
        theirs = MLPClassifier(hidden_layer_sizes=HIDDEN, max_iter=50, random_state=0).fit(X, y)
    lines = ["| exporter | nodes | bytes | ORT ms per 1,000 rows | max |probabilities - predict_proba| |",
             "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as folder:
        ours_path, theirs_path = Path(folder, "gpudeep.onnx"), Path(folder, "skl2onnx.onnx")
        export_onnx(ours, ours_path)
        theirs_path.write_bytes(to_onnx(theirs, X[:1], options={"zipmap": False}).SerializeToString())
        for name, path, model in (("gpudeep", ours_path, ours), ("skl2onnx", theirs_path, theirs)):
            graph = onnx.load(str(path)).graph
            milliseconds, probabilities = latency_ms(path, rows)
            difference = np.abs(probabilities - model.predict_proba(rows)).max()
            lines.append(f"| {name} | {len(graph.node)} | {path.stat().st_size} | {milliseconds:.3f} | "
                         f"{difference:.2e} |")
    print(f"digits, float32, hidden layers {HIDDEN}, onnxruntime {onnxruntime.__version__}, one thread:\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
