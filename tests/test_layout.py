"""The house's floors: every module imports only from its own floor or below, and nothing in the library
imports the benchmark harness or the command line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "gpudeep"
FLOORS = {
    0: ["backend", "cuda", "threads", "archive"],
    1: ["activations", "losses", "initializers"],
    2: ["network", "optim", "gradcheck"],
    3: ["training", "checkpoint", "datasets", "distributed", "tutorial"],
    4: ["estimators", "tracking"],
    5: ["cli", "runs", "__main__", "bench", "__init__"],  # entry points and the benchmark harness, above the library
}
FLOOR = {name: floor for floor, names in FLOORS.items() for name in names}


def room(path: Path) -> str:
    """The floor-plan name of a module: its top-level module or package under gpudeep."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported_rooms(path: Path) -> set[str]:
    """The gpudeep rooms ``path`` imports, by relative or absolute import."""
    depth = len(path.relative_to(PACKAGE).parts) - 1  # 0 for gpudeep/x.py, 1 for gpudeep/estimators/x.py
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] == "gpudeep" and len(parts) > 1:
                    rooms.add(parts[1])
                elif parts[0] == "gpudeep":
                    rooms |= {alias.name for alias in node.names}
            elif node.level == depth + 1:  # from the package gpudeep itself
                rooms |= {node.module.split(".")[0]} if node.module else {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            rooms |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("gpudeep.")}
    return rooms - {room(path)}


MODULES = sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def test_every_module_has_a_floor():
    assert {room(path) for path in MODULES} == set(FLOOR)


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_point_down(path):
    upward = {other: FLOOR[other] for other in imported_rooms(path) if FLOOR[other] > FLOOR[room(path)]}
    assert not upward, f"{room(path)} (floor {FLOOR[room(path)]}) imports from a higher floor: {upward}"


def test_the_loop_knows_nothing_of_mpi_and_the_library_nothing_of_the_harness():
    assert "distributed" not in imported_rooms(PACKAGE / "training.py")
    for path in MODULES:
        if FLOOR[room(path)] < 5:
            assert not imported_rooms(path) & {"bench", "cli"}, path


def test_an_installed_gpudeep_holds_every_subpackage():
    """`pip install .` (the README's first command) installs what pyproject.toml's package list names: every
    folder of the package must be in it (gpudeep.estimators and gpudeep.bench once were not)."""
    import fnmatch

    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = config["packages"]
    patterns = listed if isinstance(listed, list) else listed["find"]["include"]  # named, or found by pattern
    folders = {path.parent for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts}
    names = {".".join(folder.relative_to(PACKAGE.parent).parts) for folder in folders}
    assert all((PACKAGE.parent / name.replace(".", "/") / "__init__.py").is_file() for name in names)
    missing = sorted(name for name in names if not any(fnmatch.fnmatchcase(name, p) for p in patterns))
    assert not missing, f"not installed by pip install .: {missing}"
