"""A training state as named host arrays and JSON metadata, and back.

The parameters are named as ``gpudeep.parameters`` names them (``W1, b1, ..., WL, bL``); an optimizer's
state (Adam's moments, a velocity) is named by its slot and the parameter, e.g. ``first_moment.W1``. A
checkpoint holds the parameters, the optimizer's state, the epoch, the step, the host generator's state and
the history, so that training resumed from it continues exactly as if it had not stopped.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..backends import Backend
from ..parameters import Layout, Parameters, shapes
from .state import History, TrainingState, rng_from_state, rng_state


def training_state(backend: Backend, state: TrainingState) -> tuple[dict, dict[str, np.ndarray]]:
    """(metadata, host arrays) of what resuming needs beyond the parameters: the optimizer's state and
    counters, the epoch, the step, the host generator's state and the history."""
    optimizer = state.optimizer
    metadata = {
        "epoch": state.epoch,
        "step": state.step,
        "samples": state.samples,
        "optimizer": {"name": optimizer.name, "t": optimizer.t, "learning_rate": optimizer.learning_rate,
                      "slots": list(optimizer.state)},
        "rng": rng_state(state.rng),
        "history": state.history.as_dict(),
    }
    arrays = {}
    for slot, (buffer,) in optimizer.state.items():
        arrays |= state.params.host_split(backend, buffer, f"{slot}.")
    return metadata, arrays


def training_state_shapes(metadata: dict, layout: Layout, dtype: str, fail: Callable[[str], None]) -> dict[str, tuple]:
    """Check a checkpoint's training-state ``metadata`` field by field; {name: (shape, dtype)} of the
    optimizer state it declares."""
    def whole(value, low=0) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= low

    optimizer = metadata.get("optimizer")
    if not (whole(metadata.get("epoch")) and whole(metadata.get("step")) and whole(metadata.get("samples", 0))
            and isinstance(optimizer, dict)):
        fail("checkpoint epoch, step and samples must be counts and optimizer an object")
    if not (isinstance(optimizer.get("name"), str) and whole(optimizer.get("t"))):
        fail("checkpoint optimizer must have a name and a step count t")
    rate = optimizer.get("learning_rate")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
        fail(f"checkpoint learning_rate must be a positive number, got {rate!r}")
    try:
        rng_from_state(metadata.get("rng"))
    except (TypeError, ValueError, KeyError) as error:
        fail(f"checkpoint rng is not a generator state ({type(error).__name__}: {error})")
    try:
        History.from_dict(metadata.get("history"))
    except ValueError as error:
        fail(f"checkpoint {error}")
    slots = optimizer.get("slots", [])
    if not isinstance(slots, list) or not all(isinstance(s, str) and s.isidentifier() for s in slots):
        fail(f"checkpoint optimizer slots must be names, got {slots!r}")
    return {f"{slot}.{name}": shape for slot in slots for name, shape in shapes(layout, dtype).items()}


def restore(backend: Backend, state: TrainingState, metadata: dict, arrays: dict[str, np.ndarray], dtype: str,
            fail: Callable[[str], None]) -> None:
    """Put a checkpoint's parameters and training state into ``state`` (of the same architecture), in place;
    everything is checked before anything in ``state`` changes."""
    optimizer = state.optimizer
    if metadata["optimizer"]["name"] != optimizer.name:
        fail(f"checkpoint of optimizer {metadata['optimizer']['name']!r}, not {optimizer.name!r}")
    saved_slots = set(metadata["optimizer"]["slots"])
    if saved_slots and saved_slots != set(optimizer.slots):  # none saved: the optimizer had not stepped yet
        fail(f"checkpoint optimizer state {sorted(metadata['optimizer']['slots'])} does not match "
             f"{optimizer.name}'s {sorted(optimizer.slots)}")
    arch = state.arch
    state.params.put_back(Parameters.from_host(backend, arch.layout(), arrays, dtype, arch.running_layout()))
    optimizer.t = metadata["optimizer"]["t"]
    optimizer.learning_rate = metadata["optimizer"]["learning_rate"]
    optimizer.state = {slot: [Parameters.from_host(backend, arch.layout(), {
        name: arrays[f"{slot}.{name}"] for name in state.params.named}, dtype).flat]
        for slot in optimizer.slots if slot in saved_slots}
    state.epoch, state.step, state.samples = metadata["epoch"], metadata["step"], metadata.get("samples", 0)
    state.rng = rng_from_state(metadata["rng"])
    state.history = History.from_dict(metadata["history"])
