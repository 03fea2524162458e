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
  (`BLOCK`); no fragmentation, no cached-but-free blocks.
- oneDNN's convolution backward holds blocked copies of its incoming
  gradient, input and weight during the op (netstat.workspace, a rule from
  shapes); an LSTM's oneDNN workspace is held from the layer's forward to
  its backward, on top of the reference cell's saved tensors (an upper
  bound, said in a note: `netstat.workspace.RNN_NOTE`); cuDNN / cuBLAS
  workspaces are not included.
"""

from __future__ import annotations

from netstat.memory import BLOCK, MemoryWalk, rounded  # noqa: F401 - re-exported
from netstat.memory import walk as _walk
from netstat.trace import Trace
from netstat.workspace import recurrent_scratch, recurrent_spans, workspaces

ALLOCATOR_NOTE = (
    "Peak memory is a liveness walk over the step's ops: parameters, buffers, inputs and optimizer state "
    "exist before the step, every other tensor lives from the op that makes it to the last op that reads it "
    "(a saved activation until autograd releases it in backward), gradients until the end of the step; sizes "
    "rounded up to 512-byte blocks as the CUDA caching allocator does, no fragmentation; the blocked copies oneDNN's "
    "convolution backward holds during the op are added (a rule from shapes), and an LSTM's oneDNN workspace from its "
    "forward to its backward (an upper bound). cuDNN / cuBLAS workspaces, other "
    "kernel-internal temporaries and the CUDA context (several hundred MiB) are not included."
)


def walk(step: Trace, block: int = BLOCK, workspace: bool = True) -> MemoryWalk:
    """The step's liveness walk (netstat.memory.walk) over every storage it
    made, sizes rounded to `block` bytes (1: exact sizes, as a CPU allocator's
    request), with the kernels' workspaces (netstat.workspace; `workspace=False`: without)."""
    if not workspace:
        return _walk(step, step.storage_bytes, block)
    transients = workspaces(step)
    for op, need in recurrent_scratch(step).items():
        transients[op] = transients.get(op, 0) + need
    return _walk(step, step.storage_bytes, block, transients, recurrent_spans(step))
