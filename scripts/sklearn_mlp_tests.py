"""Run the installed scikit-learn's own MLP tests against gpudeep's estimators.

Copies ``sklearn/neural_network/tests/test_mlp.py`` from the installed scikit-learn into a temporary folder,
rewrites its one import of the estimators to take ``DeepClassifier`` and ``DeepRegressor`` under scikit-learn's
names, and runs it with pytest and scikit-learn's own test plugin (``sklearn.conftest``, which provides its
fixtures). Nothing else in the file changes.

    python scripts/sklearn_mlp_tests.py [--backend numpy|strict|cupy] [pytest options]

Exits with pytest's status: 0 when every test passes.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile

IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor\n"
OURS = "from gpudeep import DeepClassifier as MLPClassifier, DeepRegressor as MLPRegressor\n"


def rewritten(source: str) -> str:
    """``source`` with its estimator import replaced; ``SystemExit`` unless that line occurs exactly once."""
    if source.count(IMPORT) != 1:
        raise SystemExit(f"the installed test_mlp.py does not import the estimators as {IMPORT.strip()!r} "
                         f"exactly once; this script needs updating for this scikit-learn")
    return source.replace(IMPORT, OURS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", help="GPUDEEP_BACKEND for the run (default: as set, else auto)")
    options, pytest_args = parser.parse_known_args(argv)
    import sklearn

    original = pathlib.Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
    env = dict(os.environ)
    if options.backend:
        env["GPUDEEP_BACKEND"] = options.backend
    print(f"scikit-learn {sklearn.__version__}: {original}, backend {env.get('GPUDEEP_BACKEND', 'auto')}",
          flush=True)
    with tempfile.TemporaryDirectory() as folder:
        copy = pathlib.Path(folder) / "test_mlp.py"
        copy.write_text(rewritten(original.read_text()))
        (pathlib.Path(folder) / "pytest.ini").write_text("[pytest]\n")  # none of this project's settings
        command = [sys.executable, "-m", "pytest", "-p", "sklearn.conftest", "-p", "no:cacheprovider",
                   "--rootdir", folder, "-q", "-rfE", str(copy), *pytest_args]
        return subprocess.call(command, cwd=folder, env=env)


if __name__ == "__main__":
    sys.exit(main())
