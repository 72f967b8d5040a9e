"""The L-layer network: init_parameters, forward, backward, update.

Layout is the math's: X is ``(n[0], m)`` with one sample per column,
W[l] is ``(n[l], n[l-1])`` and b[l] is ``(n[l], 1)``.

    forward    Z[l] = W[l]·A[l-1] + b[l]          A[l] = g[l](Z[l])       A[0] = X
    backward   dZ[L] = (A[L] - Y) / m
               dW[l] = dZ[l]·A[l-1]ᵀ              db[l] = Σ dZ[l]  (over samples)
               dZ[l-1] = W[l]ᵀ·dZ[l] ∗ g'[l-1](Z[l-1])
    update     W[l] -= α·dW[l]                    b[l] -= α·db[l]

Sample weights s ``(1, m)``, when given, weight each sample's loss: J = (1/m) Σ s⁽ⁱ⁾·ℓ⁽ⁱ⁾ and
dZ[L] = s ∗ (A[L] - Y) / m; the rest of backward is unchanged.

Two regularisers are part of the math: an L2 penalty λ, which adds
(λ/2m)·Σ‖W[l]‖² to the cost and (λ/m)·W[l] to dW[l], and inverted dropout,
A[l] ∗= D[l] with masks D[l] of 0 and 1/keep_prob drawn by the caller.

Each layer l is a ``gpudeep.layers`` type holding the step from A[l-1] to Z[l] and its gradients; this
module's loop applies g[l] and dropout around it. Parameters and gradients are sequences of per-layer
tuples: ``params[l - 1]`` is ``(W[l], b[l])`` for a dense layer and ``grads[l - 1]`` is ``(dW[l], db[l])``,
either plain lists or ``gpudeep.parameters.Parameters``, whose tuples are views of one buffer. Every
layer's first array is its weight matrix W[l]. Every math function takes the array namespace ``xp`` of a
resolved backend first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .activations import ACTIVATIONS, Activation
from .backends import Backend, check_same_backend, elementwise
from .initializers import INITIALIZERS
from .layers import BatchNorm, Dense
from .losses import LOSSES, Loss, check_pair, output_delta
from .parameters import Layout, Parameters


@dataclass(frozen=True)
class Architecture:
    """The shape of a network: units per layer, activation per layer, and the loss.

    layer_sizes: n[0], n[1], ..., n[L] (n[0] is the number of input features).
    activations: the names of g[1], ..., g[L].
    loss: the loss name; it fixes g[L] (see ``gpudeep.losses``).
    batch_norm: whether the hidden layers normalise their pre-activations (``gpudeep.layers.BatchNorm``).
    """

    layer_sizes: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str
    batch_norm: bool = False

    def __post_init__(self):
        sizes, names = tuple(self.layer_sizes), tuple(self.activations)
        if len(sizes) < 2 or any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in sizes):
            raise ValueError(
                f"layer_sizes must list at least two positive integers, n[0] (features) to n[L] "
                f"(outputs), got {list(self.layer_sizes)}"
            )
        if len(names) != len(sizes) - 1:
            raise ValueError(
                f"activations must name one activation per layer ({len(sizes) - 1} for "
                f"layer_sizes {list(sizes)}), got {len(names)}: {list(names)}"
            )
        resolved = tuple(ACTIVATIONS.get(name) for name in names)
        for l, g in enumerate(resolved[:-1], start=1):
            if not g.hidden_ok:
                raise ValueError(f"activation {g.name!r} can only be used on the output layer, not on layer {l}")
        loss = LOSSES.get(self.loss)
        check_pair(names[-1], loss)
        object.__setattr__(self, "layer_sizes", tuple(int(n) for n in sizes))
        object.__setattr__(self, "activations", names)
        object.__setattr__(self, "_g", resolved)
        object.__setattr__(self, "_loss", loss)
        object.__setattr__(self, "batch_norm", bool(self.batch_norm))
        object.__setattr__(self, "layers", layer_types(self.layer_sizes, self.batch_norm))

    @classmethod
    def build(cls, layer_sizes, hidden: str = "relu", loss: str = "binary_cross_entropy", *,
              batch_norm: bool = False) -> Architecture:
        """``hidden`` on every hidden layer, and the output activation that ``loss`` is fused with."""
        output = LOSSES.get(loss).output_activation
        return cls(tuple(layer_sizes), (hidden,) * (len(layer_sizes) - 2) + (output,), loss, batch_norm)

    def layout(self) -> Layout:
        """Per layer, the (name, shape) of its trainable arrays, named as in model files (W1, b1, ...)."""
        return layouts(self.layer_sizes, self.batch_norm)[0]

    def running_layout(self) -> Layout:
        """Per layer, the (name, shape) of its non-trainable arrays (batch norm's running statistics)."""
        return layouts(self.layer_sizes, self.batch_norm)[1]

    @property
    def L(self) -> int:
        """The number of layers with parameters (the input layer is not counted)."""
        return len(self.layer_sizes) - 1

    def g(self, l: int) -> Activation:
        """The activation g[l] of layer l, for l = 1..L."""
        return self._g[l - 1]

    def forward_flops(self, m: int) -> float:
        """Floating-point operations of the forward products on m samples: 2·Σ n[l]·n[l-1]·m."""
        return 2.0 * sum(n * n_prev for n_prev, n in zip(self.layer_sizes[:-1], self.layer_sizes[1:])) * m

    def forward_rows(self, memory_bytes: int, dtype: str) -> int:
        """Samples per forward pass so that its input, every Z[l] and A[l] fit in ``memory_bytes`` of ``dtype``
        (at least one)."""
        sizes = self.layer_sizes
        return max(1, memory_bytes // (np.dtype(dtype).itemsize * (sizes[0] + 2 * sum(sizes[1:]))))

    def step_flops(self, m: int) -> float:
        """Of a training step's products on m samples: 6·Σ n[l]·n[l-1]·m (forward 2, backward 4)."""
        return 3.0 * self.forward_flops(m)

    @property
    def loss_function(self) -> Loss:
        """The resolved loss."""
        return self._loss


def layer_types(layer_sizes, batch_norm: bool = False) -> tuple[Dense, ...]:
    """Layer 1..L of a network of ``layer_sizes``: dense, the hidden ones batch-normalised with ``batch_norm``."""
    hidden = BatchNorm if batch_norm else Dense
    L = len(layer_sizes) - 1
    return tuple((hidden if l < L else Dense)(n_prev, n)
                 for l, (n_prev, n) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:]), start=1))


