"""The memory of one training step: a liveness walk over its recorded ops.

Assumptions (said with every result, `ALLOCATOR_NOTE`):

- Before the step: parameters, buffers, the inputs and the optimizer state
  (a steady-state step: the state was made by an earlier one; the previous
  gradients were freed by `zero_grad(set_to_none=True)`).
- Every other allocation is made by the op that first returns its storage
  and freed after the last op that reads it -- in the forward, or in the
  backward for a tensor autograd saved (autograd releases a node's saved
  tensors once it has run). Views and in-place results allocate nothing.
- Parameter gradients and the loss live to the end of the step.
- Sizes are rounded up to the CUDA caching allocator's 512-byte blocks
  (`BLOCK`); no fragmentation, no cached-but-free blocks; kernel workspaces
  (cuDNN, cuBLAS, oneDNN scratchpads) and temporaries a kernel allocates
  internally are not included.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from netstat.training.trace import StepTrace

BLOCK = 512  # bytes: the CUDA caching allocator's rounding (kMinBlockSize)

ALLOCATOR_NOTE = (
    "Peak memory is a liveness walk over the step's ops: parameters, buffers, inputs and optimizer state "
    "exist before the step, every other tensor lives from the op that makes it to the last op that reads it "
    "(a saved activation until autograd releases it in backward), gradients until the end of the step; sizes "
    "rounded up to 512-byte blocks as the CUDA caching allocator does, no fragmentation. cuDNN / cuBLAS "
    "workspaces, kernel-internal temporaries and the CUDA context (several hundred MiB) are not included."
)


def rounded(nbytes: int, block: int = BLOCK) -> int:
    """`nbytes` rounded up to a multiple of `block` (an empty tensor takes none)."""
    return -(-nbytes // block) * block if block > 1 else nbytes


@dataclass
class MemoryWalk:
    """Bytes live after each op of the step (its outputs made, nothing freed yet)."""

    timeline: list[int]
    persistent_bytes: int
    peak_bytes: int
    peak_index: int  # the op at the peak (-1: before the first op)


def lifetimes(step: StepTrace) -> tuple[dict[int, int], dict[int, int]]:
    """(first op, last op) of every allocation the step makes: born where its
    storage first appears as an output, freed after its last read or, for a
    saved tensor, after the backward node that unpacked it."""
    born: dict[int, int] = {}
    last: dict[int, int] = {}
    end = len(step.ops)
    for op in step.ops:
        for ref in op.inputs:
            if ref.storage in born:
                last[ref.storage] = op.index
        for ref in op.outputs:
            if ref.storage not in step.persistent and ref.storage not in born:
                born[ref.storage] = last[ref.storage] = op.index
    for storage, entry in step.saved.items():
        if storage in born and entry.unpacked >= 0:
            last[storage] = max(last[storage], min(entry.unpacked, end - 1))
    for storage in step.to_end:
        if storage in born:
            last[storage] = end
    return born, last


def walk(step: StepTrace, block: int = BLOCK) -> MemoryWalk:
    """The liveness walk of the module docstring, sizes rounded to `block`
    bytes (1: exact sizes, as a CPU allocator's request)."""
    size = {s: rounded(n, block) for s, n in step.storage_bytes.items()}
    persistent = sum(size.get(s, 0) for s in step.persistent)
    born, last = lifetimes(step)
    births: dict[int, list[int]] = defaultdict(list)
    deaths: dict[int, list[int]] = defaultdict(list)
    for storage, first in born.items():
        births[first].append(storage)
        deaths[last[storage]].append(storage)
    live, peak, peak_index = persistent, persistent, -1
    timeline = []
    for i in range(len(step.ops)):
        live += sum(size.get(s, 0) for s in births.get(i, ()))
        timeline.append(live)
        if live > peak:
            peak, peak_index = live, i
        live -= sum(size.get(s, 0) for s in deaths.get(i, ()))
    return MemoryWalk(timeline, persistent, peak, peak_index)
