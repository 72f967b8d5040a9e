"""The README's code example and commands stay true."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = (Path(__file__).parents[2] / "README.md").read_text()
CI = (Path(__file__).parents[2] / ".ci" / "run").read_text()


@pytest.mark.parametrize("index, check", [(0, lambda value: value > 0.95), (1, lambda value: value >= 0.95),
                                          (2, lambda value: value < 0.1)])
def test_examples_run(tmp_path, index, check):
    """Each Python example runs as printed and ends by printing a number worth printing."""
    example = re.findall(r"```python\n(.*?)```", README, re.DOTALL)[index]
    result = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, cwd=tmp_path,
                            env={"GPUDEEP_BACKEND": "numpy", "PATH": ""}, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # clean: no warning (no ConvergenceWarning), no notice
    assert check(float(result.stdout.split()[-1]))


def test_the_training_console_runs_as_shown(tmp_path):
    """The commands of the README's first console block run in order, each exits 0 with nothing on stderr,
    and prints the lines shown (times, digests and scores aside)."""
    from gpudeep.datasets import load_dataset

    X, _, _ = load_dataset("digits")
    (tmp_path / "rows.csv").write_text(",".join(f"p{i}" for i in range(64)) + "\n"
                                       + "".join(",".join(map(str, row)) + "\n" for row in X[:20]))
    block = re.findall(r"```console\n(.*?)```", README, re.DOTALL)[0]
    commands = re.split(r"^\$ ", block, flags=re.MULTILINE)[1:]

    def masked(text):
        text = re.sub(r"\d+\.\d s|SHA-256 [0-9a-f.]+|0\.\d{4}", "#", text)
        return [line for line in text.splitlines() if line]

    for command in commands:
        line, *shown = command.splitlines()
        argv = shlex.split(line.split("  #")[0])
        assert argv[0] == "gpudeep"
        result = subprocess.run([sys.executable, "-m", "gpudeep", *argv[1:], "--backend", "numpy"],
                                capture_output=True, text=True, cwd=tmp_path)
        progress = ("loss: the training cost", "epoch ")  # the per-epoch lines, off a terminal
        assert result.returncode == 0, (line, result.stderr)
        assert all(text.startswith(progress) for text in result.stderr.splitlines()), (line, result.stderr)
        assert masked(result.stdout) == masked("\n".join(shown)), line


def test_two_setup_commands_open_the_readme_and_ci_runs_the_test_one():
    commands = re.findall(r"```bash\n(.*?)\n```", README, re.DOTALL)[:2]
    assert commands[0].endswith("gpudeep train")
    lines = CI.splitlines()
    assert commands[1] in lines, f"{commands[1]!r}, the README's test command, is not a line of .ci/run"
    extras = next(number for number, line in enumerate(lines) if re.search(r"pip install .*\.\[(cuda|mpi|track)", line))
    assert lines.index(commands[1]) < extras, "CI installs an extra before it runs the README's test command"
