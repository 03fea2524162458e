"""The device's measured ceilings: peak matmul FLOP/s and copy bandwidth,
each timed with the same warm-up and adaptive protocol as a model."""

from __future__ import annotations

import functools
import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from netstat.bench.environment import check_device, free, gc_paused, sync_fn, torch_dtype, torch_settings
from netstat.bench.protocol import PhaseReport, Protocol, Report, make_step, measure, warm_up
from netstat.bench.stats import NS, median

MATMUL_START = 256  # n of the first square product tried when sizing the matmul
MATMUL_TARGET_NS = 20e6  # a product this long (fastest of 3) is large enough
MATMUL_CAP = {"cpu": 2048, "cuda": 8192}
COPY_BYTES = {"cpu": 256 << 20, "cuda": 1 << 30}  # far beyond the caches


@dataclass(frozen=True)
class Roofline:
    """Measured ceilings of a device: peak matmul FLOP/s and copy bandwidth."""

    device: str
    dtype: str
    threads: int
    peak_flops_per_s: float
    bandwidth_bytes_per_s: float
    matmul_size: int
    copy_bytes: int

    @property
    def ridge_point(self) -> float:
        """Arithmetic intensity (FLOP/byte) where the two bounds meet."""
        return self.peak_flops_per_s / self.bandwidth_bytes_per_s

    def attainable(self, intensity: float) -> float:
        return min(self.peak_flops_per_s, intensity * self.bandwidth_bytes_per_s)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ridge_point_flops_per_byte": self.ridge_point}


def measure_roofline(
    device: str = "cpu",
    dtype: str = "fp32",
    *,
    threads: int | None = None,
    min_time: float = 0.5,
    max_time: float = 3.0,
    matmul_size: int | None = None,
    copy_bytes: int | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> Roofline:
    """This device's ceilings, in `dtype` with `threads` (default: the current
    count), each the median time of the warm-up + adaptive protocol:

    - peak FLOP/s of a square matmul C = A @ B (2 n^3 FLOPs), n doubled from
      256 until one product takes 20 ms (fastest of 3) or n reaches 2048 on
      CPU / 8192 on CUDA;
    - copy bandwidth of dst.copy_(src) (bytes read + written) on fp32 buffers
      of 256 MiB on CPU / 1 GiB on CUDA, far beyond the caches.

    `progress` gets ("matmul" or "copy", fraction of the whole, 0..1).
    """
    import torch

    device = check_device(device)
    tdtype = torch_dtype(dtype)
    protocol = Protocol.from_times(min_time, max_time)
    kind = "cuda" if device.startswith("cuda") else "cpu"
    try:
        with torch_settings(threads), gc_paused(), torch.inference_mode():
            n_threads = torch.get_num_threads()
            n = _matmul_size(device, tdtype, MATMUL_CAP[kind]) if matmul_size is None else matmul_size
            t_mm = _time_matmul(n, device, tdtype, protocol, _share(progress, "matmul", 0.0))
            elems = (COPY_BYTES[kind] if copy_bytes is None else copy_bytes) // 4
            t_copy = _time_copy(elems, device, protocol, _share(progress, "copy", 0.5))
    finally:
        free(device)
    return Roofline(
        device=device,
        dtype=dtype,
        threads=n_threads,
        peak_flops_per_s=2 * n**3 * NS / t_mm,
        bandwidth_bytes_per_s=2 * elems * 4 * NS / t_copy,
        matmul_size=n,
        copy_bytes=elems * 4,
    )


def _share(progress: Callable[[str, float], None] | None, what: str, start: float) -> Report | None:
    """One of the two halves of the roofline's progress."""
    return None if progress is None else PhaseReport(progress, what, start, 0.5)


def _matmul_size(device: str, tdtype, cap: int) -> int:
    """The smallest n (doubling from MATMUL_START, at most `cap`) whose square
    product takes MATMUL_TARGET_NS: large enough to reach the peak."""
    import torch

    sync = sync_fn(device)
    n = MATMUL_START
    while n < cap:
        a = torch.randn(n, n, device=device).to(tdtype)
        torch.matmul(a, a)
        sync()
        fastest = math.inf
        for _ in range(3):
            t0 = time.perf_counter_ns()
            torch.matmul(a, a)
            sync()
            fastest = min(fastest, time.perf_counter_ns() - t0)
        if fastest > MATMUL_TARGET_NS:
            break
        n *= 2
    return n


def _median_ns(step, protocol: Protocol, report: Report | None) -> float:
    """The median time of `step` after the warm-up."""
    warm_up(step, time.perf_counter_ns, protocol)
    return median(measure(step, time.perf_counter_ns, protocol, report).samples_ns)


def _time_matmul(n: int, device: str, tdtype, protocol: Protocol, report: Report | None) -> float:
    """The median time of C = A @ B for n x n matrices, in ns."""
    import torch

    a = torch.randn(n, n, device=device).to(tdtype)
    b = torch.randn(n, n, device=device).to(tdtype)
    c = torch.empty(n, n, device=device, dtype=tdtype)
    return _median_ns(make_step(functools.partial(torch.matmul, a, b, out=c), device), protocol, report)


def _time_copy(elems: int, device: str, protocol: Protocol, report: Report | None) -> float:
    """The median time of copying `elems` fp32 values between two buffers, in ns."""
    import torch

    src = torch.ones(elems, device=device, dtype=torch.float32)
    dst = torch.zeros(elems, device=device, dtype=torch.float32)
    return _median_ns(make_step(functools.partial(dst.copy_, src), device), protocol, report)
