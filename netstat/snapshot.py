"""The predicted training step as a PyTorch memory snapshot: the pickle that
`torch.cuda.memory._snapshot()` returns and `torch.cuda.memory._dump_snapshot`
writes, so that PyTorch's own viewers open it (pytorch.org/memory_viz, and
`python -m torch.cuda._memory_viz trace_plot|segment_plot|stats|trace`)
beside a real snapshot of the same step.

What is in it (the keys `torch/cuda/_memory_viz.py` and
`torch/utils/viz/MemoryViz.js` read):

- `device_traces[0]`: the allocator's trace of the step (netstat.cuda_memory's
  replay at its steady state): `segment_alloc`, `alloc`, `free_requested`,
  `free_completed`, each with `addr`, `size` (the request's bytes, as PyTorch
  records it), `stream` 0, `time_us` (the event's position) and `frames`:
  the op that made the tensor (file: its layer, line: the op's index in the
  step, name: the aten op) and the step's phase. A real snapshot has Python
  and C++ frames there instead.
- `segments`: every segment at the end of the step, with its blocks
  (`active_allocated` with their requested size and frames, or `inactive`).
  Parameters, buffers, inputs and optimizer state are blocks allocated
  before the trace (as in a real snapshot recorded from the start of one
  step): the viewer counts them from the first event, named by frames
  "before the step: <parameter name>".

The viewer's Active Memory Timeline sums the requested sizes, so its curve
is netstat's unrounded liveness walk of the step; its Active Cached Memory
Timeline (segments) is the predicted reserved memory.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from netstat.cuda_memory import CachingAllocator, CudaMemory

SNAPSHOT_SUFFIXES = (".pickle", ".pkl")


def segment_dicts(alloc: CachingAllocator) -> list[dict[str, Any]]:
    """The allocator's segments as `torch.cuda.memory_snapshot()` lists them."""
    out = []
    for segment in alloc.segments:
        pieces = segment.blocks()
        blocks = [{"address": b.addr, "size": b.size, "requested_size": b.requested if b.allocated else 0,
                   "state": "active_allocated" if b.allocated else "inactive", "frames": b.frames} for b in pieces]
        active = sum(b.size for b in pieces if b.allocated)
        out.append({
            "device": 0, "address": segment.addr, "total_size": segment.size, "allocated_size": active, "active_size": active,
            "requested_size": sum(b.requested for b in pieces if b.allocated), "stream": 0, "segment_type": "small" if segment.small else "large",
            "segment_pool_id": (0, 0), "is_expandable": False, "frames": segment.frames, "blocks": blocks,
        })
    return out


def snapshot(cuda: CudaMemory) -> dict[str, Any]:
    """The snapshot dictionary of a replayed step (`netstat.cuda_memory.replay`)."""
    alloc = cuda.allocator
    if alloc is None:
        raise ValueError("this CudaMemory carries no allocator state to export")
    return {
        "segments": segment_dicts(alloc),
        "device_traces": [list(alloc.events)],
        "allocator_settings": {"PYTORCH_CUDA_ALLOC_CONF": "", "max_split_size": -1, "expandable_segments": False, "netstat_prediction": True},
    }


def write_snapshot(cuda: CudaMemory, path: str | Path) -> Path:
    """Pickle the snapshot to `path` atomically; the path written."""
    from netstat.atomic import atomic_write

    data = snapshot(cuda)
    atomic_write(path, lambda handle: pickle.dump(data, handle), binary=True)
    return Path(path)


def check_snapshot_path(path: str | Path) -> None:
    """A UsageError unless `path` names a .pickle (or .pkl) file in a directory that exists or can be made."""
    from netstat.errors import UsageError

    p = Path(path)
    if p.suffix.lower() not in SNAPSHOT_SUFFIXES:
        raise UsageError(f"A memory snapshot is a pickle: give a path ending in .pickle, not '{p.name}'.")
    if p.is_dir():
        raise UsageError(f"'{p}' is a directory: give a file path ending in .pickle for the snapshot.")
    parent = next((q for q in [p.parent, *p.parent.parents] if q.exists()), None)
    if parent is not None and not parent.is_dir():
        raise UsageError(f"Cannot write the snapshot under '{parent}': it is a file, not a directory.")
