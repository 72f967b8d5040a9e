"""One training step, used by the loop, the data-parallel step, the tutorial and the gradient check:
forward, cost, backward (``gradients``), then the L2 term and the optimizer's update (``Step``)."""

from __future__ import annotations

import numpy as np

from ..network import Architecture, backward, compute_cost, forward, l2_gradient, l2_penalty
from ..optim import Optimizer
from ..parameters import Parameters


def gradients(xp, arch: Architecture, params, X, Y, *, masks=None, s=None):
    """(cost, A[L], grads) of a batch X ``(n[0], m)``, Y ``(n[L], m)``, without the L2 term: forward in
    training mode, cost, backward. s: sample weights ``(1, m)`` or None. The gradients of ``Parameters``
    are written into their kept buffer (``params.grads()``), so a step allocates none."""
    cache = forward(xp, arch, params, X, masks, training=True)
    cost = compute_cost(xp, arch, cache, Y, s)
    out = params.grads() if isinstance(params, Parameters) else None
    return cost, cache.A[arch.L], backward(xp, arch, params, cache, Y, s=s, out=out)


class Step:
    """How the loop trains on a batch: ``gradients``, combined over the processes that share the batch
    (here one), the L2 term, then the optimizer's update.

    A step that shares each batch with other processes (``gpudeep.distributed.DataParallelStep``) overrides
    ``shard``, ``combine`` and ``total``.
    """

    def shard(self, batch):
        """The part of a batch (a 1-d array of row indices) this process trains on; called just before each step."""
        return batch

    def __call__(self, xp, arch: Architecture, params, optimizer: Optimizer, X, Y, *, l2: float = 0.0,
                 masks=None, s=None):
        """One step on X ``(n[0], m)``, Y ``(n[L], m)``, sample weights s ``(1, m)`` or None: returns (the
        batch's cost with its L2 term as a 0-d device array, A[L] before the update). The gradients are the
        optimizer's to use up (see ``Optimizer.step``)."""
        cost, A_L, grads = self.gradients(xp, arch, params, X, Y, masks=masks, s=s)
        grads, m, penalty_weight = self.combine(xp, params, grads, Y.shape[1])
        if l2:
            l2_gradient(xp, params, grads, l2, m)  # dW[l] += (λ/m)·W[l]
            cost = cost + l2_penalty(xp, params, l2, m) * penalty_weight  # J += (λ/2m)·Σ‖W[l]‖²
        optimizer.step(xp, params, grads)
        return cost, A_L

    def gradients(self, xp, arch, params, X, Y, *, masks, s):
        return gradients(xp, arch, params, X, Y, masks=masks, s=s)

    def combine(self, xp, params, grads, m: int):
        """(the gradients of the whole batch, its number of rows, the share of the L2 cost this process's cost
        carries); in one process, the batch is this process's."""
        return grads, m, 1.0

    def total(self, values: np.ndarray) -> np.ndarray:
        """This process's per-step metrics (host, each weighted by its rows' share of the epoch), summed over
        the processes that share the batches."""
        return values


def train_step(xp, arch: Architecture, params, optimizer: Optimizer, X, Y, *, l2: float = 0.0, masks=None,
               s=None):
    """``Step()`` on a batch: forward, cost, backward, L2, update; returns (cost, A[L])."""
    return Step()(xp, arch, params, optimizer, X, Y, l2=l2, masks=masks, s=s)
