"""``@elementwise`` updates compiled for the CPU as one loop over their arrays' elements, with Numba.

An update such as Adam's (``gpudeep.optim``) is made of elementwise statements over 1-d arrays of one shape
and numbers: ``m *= β1``, ``m += (1-β1)·dP``, ... Applied to the i-th element of every array, its statements
compute the i-th element of what it computes. So its kernel is the function's own body inside
``for i in range(n):``, each array argument read and written at ``[i]`` and ``xp`` bound to NumPy, compiled by
Numba: one pass over memory instead of one per operation, and no temporary arrays. Helpers it calls with
``xp`` first (``_scaled_descent``) are inlined the same way. Numbers are cast to the arrays' dtype first, as
NumPy casts a Python float meeting a float32 array, and Numba keeps IEEE arithmetic (no fast-math, NumPy's
error model), so the loop gives NumPy's results bit for bit (tests/backends/test_loops.py checks it).

The host backend registers ``fuser`` for NumPy in ``fusion.FUSERS``. A call goes to the loop when its arrays
share one shape and float dtype, are C-contiguous (each is then a 1-d view of its memory), hold at least
``MIN_SIZE`` elements, and the function updates in place (returns nothing); otherwise, or without Numba,
the function runs as written. Numba compiles each loop once per process, on its first call.
"""

from __future__ import annotations

import ast
import functools
import inspect
import logging
import textwrap
import types
from collections.abc import Callable

import numpy as np

log = logging.getLogger("gpudeep")

# From this many elements a loop pays for its compilation (about half a second, once per process) within a
# few thousand steps: the mnist net's 235,146 parameters save 0.5 ms a step (benchmarks/RESULTS.md).
MIN_SIZE = 100_000

_numba = None  # the module once imported; False when it is not installed


def numba_module():
    """Numba, imported on first use; None (said once in the log) when it is not installed."""
    global _numba
    if _numba is None:
        try:
            import numba
        except ImportError as error:
            log.info("gpudeep: %s; updates run as NumPy passes (pip install 'gpudeep[fast]' to compile them)", error)
            numba = False
        _numba = numba
    return _numba or None


def fuser(function: Callable, kernel_name: str) -> Callable:
    """``function(xp, *args)`` for NumPy: its compiled loop for calls that qualify, else the function as written."""
    if not _returns_nothing(function):
        return functools.partial(function, np)
    loops: dict[tuple, Callable] = {}  # (array positions, dtype) -> compiled kernel

    def call(*args):
        arrays = [k for k, a in enumerate(args) if isinstance(a, np.ndarray)]
        if not (arrays and _qualify([args[k] for k in arrays])) or numba_module() is None:
            return function(np, *args)
        dtype = args[arrays[0]].dtype
        key = (tuple(arrays), dtype)
        if key not in loops:
            loops[key] = numba_module().njit(error_model="numpy")(loop_of(function, arrays, kernel_name))
        loops[key](*(a.reshape(-1) if k in arrays else dtype.type(a) for k, a in enumerate(args)))

    return call


def _qualify(arrays: list[np.ndarray]) -> bool:
    """Arrays of one shape and float dtype, C-contiguous (so each is a 1-d view of its memory), large enough."""
    first = arrays[0]
    return (first.size >= MIN_SIZE and first.dtype in (np.float32, np.float64)
            and all(a.shape == first.shape and a.dtype == first.dtype and a.flags.c_contiguous for a in arrays))


def _returns_nothing(function: Callable) -> bool:
    return not any(isinstance(node, ast.Return) and node.value is not None
                   for node in ast.walk(_definition(function)))


def loop_source(function: Callable, arrays: list[int], name: str) -> str:
    """The source of the loop ``name(*args)`` that applies ``function``'s statements to each element: the
    parameters at positions ``arrays`` (of the arguments after ``xp``) are 1-d arrays indexed by ``i``, the rest
    numbers. For Adam's update it begins ``for i in range(P.shape[0]): first_moment[i] *= beta_1``."""
    definition = _definition(function)
    params = [arg.arg for arg in definition.args.args][1:]  # without xp
    module = ast.parse(f"def {name}({', '.join(params)}):\n    for i in range({params[arrays[0]]}.shape[0]):\n"
                       f"        pass")
    module.body[0].body[0].body = _elementwise_body(function, definition, {params[k] for k in arrays}, prefix="")
    return ast.unparse(ast.fix_missing_locations(module))