def layouts(layer_sizes, batch_norm: bool = False) -> tuple[Layout, Layout]:
    """(trainable, running) layouts of a network of ``layer_sizes``: per layer, (name, shape) of its arrays."""
    layers = layer_types(layer_sizes, batch_norm)
    return tuple([[(f"{name}{l}", shape) for name, shape in getattr(layer, shapes)().items()]
                  for l, layer in enumerate(layers, start=1)] for shapes in ("shapes", "running_shapes"))


@dataclass
class Cache:
    """Z[l], A[l], the dropout masks D[l] and what each layer keeps for its backward, of one forward pass,
    indexed by layer.

    A[0] = X; Z[0] is None; D[l] is None where layer l has no dropout.
    """

    Z: list
    A: list
    D: list
    kept: list


def init_parameters(arch: Architecture, backend: Backend, *, init: str = "he", dtype: str = "float32",
                    rng=None) -> Parameters:
    """The network's parameters on ``backend``, in one buffer: ``params[l - 1]`` is ``(W[l], b[l])``.

    Weights come from ``init`` drawn on the host from ``numpy.random.default_rng(rng)``
    (``rng`` is a seed or a Generator), so a seed gives the same start on every backend;
    biases are zero.
    """
    initializer = INITIALIZERS.get(init)
    rng = np.random.default_rng(rng)
    arrays = {}
    for l, layer in enumerate(arch.layers, start=1):
        arrays |= {f"{name}{l}": array for name, array in layer.initial(rng, initializer).items()}
    return Parameters.from_host(backend, arch.layout(), arrays, dtype, arch.running_layout())


def forward(xp, arch: Architecture, params, X, masks=None, training: bool = False) -> Cache:
    """Z[l] = W[l]·A[l-1] + b[l] and A[l] = g[l](Z[l]) for l = 1..L, from A[0] = X of shape (n[0], m).

    ``masks``: None, or [D[1], ..., D[L-1]], each None or an (n[l], m) inverted-dropout mask.
    ``training``: a training step's pass (batch norm then uses, and updates, the batch's statistics).
    """
    W1 = params[0][0]
    check_same_backend(X=X, W1=W1)
    if len(X.shape) != 2 or X.shape[0] != arch.layer_sizes[0]:
        raise ValueError(
            f"X must have shape (n[0], m) = ({arch.layer_sizes[0]}, m), one sample per column, "
            f"got {tuple(X.shape)}"
        )
    if X.dtype != W1.dtype:
        raise TypeError(
            f"X has dtype {X.dtype} but the parameters are {W1.dtype}; convert X with backend.asarray(X, dtype)"
        )
    D = [None, *([None] * (arch.L - 1) if masks is None else masks), None]
    if len(D) != arch.L + 1:
        raise ValueError(f"masks must hold one entry per hidden layer ({arch.L - 1}), got {len(masks)}")
    running = _running(arch, params)
    Z, A, kept = [None], [X], [None]
    for l, layer in enumerate(arch.layers, start=1):
        Z_l, kept_l = layer.forward(xp, params[l - 1], running[l - 1], A[l - 1], training)  # Z[l] from A[l-1]
        Z.append(Z_l)
        kept.append(kept_l)
        A.append(arch.g(l).forward(xp, Z[l]))  # A[l] = g[l](Z[l])
        if D[l] is not None:
            A[l] = A[l] * D[l]  # inverted dropout: A[l] ∗= D[l]
    return Cache(Z, A, D, kept)


