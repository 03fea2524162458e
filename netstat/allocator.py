"""Keep the C allocator from handing memory back to the kernel between calls.

PyTorch's CPU tensors come from ``malloc``. glibc's malloc serves blocks of at
least ``M_MMAP_THRESHOLD`` bytes with their own ``mmap`` and returns free
memory at the top of the heap to the kernel once it exceeds
``M_TRIM_THRESHOLD``. Both thresholds start at 128 KiB and move with the
process's history ("dynamic thresholds", capped at 32 MiB), so two processes
running the same model can end in different states: in one, every call's
activations reuse heap memory; in the next, each call unmaps them and faults
them back in. Measured here (mobilenet_v3_small, batch 1, one thread,
processes one after the other): 0 to 1,210 minor page faults per call, up to
21% of the time in the kernel, medians from 6.3 to 10.3 ms. Activations above
32 MiB (mobilenet_v2 at batch 16) are mapped afresh on every call in every
process: 37,634 faults and 103 ms of kernel time per call. A caching
allocator (jemalloc, tcmalloc: PyTorch's CPU tuning guide recommends them,
and its CUDA allocator caches too) keeps that memory instead.

``steady_allocator("steady")`` therefore, on glibc and unless the allocator
was already chosen through the environment, turns ``mmap`` for allocations
(``M_MMAP_MAX`` = 0) and trimming (``M_TRIM_THRESHOLD`` = -1) off while
measuring: freed memory stays in the heap and the next call reuses it.
Afterwards it allows ``mmap`` again (glibc's default ``M_MMAP_MAX``, 65536)
with ``M_MMAP_THRESHOLD`` at 32 MiB and ``M_TRIM_THRESHOLD`` at 64 MiB (the
values glibc's dynamic rule tends to) and calls ``malloc_trim(0)`` to hand the
freed memory back. glibc has no call that switches its dynamic rule back on,
so the process keeps those fixed thresholds. A block opened inside another
(``netstat.benchmark`` inside a caller's own block) leaves the settings to the
outer one. ``"system"`` leaves the allocator alone. What was done is returned
and recorded in each result.
"""

from __future__ import annotations

import ctypes
import os
import platform
from contextlib import contextmanager
from typing import Any, Iterator

from netstat.errors import UsageError

POLICIES = ("steady", "system")

# mallopt(3) parameter numbers, from glibc's <malloc.h>.
_PARAMS = {"M_TRIM_THRESHOLD": -1, "M_MMAP_THRESHOLD": -3, "M_MMAP_MAX": -4}
WHILE_MEASURING = {"M_MMAP_MAX": 0, "M_TRIM_THRESHOLD": -1}  # no mmap, no trimming
AFTERWARDS = {
    "M_MMAP_THRESHOLD": 32 << 20,  # the largest value glibc accepts on 64-bit systems
    "M_TRIM_THRESHOLD": 64 << 20,  # twice the mmap threshold, as glibc's dynamic rule sets it
    "M_MMAP_MAX": 65536,  # glibc's default
}

# Environment variables through which a user chooses the allocator's behaviour.
_GLIBC_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")
_PRELOADED = ("jemalloc", "tcmalloc", "mimalloc")

_active = False  # inside a steady_allocator block that applied the settings


def _preloaded_allocator() -> str | None:
    preload = os.environ.get("LD_PRELOAD", "")
    return next((name for name in _PRELOADED if name in preload), None)


def _user_configured() -> str | None:
    """The environment variable through which the user set glibc's malloc, if any."""
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return "GLIBC_TUNABLES"
    return next((name for name in _GLIBC_VARIABLES if name in os.environ), None)


def _glibc() -> Any | None:
    """The C library as a ctypes handle when it is glibc with mallopt, else None."""
    name, _ = platform.libc_ver()
    if name != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt, libc.malloc_trim  # noqa: B018 - both must exist
    except (OSError, AttributeError):
        return None
    return libc


def describe(policy: str) -> dict[str, Any]:
    """What `steady_allocator(policy)` would do here, without doing it."""
    if policy not in POLICIES:
        raise UsageError(f"Unknown allocator policy '{policy}'.", hint=f"Use one of: {', '.join(POLICIES)}.")
    libc_name, libc_version = platform.libc_ver()
    state: dict[str, Any] = {
        "library": f"{libc_name} {libc_version}".strip() or platform.system(),
        "policy": policy,
        "applied": False,
        "while_measuring": None,
        "afterwards": None,
        "note": None,
    }
    preloaded, configured = _preloaded_allocator(), _user_configured()
    if preloaded:
        state["library"] = f"{preloaded} (LD_PRELOAD)"
        state["note"] = f"{preloaded} is preloaded: left as it is."
    elif policy == "system":
        state["note"] = "left as it is (the system policy)."
    elif configured:
        state["note"] = f"set by the environment ({configured}): left as it is."
    elif _glibc() is None:
        state["note"] = "not glibc: left as it is."
    else:
        state.update(applied=True, while_measuring=dict(WHILE_MEASURING), afterwards=dict(AFTERWARDS))
    return state


@contextmanager
def steady_allocator(policy: str = "steady") -> Iterator[dict[str, Any]]:
    """Keep freed memory in glibc's heap while the block runs (no mmap, no
    trimming; see the module docstring); yields the record of what was done."""
    global _active
    state = describe(policy)
    libc = _glibc() if state["applied"] else None
    if libc is None or _active:  # an enclosing block already holds the settings; it restores them
        yield state
        return
    if not all(libc.mallopt(_PARAMS[name], value) for name, value in WHILE_MEASURING.items()):
        # mallopt returns 0 on failure; say so instead of claiming a setting.
        state.update(applied=False, while_measuring=None, note="mallopt refused the settings.")
    _active = True
    try:
        yield state
    finally:
        _active = False
        for name, value in AFTERWARDS.items():
            libc.mallopt(_PARAMS[name], value)
        libc.malloc_trim(0)
