"""``gpudeep export``: a model file (or a run folder) as an ONNX model, for ONNX Runtime."""

from __future__ import annotations

import argparse
from pathlib import Path

from .data import model_file
from .parser import digest_argument

HELP = "write a model (a model file or a run folder) as an ONNX model for ONNX Runtime (needs gpudeep[onnx])"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="a model file, or the run folder that holds model.npz")
    parser.add_argument("output", type=Path, help="the ONNX file to write, e.g. model.onnx")
    digest_argument(parser)


def run(args) -> int:
    from ..estimators import load
    from ..export import export_onnx

    path = model_file(args.model)
    model = load(path, backend="numpy", sha256=args.sha256)
    exported = export_onnx(model, args.output, model_file=path)
    print(f"wrote {exported.path}: inputs {', '.join(exported.inputs)}; outputs {', '.join(exported.outputs)}; "
          f"{exported.nodes} nodes (run it with onnxruntime.InferenceSession)")
    return 0
