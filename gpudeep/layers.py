"""Layer types: how layer l makes Z[l] from A[l-1], and the gradients of that step.

A layer holds its own equations, forward and backward together; ``network`` applies g[l] and dropout
around it. Every layer declares its trainable arrays (``names``, the per-layer tuple ``p``) and its
non-trainable ones (``running_names``, the tuple ``r``), with their shapes; ``gpudeep.parameters`` keeps
them all in one buffer.

    Dense        Z[l] = W[l]·A[l-1] + b[l]
    BatchNorm    U = W[l]·A[l-1],  Ẑ = (U - μ) / √(σ² + ε),  Z[l] = γ[l]∗Ẑ + β[l]
                 (μ, σ² over the batch's samples when training; the running statistics when predicting)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backends.fusion import elementwise, product_into, row_sums_into


@dataclass(frozen=True)
class Dense:
    """A fully connected layer of ``n`` units on ``n_prev`` inputs: W[l] ``(n, n_prev)``, b[l] ``(n, 1)``."""

    n_prev: int
    n: int

    kind = "dense"
    names = ("W", "b")
    running_names = ()

    def shapes(self) -> dict[str, tuple[int, int]]:
        return {"W": (self.n, self.n_prev), "b": (self.n, 1)}

    def running_shapes(self) -> dict[str, tuple[int, int]]:
        return {}

    def initial(self, rng: np.random.Generator, initializer) -> dict[str, np.ndarray]:
        """Host arrays to start from: W[l] drawn by ``initializer``, b[l] zero."""
        return {"W": initializer(rng, self.n, self.n_prev), "b": np.zeros((self.n, 1))}

    def forward(self, xp, p, r, A_prev, training: bool):
        """(Z[l], what backward needs) from A[l-1] ``(n_prev, m)``."""
        W, b = p
        Z = W @ A_prev  # Z[l] = W[l]·A[l-1] + b[l], the bias added in place
        Z += b
        return Z, None

    def backward(self, xp, p, dZ, A_prev, kept, grads, needs_dA: bool):
        """Write dW[l], db[l] into ``grads``; return dA[l-1] = W[l]ᵀ·dZ[l] (None unless ``needs_dA``)."""
        W, _ = p
        dW, db = grads
        product_into(xp, dZ, A_prev.T, dW)  # dW[l] = dZ[l]·A[l-1]ᵀ
        row_sums_into(xp, dZ, db)  # db[l] = Σ dZ[l] over samples
        return W.T @ dZ if needs_dA else None  # dA[l-1] = W[l]ᵀ·dZ[l]


@dataclass(frozen=True)
class BatchNorm(Dense):
    """A dense layer whose pre-activations are normalised over the batch (Ioffe and Szegedy, 2015):
    W[l] ``(n, n_prev)``, scale γ[l] and shift β[l] ``(n, 1)`` (β takes the bias's place), and the running
    mean and variance ``(n, 1)`` that predictions use, updated by every training batch with ``momentum``."""

    momentum: float = 0.1
    epsilon: float = 1e-5

    kind = "batch_norm"
    names = ("W", "gamma", "beta")
    running_names = ("running_mean", "running_var")

    def shapes(self) -> dict[str, tuple[int, int]]:
        return {"W": (self.n, self.n_prev), "gamma": (self.n, 1), "beta": (self.n, 1)}

    def running_shapes(self) -> dict[str, tuple[int, int]]:
        return {"running_mean": (self.n, 1), "running_var": (self.n, 1)}

    def initial(self, rng: np.random.Generator, initializer) -> dict[str, np.ndarray]:
        return {"W": initializer(rng, self.n, self.n_prev), "gamma": np.ones((self.n, 1)),
                "beta": np.zeros((self.n, 1)), "running_mean": np.zeros((self.n, 1)),
                "running_var": np.ones((self.n, 1))}

    def forward(self, xp, p, r, A_prev, training: bool):
        W, gamma, beta = p
        running_mean, running_var = r
        U = W @ A_prev  # U = W[l]·A[l-1]
        m = U.shape[1]
        if training:
            mean = xp.mean(U, axis=1, keepdims=True)  # μ over the batch
            variance = xp.mean((U - mean) ** 2, axis=1, keepdims=True)  # σ², biased as in the normalisation
            unbiased = variance * (m / (m - 1)) if m > 1 else variance
            _blend(xp, running_mean, mean, 1.0 - self.momentum, self.momentum)
            _blend(xp, running_var, unbiased, 1.0 - self.momentum, self.momentum)
        else:
            mean, variance = running_mean, running_var
        inverse_std = 1.0 / xp.sqrt(variance + self.epsilon)
        Z_hat = _standardized(xp, U, mean, inverse_std)  # Ẑ = (U - μ) / √(σ² + ε)
        return gamma * Z_hat + beta, (Z_hat, inverse_std)  # Z[l] = γ[l]∗Ẑ + β[l]

    def backward(self, xp, p, dZ, A_prev, kept, grads, needs_dA: bool):
        W, gamma, _ = p
        dW, dgamma, dbeta = grads
        Z_hat, inverse_std = kept
        dgamma[...] = xp.sum(dZ * Z_hat, axis=1, keepdims=True)  # dγ[l] = Σ dZ[l]∗Ẑ
        dbeta[...] = xp.sum(dZ, axis=1, keepdims=True)  # dβ[l] = Σ dZ[l]
        dZ_hat = gamma * dZ  # dẐ = γ[l]∗dZ[l]
        # dU = (dẐ - mean(dẐ) - Ẑ∗mean(dẐ∗Ẑ)) / √(σ² + ε): μ and σ² depend on every sample of the batch
        dU = _through_batch_statistics(xp, dZ_hat, Z_hat, xp.mean(dZ_hat, axis=1, keepdims=True),
                                       xp.mean(dZ_hat * Z_hat, axis=1, keepdims=True), inverse_std)
        product_into(xp, dU, A_prev.T, dW)  # dW[l] = dU·A[l-1]ᵀ
        return W.T @ dU if needs_dA else None  # dA[l-1] = W[l]ᵀ·dU


@elementwise
def _blend(xp, running, batch, one_minus_momentum, momentum):
    """running ← (1 - momentum)·running + momentum·batch, in place (1 - momentum computed on the host: in a
    fused kernel, arithmetic on two Python numbers is typed float16)."""
    running *= one_minus_momentum
    running += momentum * batch


@elementwise
def _standardized(xp, U, mean, inverse_std):
    """(U - μ) / √(σ² + ε)."""
    return (U - mean) * inverse_std


@elementwise
def _through_batch_statistics(xp, dZ_hat, Z_hat, mean_dZ_hat, mean_dZ_hat_Z_hat, inverse_std):
    """(dẐ - mean(dẐ) - Ẑ∗mean(dẐ∗Ẑ)) / √(σ² + ε)."""
    return (dZ_hat - mean_dZ_hat - Z_hat * mean_dZ_hat_Z_hat) * inverse_std


LAYERS = {layer.kind: layer for layer in (Dense, BatchNorm)}
