"""The memory of one real training step on CPU, from torch.profiler: the
independent check of the liveness walk (netstat.training.memory).

Protocol: the model is built on CPU with seeded weights and put in training
mode; one warm-up step makes the optimizer state; `zero_grad(set_to_none=True)`
frees the gradients, as a training loop does before its next step. Then one
step -- forward, the same loss, backward, optimizer step -- runs under
`torch.profiler.profile(profile_memory=True)`. Its peak is what was
allocated before the step (parameters, buffers, the input and the optimizer
state, each storage once) plus the highest running sum of the allocation
events the profiler records (frees are negative).

Attention runs PyTorch's reference (math) kernel, the one the trace counts;
convolutions run the default CPU kernel (oneDNN), whose internal scratch
memory goes through the same allocator and so is part of the measurement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class MeasuredStep:
    """A real step's memory: what existed before it, its peak, and the events."""

    baseline_bytes: int
    peak_bytes: int
    events: int
    seconds: float


def _step(model, args, kwargs, optimizer, loss) -> None:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from netstat.isolation import own_modes

    with own_modes(), sdpa_kernel([SDPBackend.MATH]):
        loss(model(*args, **kwargs)).backward()
    if optimizer is not None:
        optimizer.step()


def measure_step(source, batch: int, optimizer: str = "sgd", loss=None) -> MeasuredStep:
    """One real CPU training step of a `netstat.spec.ModelSource` at `batch`
    (the protocol of the module docstring)."""
    import time

    import torch
    from torch.profiler import ProfilerActivity, profile

    from netstat.training import make_optimizer
    from netstat.training.trace import sum_of_outputs

    loss = loss or sum_of_outputs
    model = source.instantiate("cpu").train()
    factory = make_optimizer(optimizer)
    opt = factory([p for p in model.parameters() if p.requires_grad]) if factory is not None else None
    args, kwargs = source.inputs.with_batch(batch).materialise("cpu")
    _step(model, args, kwargs, opt, loss)
    model.zero_grad(set_to_none=True)
    inputs = [t for t in [*args, *kwargs.values()] if isinstance(t, torch.Tensor)]
    baseline = _bytes([*model.parameters(), *model.buffers(), *inputs, *_state(opt)])
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        _step(model, args, kwargs, opt, loss)
    seconds = time.perf_counter() - start
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"), key=lambda e: e.start_ns())
    running = peak = 0
    for e in events:
        running += e.nbytes()
        peak = max(peak, running)
    return MeasuredStep(baseline, baseline + peak, len(events), seconds)


def _state(optimizer) -> list[Any]:
    """The optimizer's state tensors (not the 0-d step counts, as in the trace)."""
    if optimizer is None:
        return []
    return [v for state in optimizer.state.values() for v in state.values() if hasattr(v, "untyped_storage") and v.dim() > 0]


def _bytes(tensors) -> int:
    """Bytes of the storages behind `tensors`, each storage once."""
    seen: dict[int, int] = {}
    for t in tensors:
        storage = t.untyped_storage()
        seen.setdefault(storage._cdata, storage.nbytes())
    return sum(seen.values())