def loop_of(function: Callable, arrays: list[int], name: str) -> types.FunctionType:
    """``loop_source`` made a Python function, with ``xp`` bound to NumPy (for Numba to compile): the code of
    the one function the compiled source defines, given its globals."""
    module = compile(loop_source(function, arrays, name), f"<loop of {function.__qualname__}>", "exec")
    code = next(constant for constant in module.co_consts if isinstance(constant, types.CodeType))
    return types.FunctionType(code, {"xp": np}, name)


def _definition(function: Callable) -> ast.FunctionDef:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return next(node for node in tree.body if isinstance(node, ast.FunctionDef))


def _elementwise_body(function: Callable, definition: ast.FunctionDef, array_names: set[str], prefix: str) -> list:
    """``definition``'s statements with ``array_names`` indexed by ``i``, locals renamed with ``prefix``, and
    calls of helpers that take ``xp`` first inlined."""
    local_names = _assigned(definition) - {arg.arg for arg in definition.args.args}
    body = []
    for statement in definition.body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # the docstring
        helper = _helper_call(function, statement)
        if helper is not None:
            body += _inlined(function, helper, statement.value, array_names, prefix)
            continue
        if not isinstance(statement, (ast.Assign, ast.AugAssign)):
            raise TypeError(f"{function.__qualname__}: only assignments and helper calls compile to a loop, "
                            f"got {ast.unparse(statement)!r}")
        if isinstance(statement, ast.Assign) and any(isinstance(t, ast.Name) and t.id in array_names
                                                     for t in statement.targets):
            raise TypeError(f"{function.__qualname__}: {ast.unparse(statement)!r} rebinds an array argument; "
                            f"update it in place")
        body.append(_Indexed(array_names, {name: prefix + name for name in local_names}).visit(statement))
    return body


def _assigned(definition: ast.FunctionDef) -> set[str]:
    """The names a function's statements assign to."""
    return {target.id for node in ast.walk(definition) if isinstance(node, (ast.Assign, ast.AugAssign))
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name)}


def _helper_call(function: Callable, statement) -> Callable | None:
    """The helper a statement calls as ``helper(xp, ...)``, or None."""
    if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)
            and isinstance(statement.value.func, ast.Name)):
        return None
    helper = function.__globals__.get(statement.value.func.id)
    call_args = statement.value.args
    if isinstance(helper, types.FunctionType) and call_args and isinstance(call_args[0], ast.Name) \
            and call_args[0].id == "xp":
        return helper
    return None


def _inlined(function: Callable, helper: Callable, call: ast.Call, array_names: set[str], prefix: str) -> list:
    """The helper's statements in place of ``call``: its parameters renamed to the caller's arguments (plain
    names, as the rule for helpers asks), its locals given a prefix of their own."""
    definition = _definition(helper)
    params = [arg.arg for arg in definition.args.args][1:]
    if not all(isinstance(arg, ast.Name) for arg in call.args[1:]) or len(call.args) - 1 != len(params):
        raise TypeError(f"{function.__qualname__}: helper {helper.__name__} must be called with names, one per "
                        f"parameter, got {ast.unparse(call)!r}")
    renames = dict(zip(params, (arg.id for arg in call.args[1:]), strict=True))
    clashes = (_assigned(definition) - set(params)) & set(renames.values())
    if clashes:
        raise TypeError(f"{function.__qualname__}: helper {helper.__name__} assigns {sorted(clashes)}, names the "
                        f"caller passes in; rename them")
    renamed = _Renamed(renames).visit(definition)
    inner_arrays = {p for p, arg in renames.items() if arg in array_names}
    return _elementwise_body(helper, renamed, {renames[p] for p in inner_arrays},
                             prefix=f"{prefix}{helper.__name__}_")


class _Renamed(ast.NodeTransformer):
    """Parameters renamed to the caller's arguments, in a helper's body."""

    def __init__(self, renames: dict[str, str]):
        self.renames = renames

    def visit_arg(self, node):
        node.arg = self.renames.get(node.arg, node.arg)
        return node

    def visit_Name(self, node):
        return ast.copy_location(ast.Name(self.renames.get(node.id, node.id), node.ctx), node)


class _Indexed(ast.NodeTransformer):
    """Array arguments read and written at ``[i]``; locals renamed."""

    def __init__(self, array_names: set[str], locals_: dict[str, str]):
        self.array_names, self.locals = array_names, locals_

    def visit_Name(self, node):
        if node.id in self.array_names:
            return ast.copy_location(ast.Subscript(ast.Name(node.id, ast.Load()), ast.Name("i", ast.Load()),
                                                   node.ctx), node)
        if node.id in self.locals:
            return ast.copy_location(ast.Name(self.locals[node.id], node.ctx), node)
        return node
