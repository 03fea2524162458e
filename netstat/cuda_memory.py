"""A model of PyTorch's CUDA caching allocator, replayed over a predicted
training step: the peak *allocated* bytes (`torch.cuda.max_memory_allocated`)
and the peak *reserved* bytes (`torch.cuda.max_memory_reserved`: what
nvidia-smi shows for the process, less the CUDA context).

The rules are those of c10/cuda/CUDACachingAllocator.cpp (PyTorch 2.x, the
same constants in the source of the 2.14 line), with its default settings
(PYTORCH_CUDA_ALLOC_CONF unset: no expandable segments, max_split_size
unlimited, no garbage-collection threshold, one stream):

- every request is rounded up to a multiple of 512 bytes (`kMinBlockSize`;
  `round_size`); a request of 0 bytes allocates nothing;
- requests of at most 1 MiB (`kSmallSize`) go to the small pool, larger ones
  to the large pool (`get_pool`);
- a request that no cached free block can serve makes a new segment
  (cudaMalloc, `get_allocation_size`): 2 MiB (`kSmallBuffer`) for the small
  pool, 20 MiB (`kLargeBuffer`) for a request under 10 MiB
  (`kMinLargeAlloc`), else the request rounded up to 2 MiB (`kRoundLarge`);
- a free block is found best-fit: the smallest cached block of the pool that
  is large enough, the lowest address among equals (`get_free_block`, the
  pool ordered by stream, size, address);
- the block is split when the rest is worth keeping (`should_split`): in the
  small pool when at least 512 bytes remain, in the large pool when more
  than 1 MiB remains. An unsplit rest stays part of the allocation and counts
  in `allocated_bytes` (the stat adds the block's size, not the request's);
- a freed block merges with free neighbours of its segment
  (`try_merge_blocks`) and goes back to its pool; segments are never
  released during the step (`empty_cache` is not called, and the step is
  assumed to fit, so the out-of-memory path that frees cached segments --
  "oversize" blocks first, which only exist with max_split_size set -- is
  never taken).

The replay (`replay`) follows the liveness walk of `netstat.memory` (which
storage is made by which op and freed after which): the resident storages
(parameters, buffers, inputs, optimizer state) are allocated first, in the
order of their storage ids, then the step runs until a run of it makes no new
segment (the steady state of a training loop: later steps reuse what the
first reserved; the gradients and the loss of one step are freed before the
next, as by `zero_grad(set_to_none=True)`). The last run is the one reported
and exported (`netstat.snapshot`).

What the model does not see, said with every result (`CONTEXT_NOTE`): the
CUDA context (outside the allocator; a typical value is stated, not
measured), kernel workspaces that cuDNN and cuBLAS take through the allocator
(a typical allowance is stated), and allocations a kernel makes internally.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

# c10/cuda/CUDACachingAllocator.cpp
MIN_BLOCK = 512  # kMinBlockSize: all sizes are rounded to at least 512 bytes
SMALL_SIZE = 1 << 20  # kSmallSize: the largest "small" allocation, 1 MiB
SMALL_BUFFER = 2 << 20  # kSmallBuffer: small allocations are packed in 2 MiB segments
LARGE_BUFFER = 20 << 20  # kLargeBuffer: allocations between 1 and 10 MiB may use a 20 MiB segment
MIN_LARGE_ALLOC = 10 << 20  # kMinLargeAlloc
ROUND_LARGE = 2 << 20  # kRoundLarge: larger segments are rounded up to 2 MiB
SEGMENT_ALIGN = 2 << 20  # where the replay places segments: cudaMalloc's addresses are 2 MiB aligned for these sizes
BASE_ADDRESS = 0x7F0000000000  # the first segment's address in a replay (any value: addresses are labels)
MAX_RUNS = 4  # replays of the step until one reserves nothing new

# Typical values, stated and marked as such: nothing here measures a GPU.
CONTEXT_TYPICAL = 500 << 20  # the CUDA context + PyTorch's kernels: several hundred MiB (GPU, driver and CUDA version dependent)
WORKSPACE_TYPICAL = 32 << 20  # cuBLAS workspace on sm_90+ (PyTorch's default CUBLAS_WORKSPACE_CONFIG :4096:8); cuDNN's per algorithm
CONTEXT_NOTE = (
    "CUDA lines: a model of PyTorch's caching allocator (512-byte rounding; 2 MiB small segments; 20 MiB segments for "
    "1-10 MiB requests, else rounded to 2 MiB; best-fit reuse and splitting; nothing released during the step) replayed "
    "over the predicted step at its steady state; the CPU step's oneDNN workspaces do not apply on CUDA. The CUDA "
    "context ({context}) and a cuDNN / cuBLAS workspace allowance ({workspace}) are typical values, not measured: a GPU run "
    "measures them (reports/gpu_check.py)."
)


def context_note(context_bytes: int = CONTEXT_TYPICAL, workspace_bytes: int = WORKSPACE_TYPICAL, measured: bool = False) -> str:
    """`CONTEXT_NOTE` with the context and workspace lines filled in."""
    kind = "measured" if measured else "typical"
    return CONTEXT_NOTE.format(context=f"{context_bytes / 2**20:,.0f} MiB {kind}", workspace=f"{workspace_bytes / 2**20:,.0f} MiB {kind}")


def round_size(nbytes: int) -> int:
    """A request's block size: at least 512 bytes, a multiple of 512 (`round_size`)."""
    return max(-(-nbytes // MIN_BLOCK) * MIN_BLOCK, MIN_BLOCK)


def is_small(size: int) -> bool:
    """The small pool serves rounded requests of at most 1 MiB (`get_pool`)."""
    return size <= SMALL_SIZE


def segment_size(size: int) -> int:
    """The cudaMalloc a rounded request makes when nothing cached fits (`get_allocation_size`)."""
    if size <= SMALL_SIZE:
        return SMALL_BUFFER
    if size < MIN_LARGE_ALLOC:
        return LARGE_BUFFER
    return -(-size // ROUND_LARGE) * ROUND_LARGE


def should_split(block_size: int, size: int, small: bool) -> bool:
    """Whether the rest of a block after `size` bytes becomes a free block of its own (`should_split`)."""
    remaining = block_size - size
    return remaining >= MIN_BLOCK if small else remaining > SMALL_SIZE


@dataclass(eq=False)
class Block:
    """A piece of a segment: allocated or cached free."""

    addr: int
    size: int
    segment: "Segment"
    allocated: bool = False
    requested: int = 0  # the caller's bytes (0 while free)
    frames: list[dict[str, Any]] = field(default_factory=list)
    prev: "Block | None" = None
    next: "Block | None" = None


@dataclass(eq=False)
class Segment:
    """One cudaMalloc: its address, size, pool and first block."""

    addr: int
    size: int
    small: bool
    frames: list[dict[str, Any]]
    first: Block | None = None

    def blocks(self) -> list[Block]:
        out, block = [], self.first
        while block is not None:
            out.append(block)
            block = block.next
        return out


class CachingAllocator:
    """The rules of the module docstring for one device and one stream.
    `malloc` returns a block's address, `free` takes it back; `allocated`,
    `reserved` and `requested` are the current bytes (and `peak_*` their
    peaks) as `torch.cuda.memory_stats` counts them; `events` is the trace
    the allocator would record (`torch.cuda.memory._record_memory_history`)."""

    def __init__(self) -> None:
        self.free_blocks: dict[bool, list[tuple[int, int, Block]]] = {True: [], False: []}  # small? -> (size, addr, block), sorted
        self.active: dict[int, Block] = {}
        self.segments: list[Segment] = []
        self.next_addr = BASE_ADDRESS
        self.allocated = self.reserved = self.requested = 0
        self.peak_allocated = self.peak_reserved = self.peak_requested = 0
        self.events: list[dict[str, Any]] = []
        self.recording = True

    def reset_peaks(self) -> None:
        """As `torch.cuda.reset_peak_memory_stats`: every peak to its current value."""
        self.peak_allocated, self.peak_reserved, self.peak_requested = self.allocated, self.reserved, self.requested

    def malloc(self, nbytes: int, frames: list[dict[str, Any]] | None = None) -> int:
        """Serve a request of `nbytes` (> 0): the address of its block."""
        frames = frames or []
        size = round_size(nbytes)
        small = is_small(size)
        block = self._take_free(size, small) or self._new_segment(size, small, frames)
        if should_split(block.size, size, small):
            rest = Block(block.addr + size, block.size - size, block.segment, prev=block, next=block.next)
            if block.next is not None:
                block.next.prev = rest
            block.next, block.size = rest, size
            self._insert_free(rest)
        block.allocated, block.requested, block.frames = True, nbytes, frames
        self.active[block.addr] = block
        self.allocated += block.size
        self.requested += nbytes
        self.peak_allocated = max(self.peak_allocated, self.allocated)
        self.peak_requested = max(self.peak_requested, self.requested)
        self._record("alloc", block.addr, nbytes, frames)
        return block.addr

    def free(self, addr: int) -> None:
        """Return the block at `addr` to its pool, merged with free neighbours."""
        block = self.active.pop(addr)
        self.allocated -= block.size
        self.requested -= block.requested
        self._record("free_requested", addr, block.requested, block.frames)
        self._record("free_completed", addr, block.requested, block.frames)
        block.allocated, block.requested, block.frames = False, 0, []
        for neighbour in (block.prev, block.next):
            if neighbour is not None and not neighbour.allocated:
                self._merge(block, neighbour)
        self._insert_free(block)

    def _take_free(self, size: int, small: bool) -> Block | None:
        """The best-fit cached block (smallest, then lowest address), out of its pool."""
        pool = self.free_blocks[small]
        i = bisect.bisect_left(pool, (size, -1))
        if i == len(pool):
            return None
        return pool.pop(i)[2]

    def _new_segment(self, size: int, small: bool, frames: list[dict[str, Any]]) -> Block:
        nbytes = segment_size(size)
        segment = Segment(self.next_addr, nbytes, small, frames)
        segment.first = Block(segment.addr, nbytes, segment)
        self.segments.append(segment)
        self.next_addr += -(-nbytes // SEGMENT_ALIGN) * SEGMENT_ALIGN
        self.reserved += nbytes
        self.peak_reserved = max(self.peak_reserved, self.reserved)
        self._record("segment_alloc", segment.addr, nbytes, frames)
        return segment.first

    def _merge(self, block: Block, neighbour: Block) -> None:
        """Absorb the free `neighbour` (the block just before or after) into `block`."""
        self.free_blocks[block.segment.small].remove((neighbour.size, neighbour.addr, neighbour))
        if neighbour is block.prev:
            block.addr, block.prev = neighbour.addr, neighbour.prev
            if block.prev is not None:
                block.prev.next = block
            else:
                block.segment.first = block
        else:
            block.next = neighbour.next
            if block.next is not None:
                block.next.prev = block
        block.size += neighbour.size

    def _insert_free(self, block: Block) -> None:
        bisect.insort(self.free_blocks[block.segment.small], (block.size, block.addr, block))

    def _record(self, action: str, addr: int, size: int, frames: list[dict[str, Any]]) -> None:
        if self.recording:
            self.events.append({"action": action, "addr": addr, "size": size, "stream": 0, "time_us": len(self.events), "frames": frames})


@dataclass
class CudaMemory:
    """The predicted step on CUDA: the allocator's peaks and the stated extras."""

    allocated_peak: int  # max_memory_allocated of the step: the allocator's blocks, rounding and unsplit rests included
    reserved_peak: int  # max_memory_reserved: every segment cudaMalloc'd (nothing is released during the step)
    requested_peak: int  # the tensors' own bytes at their peak (the liveness walk's, unrounded)
    segments: int  # cudaMalloc calls in all
    runs: int  # replays of the step until one reserved nothing new
    context_bytes: int = CONTEXT_TYPICAL
    workspace_bytes: int = WORKSPACE_TYPICAL
    measured: bool = False  # True only where a GPU gave the context and workspace
    allocated_timeline: list[int] = field(default_factory=list, repr=False)  # allocated bytes after each op's allocations
    reserved_timeline: list[int] = field(default_factory=list, repr=False)
    allocator: CachingAllocator | None = field(default=None, repr=False)  # its state at the end of the reported step

    @property
    def total_bytes(self) -> int:
        """What the step needs of the GPU: reserved + context + workspace allowance."""
        return self.reserved_peak + self.context_bytes + self.workspace_bytes

    def note(self) -> str:
        return context_note(self.context_bytes, self.workspace_bytes, self.measured)

    def to_dict(self) -> dict[str, Any]:
        return {
            "allocated_peak_bytes": self.allocated_peak, "reserved_peak_bytes": self.reserved_peak, "requested_peak_bytes": self.requested_peak,
            "segments": self.segments, "context_bytes": self.context_bytes, "workspace_bytes": self.workspace_bytes,
            "context_and_workspace": "measured" if self.measured else "typical (not measured)", "total_bytes": self.total_bytes,
        }


@dataclass
class Schedule:
    """The step as the allocator sees it: what lives before it, what each op
    allocates and frees, and a call stack (frames) naming op and layer."""

    resident: list[int]  # storages live before the step, allocated in this order
    births: dict[int, list[int]]  # op index -> storages it allocates
    deaths: dict[int, list[int]]  # op index -> storages freed after it
    to_end: list[int]  # made in the step and alive at its end: freed before the next step
    sizes: dict[int, int]  # storage -> requested bytes
    frames: dict[int, list[dict[str, Any]]]
    ops: int


def schedule(step, sizes: dict[int, int] | None = None) -> Schedule:
    """The allocation order of a `netstat.trace.Trace` from the one liveness
    walk's lifetimes (`netstat.memory.lifetimes`) over the allocations in
    `sizes` (default: every storage of a training step); storages of 0
    bytes allocate nothing (the allocator is not called for them)."""
    from netstat.memory import lifetimes

    sizes = {s: n for s, n in (step.storage_bytes if sizes is None else sizes).items() if n > 0}
    born, last = lifetimes(step, sizes)
    end = len(step.ops)
    births: dict[int, list[int]] = {}
    deaths: dict[int, list[int]] = {}
    for storage in sorted(born):
        first = born[storage]
        if first >= 0:
            births.setdefault(first, []).append(storage)
            if last[storage] < end:
                deaths.setdefault(last[storage], []).append(storage)
    resident = sorted(s for s, first in born.items() if first < 0)
    to_end = sorted(s for s, first in born.items() if first >= 0 and last[s] >= end)
    return Schedule(resident, births, deaths, to_end, sizes, _frames(step, resident), end)


def _frames(step, resident: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Per storage, the frames a snapshot shows for it: the op that made it
    (its index as the line, its layer as the file) and the step's phase; a
    resident storage is named as the parameter, buffer, input or state it is."""
    from netstat.schema import label

    frames: dict[int, list[dict[str, Any]]] = {}
    for op in step.ops:
        for ref in op.outputs:
            if ref.storage not in frames:
                frames[ref.storage] = [{"filename": label(op.module), "line": op.index, "name": op.name},
                                       {"filename": "netstat predicted step", "line": op.index, "name": step.phase_of(op.index)}]
    names = {ref.storage: step.weights[ref.tid] for op in step.ops for ref in op.inputs if ref.tid in step.weights}
    names.update({s: f"optimizer state of {p}" for p, storages in step.state_storages.items() for s in storages})
    names.update({r.storage: "input" for r in step.inputs})
    for storage in resident:
        frames[storage] = [{"filename": "before the step", "line": 0, "name": names.get(storage, "resident tensor")}]
    return frames


def replay(step, sizes: dict[int, int] | None = None, context_bytes: int = CONTEXT_TYPICAL, workspace_bytes: int = WORKSPACE_TYPICAL,
           measured: bool = False) -> CudaMemory:
    """The caching allocator over a trace (see the module docstring; `sizes`
    as for `schedule`): residents first, then the step until a run of it
    reserves nothing new; the peaks, timelines and end state of that last run."""
    plan = schedule(step, sizes)
    alloc = CachingAllocator()
    alloc.recording = False
    addr = {s: alloc.malloc(plan.sizes[s], plan.frames[s]) for s in plan.resident}
    runs = 0
    while True:
        runs += 1
        segments_before = len(alloc.segments)
        alloc.reset_peaks()
        alloc.events = []
        alloc.recording = True
        allocated, reserved = _run(alloc, plan, addr)
        if len(alloc.segments) == segments_before or runs == MAX_RUNS:
            break
        for storage in plan.to_end:  # the next step starts with them freed
            alloc.free(addr.pop(storage))
    return CudaMemory(alloc.peak_allocated, alloc.peak_reserved, alloc.peak_requested, len(alloc.segments), runs,
                      context_bytes, workspace_bytes, measured, allocated, reserved, alloc)


def _run(alloc: CachingAllocator, plan: Schedule, addr: dict[int, int]) -> tuple[list[int], list[int]]:
    """One step: each op's allocations, then the frees after it; the
    allocated and reserved bytes after each op's allocations."""
    allocated, reserved = [], []
    for i in range(plan.ops):
        for storage in plan.births.get(i, ()):
            addr[storage] = alloc.malloc(plan.sizes[storage], plan.frames[storage])
        allocated.append(alloc.allocated)
        reserved.append(alloc.reserved)
        for storage in plan.deaths.get(i, ()):
            alloc.free(addr.pop(storage))
    return allocated, reserved
