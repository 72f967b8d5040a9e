"""The house's floors: every module imports only from its own floor or below, between the library's rooms
and between the modules inside each package; nothing in the library imports the benchmark harness or the
command line; CuPy is imported and named only by its backend module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "gpudeep"
FLOORS = {
    0: ["backends", "backend", "registry", "checks", "threads", "subnormals", "atomic", "archive"],
    1: ["activations", "losses", "initializers", "layers", "parameters"],
    2: ["network", "optim", "lbfgs"],
    3: ["training", "gradcheck", "csvfiles", "datasets", "distributed", "tutorial"],
    4: ["estimators", "tracking"],
    # entry points, deployment formats and the benchmark harness, above the library
    5: ["cli", "runs", "export", "__main__", "bench", "__init__"],
}
FLOOR = {name: floor for floor, names in FLOORS.items() for name in names}
INNER_FLOORS = {  # package -> its modules' floors inside it: the package's __init__ (its face) on top
    "backends": {"base": 0, "fusion": 0, "loops": 0, "host": 1, "strict": 1, "onnx": 1, "cupy_probe": 1, "cupy": 2,
                 "__init__": 3},
    "estimators": {"hyperparameters": 0, "inputs": 0, "docs": 0, "namespaces": 0, "attributes": 0, "fitting": 1,
                   "persistence": 1,
                   "predicting": 2, "solvers": 2, "base": 3, "classifier": 4, "regressor": 4, "__init__": 5},
    "bench": {"machine": 0, "steps": 0, "images": 0, "command": 0, "crossover": 1, "jobs": 1, "__init__": 2},
    "cli": {"parser": 0, "data": 0, "train": 1, "evaluate": 1, "predict": 1, "export": 1, "info": 1, "gradcheck": 1,
            "tutorial": 1, "bench": 1, "__init__": 2},
    "training": {"state": 0, "progress": 0, "step": 0, "callbacks": 1, "checkpoint": 1, "full_batch": 1, "loop": 2,
                 "__init__": 3},
}


def room(path: Path) -> str:
    """The floor-plan name of a module: its top-level module or package under gpudeep."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imports(path: Path) -> list[tuple[int, str | None, list[str]]]:
    """(level, module, names) of every import in ``path``, at the top or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found += [(0, alias.name, []) for alias in node.names]
    return found


def imported_rooms(path: Path) -> set[str]:
    """The gpudeep rooms ``path`` imports, by relative or absolute import."""
    depth = len(path.relative_to(PACKAGE).parts) - 1  # 0 for gpudeep/x.py, 1 for gpudeep/estimators/x.py
    rooms = set()
    for level, module, names in imports(path):
        parts = (module or "").split(".")
        if level == 0 and parts[0] == "gpudeep":
            rooms |= {parts[1]} if len(parts) > 1 else set(names)
        elif level == depth + 1:  # from the package gpudeep itself
            rooms |= {parts[0]} if module else set(names)
    return rooms - {room(path)}


def sibling_modules(path: Path) -> set[str]:
    """The modules of its own package that a module inside a package imports."""
    siblings = set()
    for level, module, names in imports(path):
        if level == 1:
            siblings |= {module.split(".")[0]} if module else set(names)
    return siblings - {path.stem}


MODULES = sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)
INSIDE = [path for path in MODULES if len(path.relative_to(PACKAGE).parts) > 1]


def test_every_module_has_a_floor():
    assert {room(path) for path in MODULES} == set(FLOOR)
    assert {path.parent.name for path in INSIDE} == set(INNER_FLOORS)
    for package, floors in INNER_FLOORS.items():
        assert {path.stem for path in (PACKAGE / package).glob("*.py")} == set(floors), package


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_point_down(path):
    upward = {other: FLOOR[other] for other in imported_rooms(path) if FLOOR[other] > FLOOR[room(path)]}
    assert not upward, f"{room(path)} (floor {FLOOR[room(path)]}) imports from a higher floor: {upward}"


@pytest.mark.parametrize("path", INSIDE, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_inside_a_package_point_down(path):
    floors = INNER_FLOORS[path.parent.name]
    upward = {other: floors[other] for other in sibling_modules(path) if floors[other] >= floors[path.stem]}
    assert not upward, f"{path.parent.name}/{path.name} (floor {floors[path.stem]}) imports from its own floor " \
                       f"or above in its package: {upward}"


def test_the_loop_knows_nothing_of_mpi_and_the_library_nothing_of_the_harness():
    assert not any("distributed" in imported_rooms(path) for path in (PACKAGE / "training").glob("*.py"))
    for path in MODULES:
        if FLOOR[room(path)] < 5:
            assert not imported_rooms(path) & {"bench", "cli"}, path


def test_only_the_cupy_backend_imports_cupy_or_compares_a_name_with_it():
    """Everything CuPy does differently lives in ``backends/cupy.py`` (and its probe beside it): no other module
    imports CuPy, nor compares anything with the string "cupy" (which would read "on a GPU" as "CuPy")."""
    own = {PACKAGE / "backends" / "cupy.py", PACKAGE / "backends" / "cupy_probe.py"}
    for path in MODULES:
        if path in own:
            continue
        assert not [module for _, module, _ in imports(path) if (module or "").split(".")[0] in ("cupy", "cupyx")], path
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                constants = [n.value for n in ast.walk(node) if isinstance(n, ast.Constant)]
                assert "cupy" not in constants, f"{path.relative_to(PACKAGE)}:{node.lineno} compares with 'cupy'"


def test_no_library_file_is_over_300_lines():
    long = {str(path.relative_to(PACKAGE)): n for path in MODULES if (n := len(path.read_text().splitlines())) > 300}
    assert not long, f"split these by job: {long}"


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
