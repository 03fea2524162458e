"""What a measurement ran on and under: the environment record, the process
settings held while timing, what other processes and the kernel did, and the
device plumbing (validation, synchronisation, freeing memory).

`torch_settings` is the one place torch's thread count and cuDNN autotuning
are changed and restored; `measuring` adds the allocator policy to them.
"""

from __future__ import annotations

import functools
import gc
import os
import platform
import subprocess
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from netstat.errors import UsageError

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


# --------------------------------------------------------------------------- settings


@contextmanager
def torch_settings(threads: int | None = None, cudnn_benchmark: bool | None = None) -> Iterator[None]:
    """torch's thread count and cuDNN autotuning for the block (None leaves
    one as it is), both restored after, whatever happens inside."""
    import torch

    previous_threads, previous_cudnn = torch.get_num_threads(), torch.backends.cudnn.benchmark
    if threads is not None:
        torch.set_num_threads(threads)
    if cudnn_benchmark is not None:
        torch.backends.cudnn.benchmark = cudnn_benchmark
    try:
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.backends.cudnn.benchmark = previous_cudnn


@contextmanager
def measuring(threads: int, cudnn_benchmark: bool, allocator: str) -> Iterator[dict[str, Any]]:
    """Everything `benchmark` holds while it runs: the torch settings and the
    allocator policy (netstat.allocator); yields the allocator's record."""
    from netstat.allocator import steady_allocator

    with torch_settings(threads, cudnn_benchmark), steady_allocator(allocator) as malloc:
        yield malloc


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's garbage collector off for the block (a collection inside a
    timed call would be measured), back on after if it was on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --------------------------------------------------------------------------- environment record


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), else all cores."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu_driver() -> str | None:
    """The NVIDIA driver version, from pynvml if installed, else nvidia-smi."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
        finally:
            pynvml.nvmlShutdown()
        return version.decode() if isinstance(version, bytes) else str(version)
    except Exception:  # noqa: BLE001 - optional: fall back to nvidia-smi
        pass
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        )
        return out.stdout.strip().splitlines()[0] or None
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def _gpu(device: str) -> dict[str, Any]:
    """The CUDA device's name, size, driver and TF32 settings."""
    import torch

    props = torch.cuda.get_device_properties(torch.device(device).index or 0)
    return {
        "name": props.name,
        "capability": f"{props.major}.{props.minor}",
        "memory_bytes": props.total_memory,
        "multiprocessors": props.multi_processor_count,
        "driver": _gpu_driver(),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
    }


def environment(device: str = "cpu") -> dict[str, Any]:
    """Software and hardware this measurement ran on (not the settings)."""
    import torch

    import netstat

    return {
        "netstat": netstat.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "parallel_info": [ln.strip() for ln in torch.__config__.parallel_info().splitlines() if ln.strip()],
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "gpu": _gpu(device) if device.startswith("cuda") else None,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


# --------------------------------------------------------------------------- what else ran


class OtherLoad:
    """Cores kept busy by other processes while a block runs: the machine's
    busy CPU time (/proc/stat) minus this process's own (getrusage), over the
    wall time. `cores` stays None where /proc/stat does not exist."""

    cores: float | None = None

    @staticmethod
    def _busy_s() -> float | None:
        try:
            with open("/proc/stat", encoding="utf-8") as fh:
                fields = [int(v) for v in fh.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own_s() -> float:
        import resource

        use = resource.getrusage(resource.RUSAGE_SELF)
        return use.ru_utime + use.ru_stime

    def __enter__(self) -> OtherLoad:
        self._busy, self._own, self._wall = self._busy_s(), self._own_s(), time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        busy, wall = self._busy_s(), time.perf_counter() - self._wall
        if busy is None or self._busy is None or wall <= 0:
            return
        self.cores = max(0.0, (busy - self._busy - (self._own_s() - self._own)) / wall)


class KernelWork:
    """What the kernel did for this process while a block ran: minor page
    faults and system CPU time (getrusage). Page faults in a steady loop mean
    the allocator is returning memory between calls (see netstat.allocator)."""

    minor_faults: int | None = None
    system_s: float | None = None

    def __enter__(self) -> KernelWork:
        self._start = _rusage()
        return self

    def __exit__(self, *exc: Any) -> None:
        end = _rusage()
        if end is not None and self._start is not None:
            self.minor_faults = end.ru_minflt - self._start.ru_minflt
            self.system_s = end.ru_stime - self._start.ru_stime


def _rusage():
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    return resource.getrusage(resource.RUSAGE_SELF)


# --------------------------------------------------------------------------- device plumbing


def check_device(device: str) -> str:
    """'cpu', 'cuda' or 'cuda:N' to time on (meta has no time), or a UsageError."""
    from netstat.trace import check_device as checked

    return checked(device, meta=False)


def torch_dtype(dtype: str):
    """The torch dtype for 'fp32', 'fp16' or 'bf16'."""
    import torch

    if dtype not in DTYPES:
        raise UsageError(f"Unknown dtype '{dtype}'.", hint=f"Use one of: {', '.join(DTYPES)}.")
    return getattr(torch, DTYPES[dtype])


def _no_sync() -> None:
    """Synchronising with the CPU: its work is done when the call returns."""


def sync_fn(device: str) -> Callable[[], None]:
    """A call that waits until the device has finished its queued work."""
    if device.startswith("cuda"):
        import torch

        return functools.partial(torch.cuda.synchronize, device)
    return _no_sync


def free(device: str) -> None:
    """Collect garbage and, on CUDA, hand cached blocks back to the driver."""
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
