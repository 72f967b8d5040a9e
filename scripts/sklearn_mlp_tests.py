"""Run the installed scikit-learn's own MLP tests against gpudeep's estimators.

Copies ``sklearn/neural_network/tests/test_mlp.py`` from the installed scikit-learn into a temporary folder,
rewrites its one import of the estimators to take ``DeepClassifier`` and ``DeepRegressor`` under scikit-learn's
names, and runs it with pytest and scikit-learn's own test plugin (``sklearn.conftest``, which provides its
fixtures). Nothing else in the file changes.

    python scripts/sklearn_mlp_tests.py [--backend numpy|strict|cupy] [pytest options]

Prints how many of its tests passed; exits with pytest's status, or 1 if any was skipped: 0 only when every
test passed.
"""

from __future__ import annotations

import argparse
import os
import pathlib
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


class Outcomes:
    """A pytest plugin that counts each test's outcome (a skip is no pass)."""

    def __init__(self):
        self.counts: dict[str, int] = {}

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or report.outcome != "passed":
            self.counts[report.outcome] = self.counts.get(report.outcome, 0) + 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", help="GPUDEEP_BACKEND for the run (default: as set, else auto)")
    options, pytest_args = parser.parse_known_args(argv)
    if options.backend:
        os.environ["GPUDEEP_BACKEND"] = options.backend
    import pytest
    import sklearn

    original = pathlib.Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
    print(f"scikit-learn {sklearn.__version__}: {original}, backend {os.environ.get('GPUDEEP_BACKEND', 'auto')}",
          flush=True)
    outcomes = Outcomes()
    with tempfile.TemporaryDirectory() as folder:
        copy = pathlib.Path(folder) / "test_mlp.py"
        copy.write_text(rewritten(original.read_text()))
        (pathlib.Path(folder) / "pytest.ini").write_text("[pytest]\n")  # none of this project's settings
        code = pytest.main(["-p", "sklearn.conftest", "-p", "no:cacheprovider", "--rootdir", folder, "-q", "-rfEs",
                            str(copy), *pytest_args], plugins=[outcomes])
    passed, total = outcomes.counts.get("passed", 0), sum(outcomes.counts.values())
    print(f"scikit-learn's test_mlp.py: {passed} of {total} passed ({outcomes.counts})")
    return int(code) or (0 if passed == total else 1)


if __name__ == "__main__":
    sys.exit(main())
