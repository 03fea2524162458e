"""The one liveness walk: bytes held after each op of a trace, and the peak.

Inference (`Profile.totals["peak_activation_bytes"]`), a training step
(`TrainingProfile.peak_bytes`) and `fit` all read this walk over the one
`netstat.trace.Trace` type:

- Live before the first op: the inputs and the trace's `resident` storages
  (a training step's parameters, buffers, inputs and optimizer state, which
  the step does not free).
- Every other allocation is made by the op that first returns its storage
  and freed after the last op that reads it; an allocation that nobody
  reads is freed by the op that made it. A tensor autograd saved lives until
  the backward node that unpacks it has run. Views and in-place results
  allocate nothing.
- The model's outputs and the trace's `to_end` storages (gradients, the
  loss) live to the end.
- A kernel's workspace (`transients`: netstat.workspace, a training step's
  oneDNN convolution backward) is held during its op only; a `span`
  (first op, last op, bytes: an LSTM's oneDNN workspace) from its first op
  through its last.

Which allocations count, and their sizes, are the caller's `sizes`: the
inference profile leaves out auxiliary outputs nobody reads (a kernel
detail, netstat.metrics.materialised) and counts requested bytes; a training
step counts every storage, rounded to the CUDA caching allocator's blocks.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from netstat.trace import Trace

BLOCK = 512  # bytes: the CUDA caching allocator's rounding (kMinBlockSize)


def rounded(nbytes: int, block: int = BLOCK) -> int:
    """`nbytes` rounded up to a multiple of `block` (an empty tensor takes none)."""
    return -(-nbytes // block) * block if block > 1 else nbytes


@dataclass
class MemoryWalk:
    """Bytes live at each op's high point (its outputs made and its
    workspace held, nothing freed yet)."""

    timeline: list[int]
    persistent_bytes: int  # live before the first op
    peak_bytes: int
    peak_index: int  # the op at the peak (-1: before the first op)


def lifetimes(trace: Trace, sizes: dict[int, int]) -> tuple[dict[int, int], dict[int, int]]:
    """(first op, last op) of every counted allocation (a storage in
    `sizes`): -1 as the first op for what is live before the trace, the
    number of ops as the last for what lives to its end."""
    end = len(trace.ops)
    born: dict[int, int] = {s: -1 for s in trace.resident if s in sizes}
    born.update({r.storage: -1 for r in trace.inputs if r.storage in sizes})
    last: dict[int, int] = {s: -1 for s in born}
    for op in trace.ops:
        for ref in op.inputs:
            if ref.storage in born:
                last[ref.storage] = op.index
        for ref in op.outputs:
            if ref.storage in sizes and ref.storage not in born:
                born[ref.storage] = last[ref.storage] = op.index
    for storage, entry in trace.saved.items():
        if storage in born and entry.unpacked >= 0:
            last[storage] = max(last[storage], min(entry.unpacked, end - 1))
    for storage in trace.resident | trace.to_end | {r.storage for r in trace.outputs}:
        if storage in born:
            last[storage] = end
    return born, last


def walk(trace: Trace, sizes: dict[int, int], block: int = 1, transients: dict[int, int] | None = None,
         spans: list[tuple[int, int, int]] | None = None) -> MemoryWalk:
    """The liveness walk of the module docstring over the allocations in
    `sizes`, each rounded up to `block` bytes (1: exact sizes). `transients`
    (op index -> bytes, netstat.workspace) are held only during their op:
    they count in its timeline entry and the peak, and are gone after it.
    `spans` ((first op, last op, bytes)) are held from the first op's high
    point through the last's."""
    transients = transients or {}
    size = {s: rounded(n, block) for s, n in sizes.items()}
    born, last = lifetimes(trace, sizes)
    grow: dict[int, int] = defaultdict(int)
    shrink: dict[int, int] = defaultdict(int)
    for storage, first in born.items():
        grow[first] += size[storage]
        shrink[last[storage]] += size[storage]
    for first, final, nbytes in spans or ():
        grow[first] += rounded(nbytes, block)
        shrink[final] += rounded(nbytes, block)
    live = persistent = grow.get(-1, 0)
    peak, peak_index = live, -1
    timeline = []
    for i in range(len(trace.ops)):
        live += grow.get(i, 0)
        high = live + rounded(transients.get(i, 0), block)
        timeline.append(high)
        if high > peak:
            peak, peak_index = high, i
        live -= shrink.get(i, 0)
    return MemoryWalk(timeline, persistent, peak, peak_index)