def compute_cost(xp, arch: Architecture, cache: Cache, Y, s=None):
    """The loss J(A[L], Y) as a 0-d array on the device; Y has the shape of A[L], (n[L], m); s: sample
    weights ``(1, m)`` or None."""
    _check_targets(arch, cache, Y)
    L = arch.L
    return arch.loss_function.cost(xp, cache.Z[L], cache.A[L], Y, s)


def l2_penalty(xp, params, l2: float, m: int):
    """(λ/2m)·Σ‖W[l]‖², the L2 term of the cost, as a 0-d array; each ‖W[l]‖² is the dot product of W[l]'s
    entries with themselves (no temporary array)."""
    total = 0.0
    for p in params:
        w = xp.reshape(p[0], (-1,))  # p[0] is W[l]
        total = total + w @ w
    return total * (float(l2) / (2 * m))


def backward(xp, arch: Architecture, params, cache: Cache, Y, l2: float = 0.0, s=None, out=None):
    """The gradients of the cost, from the forward ``cache``: ``grads[l - 1]`` is ``(dW[l], db[l])``.

    Starts from the fused dZ[L] = (A[L] - Y) / m and skips dA[0]: the input needs no gradient.
    ``l2`` is the penalty λ; ``s`` the sample weights ``(1, m)`` or None; dropout masks come from the cache.
    ``out``: where to write them (``params.grads()``, for a step that allocates nothing); else new arrays,
    of the kind of ``params``.
    """
    _check_targets(arch, cache, Y)
    L, m = arch.L, Y.shape[1]
    grads = out if out is not None else _zeros_like(xp, params)
    dZ = output_delta(xp, cache.A[L], Y, s)  # dZ[L] = (A[L] - Y) / m, times s when weighted
    for l in range(L, 0, -1):
        # dW[l] = dZ[l]·A[l-1]ᵀ, db[l] = Σ dZ[l], dA[l-1] = W[l]ᵀ·dZ[l]: the layer's own equations
        dA = arch.layers[l - 1].backward(xp, params[l - 1], dZ, cache.A[l - 1], cache.kept[l], grads[l - 1], l > 1)
        if l > 1:  # dZ[l-1] = W[l]ᵀ·dZ[l] ∗ g'[l-1](Z[l-1]); the input layer needs no dA[0]
            g, D, Z = arch.g(l - 1), cache.D[l - 1], cache.Z[l - 1]
            if D is None:
                dZ = g.backward(xp, dA, Z, cache.A[l - 1])  # dZ[l-1] = dA[l-1] ∗ g'[l-1](Z[l-1])
            else:  # A[l-1] holds the masked activation: the mask scales dA too, and g' gets g(Z[l-1]) afresh
                dZ = g.backward(xp, dA * D, Z, g.forward(xp, Z))
    if l2:
        l2_gradient(xp, params, grads, l2, m)
    return grads


def l2_gradient(xp, params, grads, l2: float, m: int) -> None:
    """dW[l] += (λ/m)·W[l] for every layer, in place: the L2 penalty's gradient."""
    for p, g in zip(params, grads, strict=True):
        _add_scaled(xp, g[0], p[0], float(l2) / m)  # a Python float: NumPy scalars are no Array API scalars


@elementwise
def _add_scaled(xp, dW, W, scale):
    """dW += scale·W, in place."""
    dW += scale * W


def update(params, grads, learning_rate: float) -> None:
    """Gradient descent, in place: W[l] -= α·dW[l] and b[l] -= α·db[l] for every layer."""
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not (
        math.isfinite(learning_rate) and learning_rate > 0
    ):
        raise ValueError(f"learning_rate must be a positive finite number, got {learning_rate!r}")
    for p, g in zip(params, grads, strict=True):
        for P, dP in zip(p, g, strict=True):
            P -= learning_rate * dP  # W[l] -= α·dW[l], b[l] -= α·db[l]


def _zeros_like(xp, params):
    """New zero gradients for ``params``: a ``Parameters`` buffer, or per-layer tuples of arrays."""
    if isinstance(params, Parameters):
        return params.like()
    return [tuple(xp.zeros_like(P) for P in p) for p in params]


def _running(arch: Architecture, params) -> list:
    """Each layer's non-trainable arrays; a plain list of tuples has none, so it can hold dense layers only."""
    if isinstance(params, Parameters):
        return params.running
    if any(layer.running_names for layer in arch.layers):
        raise TypeError("a network with batch normalization keeps running statistics: make its parameters "
                        "with init_parameters, not as a list of pairs")
    return [()] * arch.L


def _check_targets(arch: Architecture, cache: Cache, Y) -> None:
    AL = cache.A[arch.L]
    check_same_backend(A_L=AL, Y=Y)
    if tuple(Y.shape) != tuple(AL.shape):
        raise ValueError(f"Y must have the shape of A[L], (n[L], m) = {tuple(AL.shape)}, got {tuple(Y.shape)}")
    if Y.dtype != AL.dtype:
        raise TypeError(f"Y has dtype {Y.dtype} but A[L] is {AL.dtype}; convert Y with backend.asarray(Y, dtype)")
