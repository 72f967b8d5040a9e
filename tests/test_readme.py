"""The README's code example and commands stay true."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = (Path(__file__).parents[1] / "README.md").read_text()
CI = (Path(__file__).parents[1] / ".ci" / "run").read_text()


@pytest.mark.parametrize("index, check", [(0, lambda value: value > 0.95), (1, lambda value: value < 0.1)])
def test_examples_run(tmp_path, index, check):
    """Each Python example runs as printed and ends by printing a number worth printing."""
    example = re.findall(r"```python\n(.*?)```", README, re.DOTALL)[index]
    result = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, cwd=tmp_path,
                            env={"GPUDEEP_BACKEND": "numpy", "PATH": ""}, check=False)
    assert result.returncode == 0, result.stderr
    assert check(float(result.stdout.split()[-1]))


def test_two_setup_commands_open_the_readme_and_ci_runs_the_test_one():
    commands = re.findall(r"```bash\n(.*?)\n```", README, re.DOTALL)[:2]
    assert commands[0].endswith("gpudeep train")
    install, test = commands[1].rsplit(" && ", 1)
    for step in install.split(" && ") + [test]:
        assert step in CI, f"{step!r} from the README is not what .ci/run does"
