"""A network's parameters in one contiguous buffer, with a named view of each array.

``flat`` holds every trainable array, layer after layer (W[1], b[1], W[2], ...), so that an optimizer
step is one pass over one array, the data-parallel all-reduce is one call on it, and a full-batch solver
has its parameter vector. Each array is a view of it: ``params[l - 1]`` is layer l's tuple of views,
``(W[l], b[l])`` for a dense layer, so code written for a list of pairs reads them unchanged, and writes
through them land in ``flat``. Non-trainable arrays (batch norm's running statistics) live in a second
buffer, ``running_flat``, viewed per layer as the tuple ``running[l - 1]``. Arrays are named as in model files:
the array's name and its layer, ``W1``, ``b1``, ``running_mean2``.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import numpy as np

from .backends import Backend

Layout = list[list[tuple[str, tuple[int, ...]]]]  # per layer: (name, shape) of each array, in order


class Parameters(Sequence):
    """One layout's arrays as views of one 1-d buffer per kind (trainable, running)."""

    def __init__(self, xp, layout: Layout, flat, running_layout: Layout | None = None, running_flat=None):
        self.xp, self.layout, self.flat = xp, layout, flat
        self.running_layout = running_layout or [[] for _ in layout]
        self.running_flat = running_flat if running_flat is not None else xp.zeros((0,), dtype=flat.dtype)
        self.layers = _views(xp, flat, layout)
        self.running = _views(xp, self.running_flat, self.running_layout)
        self._grads = None

    @classmethod
    def from_host(cls, backend: Backend, layout: Layout, arrays: dict[str, np.ndarray], dtype,
                  running_layout: Layout | None = None) -> Parameters:
        """The named host ``arrays`` on ``backend``, each buffer moved in one transfer."""
        running_layout = running_layout or [[] for _ in layout]
        flat, running = (backend.asarray(_concatenated(arrays, entries), dtype) for entries in (layout, running_layout))
        return cls(backend.xp, layout, flat, running_layout, running)

    def __getstate__(self) -> dict:
        """Pickled as the buffers and layouts: the namespace by name, the views made again on loading."""
        return {"xp": self.xp.__name__, "layout": self.layout, "flat": self.flat,
                "running_layout": self.running_layout, "running_flat": self.running_flat}

    def __setstate__(self, state: dict) -> None:
        self.__init__(importlib.import_module(state["xp"]), state["layout"], state["flat"], state["running_layout"],
                      state["running_flat"])

    def __getitem__(self, index):
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def named(self) -> dict:
        """{name: view} of the trainable arrays."""
        return self.split(self.flat)

    def split(self, flat) -> dict:
        """{name: view} of ``flat``, an array of this layout's trainable buffer's shape (a gradient, an
        optimizer's moment estimate)."""
        views = _views(self.xp, flat, self.layout)
        return {name: view for entries, layer in zip(self.layout, views) for (name, _), view in zip(entries, layer)}

    def running_named(self) -> dict:
        """{name: view} of the non-trainable arrays."""
        return {name: view for entries, layer in zip(self.running_layout, self.running)
                for (name, _), view in zip(entries, layer)}

    def like(self) -> Parameters:
        """Zeros in the trainable layout (gradients, an optimizer's state), without running arrays."""
        return Parameters(self.xp, self.layout, self.xp.zeros_like(self.flat))

    def grads(self) -> Parameters:
        """The gradient buffer of these parameters, made on first use and kept: backward writes into it."""
        if self._grads is None:
            self._grads = self.like()
        return self._grads

    def copy(self, dtype=None) -> Parameters:
        """A copy on the same device (in ``dtype``, a dtype of the namespace, if given)."""
        xp = self.xp
        dtype = self.flat.dtype if dtype is None else dtype
        return Parameters(xp, self.layout, xp.astype(self.flat, dtype, copy=True), self.running_layout,
                          xp.astype(self.running_flat, dtype, copy=True))

    def put_back(self, other: Parameters) -> None:
        """Overwrite these arrays with ``other``'s (of the same layout), in place."""
        self.flat[...] = other.flat
        self.running_flat[...] = other.running_flat

    def to_host(self, backend: Backend) -> dict[str, np.ndarray]:
        """{name: host array} of every array, trainable and running, in one transfer per buffer."""
        host = {}
        for entries, flat in ((self.layout, self.flat), (self.running_layout, self.running_flat)):
            host |= _split_host(backend.to_numpy(flat), entries)
        return host

    def host_split(self, backend: Backend, flat, prefix: str = "") -> dict[str, np.ndarray]:
        """{prefix + name: host array} of a trainable-shaped ``flat`` (an optimizer slot), in one transfer."""
        return {prefix + name: array for name, array in _split_host(backend.to_numpy(flat), self.layout).items()}


def trainable_arrays(params) -> list:
    """The arrays an update passes over: the one buffer of ``Parameters``, else each array of per-layer tuples."""
    return [params.flat] if isinstance(params, Parameters) else [P for layer in params for P in layer]


def shapes(layout: Layout, dtype) -> dict[str, tuple]:
    """{name: (shape, dtype)} of a layout, as model files declare their arrays."""
    return {name: (shape, np.dtype(dtype)) for entries in layout for name, shape in entries}


def _views(xp, flat, layout: Layout) -> list[tuple]:
    layers, start = [], 0
    for entries in layout:
        views = []
        for _, shape in entries:
            size = int(np.prod(shape))
            views.append(xp.reshape(flat[start:start + size], shape))
            start += size
        layers.append(tuple(views))
    if start != flat.shape[0]:
        raise ValueError(f"a buffer of {flat.shape[0]} values for a layout of {start}")
    return layers


def _concatenated(arrays: dict[str, np.ndarray], layout: Layout) -> np.ndarray:
    parts = [np.asarray(arrays[name]).reshape(-1) for entries in layout for name, _ in entries]
    return np.concatenate(parts) if parts else np.zeros(0)


def _split_host(flat: np.ndarray, layout: Layout) -> dict[str, np.ndarray]:
    host, start = {}, 0
    for entries in layout:
        for name, shape in entries:
            size = int(np.prod(shape))
            host[name] = flat[start:start + size].reshape(shape).copy()
            start += size
    return host
