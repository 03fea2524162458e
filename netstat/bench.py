"""Latency and throughput, measured so the numbers can be trusted.

The protocol (every choice is recorded in each result's JSON):

1. The model is built on the chosen device with real (randomly initialised)
   weights, converted to the dtype and memory format asked for, put in eval
   mode and, with ``compile_mode``, wrapped in ``torch.compile``. A user's own
   module is timed as it is when nothing needs changing, else deep-copied
   first: it is never modified. The input is fixed
   (standard normal, seed 0). Everything runs under ``torch.inference_mode()``
   (and ``torch.autocast`` with ``amp``), with the thread count set explicitly
   (default: every core this process may use), Python's garbage collector
   paused while timing and, on glibc, malloc kept from returning activation
   memory to the kernel between calls (``netstat.allocator``: page faults
   had made processes running the same model differ by up to 62%).
2. Cold start: the first call at each batch size is timed on its own with the
   wall clock (it includes ``torch.compile`` compilation and cuDNN autotuning).
3. Warm-up until stable: at least ``warmup_min_iters`` calls and
   ``warmup_min_time`` seconds, then until the median of the most recent
   quarter of the warm-up calls is within ``warmup_tolerance`` of the median of
   the quarter before it, or ``warmup_max_time`` has passed (then a warning).
4. Measurement. Latency mode times every call on its own: on CPU with
   ``time.perf_counter_ns``, on CUDA with a pair of CUDA events and a
   synchronisation after each call. Throughput mode times blocks of
   back-to-back calls (sized to last about ``block_time``) and synchronises
   once per block. Samples are taken until the 95% distribution-free
   confidence interval of the median (binomial order statistics) lies within
   ±``rel_precision`` (1%) of the median, no sooner than ``min_time`` and no
   later than ``max_time``.
5. Statistics: n, mean, median, min, max, p10, p25, p75, p90, p99 (linear
   interpolation between order statistics, numpy's default), IQR, sample
   standard deviation, the median's confidence interval; a warning when
   IQR / median >= 10%.

Nothing here prints: progress goes through the optional ``progress`` callback.
"""

from __future__ import annotations

import gc
import math
import os
import platform
import statistics
import subprocess
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Sequence

from netstat.errors import ModelRunError, NetstatError, UsageError

SCHEMA_VERSION = 1
DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
MODES = ("latency", "throughput")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
UNSTABLE_IQR = 0.10  # warn when IQR / median reaches this
_NS = 1_000_000_000

Clock = Callable[[], int]  # nanoseconds
Step = Callable[[], int]  # runs one sample, returns its duration in nanoseconds
ProgressFn = Callable[["BenchProgress"], None]


# --------------------------------------------------------------------------- statistics


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, interpolating
    linearly between order statistics (numpy's default, Hyndman-Fan type 7)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    h = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(h)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def median_ci_ranks(n: int, confidence: float = 0.95) -> tuple[int, int] | None:
    """0-based ranks (lo, hi) of the distribution-free confidence interval of
    the median from n samples: [x_(r), x_(n+1-r)] in 1-based order statistics,
    with r the largest rank whose coverage 1 - 2 P(Bin(n, 1/2) <= r-1) is at
    least `confidence`. Exact up to n = 1000, normal approximation beyond.
    None when n is too small for any interval at this confidence."""
    alpha = 1.0 - confidence
    if n <= 1000:
        pmf = 0.5**n
        cdf = 0.0  # P(B <= r-1)
        r = 0
        for i in range(n):
            if 2 * (cdf + pmf) > alpha:
                break
            cdf += pmf
            r = i + 1
            pmf *= (n - i) / (i + 1)
    else:
        z = statistics.NormalDist().inv_cdf(1 - alpha / 2)
        r = math.floor(n / 2 - z * math.sqrt(n) / 2 + 0.5)
    if r < 1:
        return None
    return r - 1, n - r


def median_ci_rel(sorted_values: Sequence[float], confidence: float = 0.95) -> float | None:
    """Half-width of the median's confidence interval relative to the median
    (the larger of the two sides); None when n is too small."""
    ranks = median_ci_ranks(len(sorted_values), confidence)
    med = percentile(sorted_values, 50) if sorted_values else 0.0
    if ranks is None or med <= 0:
        return None
    lo, hi = ranks
    return max(med - sorted_values[lo], sorted_values[hi] - med) / med


@dataclass(frozen=True)
class Stats:
    """Summary of per-iteration times, in nanoseconds."""

    n: int
    mean: float
    median: float
    min: float  # noqa: A003 - the statistic's name
    max: float  # noqa: A003
    p10: float
    p25: float
    p75: float
    p90: float
    p99: float
    iqr: float
    std: float
    median_ci_low: float | None
    median_ci_high: float | None

    @property
    def iqr_rel(self) -> float:
        return self.iqr / self.median if self.median else float("inf")

    def to_ms(self) -> dict[str, Any]:
        """The JSON `latency_ms` object (n stays a count)."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            out[key] = value if key == "n" or value is None else value / 1e6
        return out


def summarize(samples: Sequence[float], confidence: float = 0.95) -> Stats:
    """n, mean, median, min, max, percentiles, IQR, sample std (n-1) and the
    median's distribution-free confidence interval."""
    xs = sorted(samples)
    if not xs:
        raise ValueError("no samples to summarize")
    n = len(xs)
    mean = math.fsum(xs) / n
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    p = {q: percentile(xs, q) for q in (10, 25, 50, 75, 90, 99)}
    ranks = median_ci_ranks(n, confidence)
    return Stats(
        n=n,
        mean=mean,
        median=p[50],
        min=xs[0],
        max=xs[-1],
        p10=p[10],
        p25=p[25],
        p75=p[75],
        p90=p[90],
        p99=p[99],
        iqr=p[75] - p[25],
        std=std,
        median_ci_low=None if ranks is None else xs[ranks[0]],
        median_ci_high=None if ranks is None else xs[ranks[1]],
    )


# --------------------------------------------------------------------------- protocol


@dataclass(frozen=True)
class Protocol:
    """Every knob of the measurement; recorded in each result."""

    min_time: float = 1.0  # s of measurement at least
    max_time: float = 10.0  # s of measurement at most
    rel_precision: float = 0.01  # stop when the median is known to ± this
    confidence: float = 0.95
    min_samples: int = 10
    max_samples: int = 1_000_000
    warmup_min_iters: int = 5
    warmup_min_time: float = 0.25
    warmup_max_time: float = 5.0
    warmup_window: int = 5  # smallest window compared when testing for a settled median
    warmup_tolerance: float = 0.02
    block_time: float = 0.05  # s per block of back-to-back calls (throughput mode)

    @classmethod
    def from_times(cls, min_time: float = 1.0, max_time: float = 10.0) -> Protocol:
        """Defaults with the measuring window [min_time, max_time]; the
        warm-up budget scales down with short windows."""
        if not (min_time > 0 and math.isfinite(min_time)):
            raise UsageError(f"--min-time must be a positive number of seconds, not {min_time}.")
        if not (max_time >= min_time and math.isfinite(max_time)):
            raise UsageError(f"--max-time ({max_time} s) must be at least --min-time ({min_time} s).")
        warm_min = min(0.25, min_time)
        return cls(
            min_time=min_time,
            max_time=max_time,
            warmup_min_time=warm_min,
            warmup_max_time=max(warm_min, min(5.0, max_time / 2)),
            block_time=min(0.05, min_time / 10),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WarmUp:
    iterations: int
    elapsed_ns: int
    settled: bool
    estimate_ns: float  # median of the last window: the per-call time going in


@dataclass
class Measurement:
    samples_ns: list[int]
    elapsed_ns: int
    stop_reason: str  # "converged" | "max_time" | "max_samples"
    ci_rel: float | None


def _median(values: Sequence[float]) -> float:
    return percentile(sorted(values), 50)


def warm_up(step: Step, clock: Clock, protocol: Protocol, report: Callable[[float], None] | None = None) -> WarmUp:
    """Call `step` until the running median settles (see the module docstring)."""
    start = clock()
    min_ns, max_ns = protocol.warmup_min_time * _NS, protocol.warmup_max_time * _NS
    times: list[int] = []
    next_check = max(protocol.warmup_min_iters, 2 * protocol.warmup_window)
    settled = False
    while True:
        times.append(step())
        elapsed = clock() - start
        n = len(times)
        if n >= next_check and elapsed >= min_ns:
            w = max(protocol.warmup_window, n // 4)
            recent, before = _median(times[-w:]), _median(times[-2 * w : -w])
            if before > 0 and abs(recent - before) / before <= protocol.warmup_tolerance:
                settled = True
                break
            next_check = max(n + 1, int(n * 1.1))
        if elapsed >= max_ns:
            break
        if report is not None:
            report(min(elapsed / max(min_ns, 1), 1.0))
    w = max(protocol.warmup_window, len(times) // 4)
    return WarmUp(len(times), clock() - start, settled, _median(times[-w:]))


def measure(step: Step, clock: Clock, protocol: Protocol, report: Callable[[float], None] | None = None) -> Measurement:
    """Call `step` until the median is known to ±rel_precision (after at least
    min_time) or max_time has passed; `report` gets the estimated fraction done."""
    samples: list[int] = []
    start = clock()
    min_ns, max_ns = protocol.min_time * _NS, protocol.max_time * _NS
    next_check = protocol.min_samples
    ci: float | None = None
    while True:
        samples.append(step())
        elapsed = clock() - start
        n = len(samples)
        if n >= next_check and elapsed >= min_ns:
            ci = median_ci_rel(sorted(samples), protocol.confidence)
            if ci is not None and ci <= protocol.rel_precision:
                reason = "converged"
                break
            next_check = max(n + 1, int(n * 1.1))
        if elapsed >= max_ns:
            reason = "max_time"
            break
        if n >= protocol.max_samples:
            reason = "max_samples"
            break
        if report is not None:
            # The CI shrinks as 1/sqrt(n): predict the time to reach the target.
            predicted = min_ns if ci is None else elapsed * (ci / protocol.rel_precision) ** 2
            report(min(elapsed / min(max(predicted, min_ns), max_ns), 0.99))
    if reason != "converged":
        ci = median_ci_rel(sorted(samples), protocol.confidence)
    return Measurement(samples, clock() - start, reason, ci)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class BenchProgress:
    """What the measurement is doing; `fraction` (0..1) is within task `index`
    of `total` tasks."""

    task: str
    phase: str  # "build" | "cold start" | "warm-up" | "measure" | "done" | "skipped"
    fraction: float
    index: int
    total: int


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


@dataclass
class BenchResult:
    """One model at one batch size on one device."""

    model: str
    device: str
    batch: int
    dtype: str
    mode: str
    input_shape: tuple[int, ...]
    status: str = "ok"  # "ok" | "oom"
    error: str | None = None
    stats: Stats | None = None  # per-iteration time, ns
    cold_start_ns: int | None = None
    iterations_per_sample: int = 1
    measurement: dict[str, Any] = field(default_factory=dict)
    madds: int | None = None
    flops: int | None = None
    memory_access_bytes: int | None = None
    peak_memory_bytes: int | None = None
    roofline: Roofline | None = None
    warnings: list[str] = field(default_factory=list)
    protocol: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)

    @property
    def median_ms(self) -> float | None:
        return None if self.stats is None else self.stats.median / 1e6

    @property
    def samples_per_s(self) -> float | None:
        """Samples per second at the median per-iteration time."""
        return None if self.stats is None else self.batch * _NS / self.stats.median

    @property
    def achieved_flops_per_s(self) -> float | None:
        if self.stats is None or self.flops is None:
            return None
        return self.flops * _NS / self.stats.median

    @property
    def arithmetic_intensity(self) -> float | None:
        if not self.flops or not self.memory_access_bytes:
            return None
        return self.flops / self.memory_access_bytes

    def roofline_dict(self) -> dict[str, Any] | None:
        if self.roofline is None:
            return None
        out = self.roofline.to_dict()
        ai, achieved = self.arithmetic_intensity, self.achieved_flops_per_s
        attainable = None if ai is None else self.roofline.attainable(ai)
        out.update(
            arithmetic_intensity=ai,
            attainable_flops_per_s=attainable,
            fraction_of_attainable=None if attainable is None or achieved is None else achieved / attainable,
            fraction_of_peak=None if achieved is None else achieved / self.roofline.peak_flops_per_s,
            bound=None if ai is None else ("memory" if ai < self.roofline.ridge_point else "compute"),
        )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "device": self.device,
            "batch": self.batch,
            "dtype": self.dtype,
            "mode": self.mode,
            "input_shape": list(self.input_shape),
            "status": self.status,
            "error": self.error,
            "latency_ms": None if self.stats is None else self.stats.to_ms(),
            "throughput": {"samples_per_s": self.samples_per_s, "iterations_per_sample": self.iterations_per_sample},
            "cold_start_ms": None if self.cold_start_ns is None else self.cold_start_ns / 1e6,
            "madds": self.madds,
            "flops": self.flops,
            "memory_access_bytes": self.memory_access_bytes,
            "arithmetic_intensity": self.arithmetic_intensity,
            "achieved_flops_per_s": self.achieved_flops_per_s,
            "peak_memory_bytes": self.peak_memory_bytes,
            "roofline": self.roofline_dict(),
            "measurement": self.measurement,
            "warnings": list(self.warnings),
            "protocol": self.protocol,
            "env": self.env,
        }


def to_json(results: Sequence[BenchResult]) -> dict[str, Any]:
    """The document `netstat bench --format json` writes."""
    return {"schema_version": SCHEMA_VERSION, "results": [r.to_dict() for r in results]}


# --------------------------------------------------------------------------- environment


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


def environment(device: str = "cpu") -> dict[str, Any]:
    """Software and hardware this measurement ran on (not the settings)."""
    import torch

    import netstat

    env: dict[str, Any] = {
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
        "gpu": None,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(index)
        env["gpu"] = {
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
    return env


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


KERNEL_SHARE_WARNING = 0.05  # warn when the kernel's time is this share of the measured time


# --------------------------------------------------------------------------- device plumbing


def _check_device(device: str) -> str:
    import torch

    text = str(device).strip().lower()
    if text == "cpu":
        return "cpu"
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UsageError("CUDA was asked for, but this machine has no usable CUDA device.", hint="Use --device cpu.")
        try:
            dev = torch.device(text)
        except RuntimeError:
            raise UsageError(f"Malformed device '{device}': expected cpu, cuda or cuda:N.") from None
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(f"There is no {text}: this machine has {torch.cuda.device_count()} CUDA device(s).")
        return text
    raise UsageError(f"Unknown device '{device}'.", hint="Use cpu or cuda (cuda:N).")


def _sync_fn(device: str) -> Callable[[], None]:
    if device.startswith("cuda"):
        import torch

        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def make_step(fn: Callable[[], Any], device: str, calls: int = 1) -> Step:
    """A step that runs `fn` `calls` times back to back and returns the time in
    ns: perf_counter_ns on CPU; CUDA events then one synchronisation on CUDA."""
    if device.startswith("cuda"):
        import torch

        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

        def cuda_step() -> int:
            start.record()
            for _ in range(calls):
                fn()
            end.record()
            end.synchronize()
            return round(start.elapsed_time(end) * 1e6)

        return cuda_step
    clock = time.perf_counter_ns
    if calls == 1:

        def cpu_step() -> int:
            t0 = clock()
            fn()
            return clock() - t0

        return cpu_step

    def cpu_block() -> int:
        t0 = clock()
        for _ in range(calls):
            fn()
        return clock() - t0

    return cpu_block


def _is_oom(err: BaseException) -> bool:
    import torch

    if isinstance(err, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def _free(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


# --------------------------------------------------------------------------- roofline


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
    """
    import torch

    device = _check_device(device)
    tdtype = _torch_dtype(dtype)
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    n_threads = torch.get_num_threads()
    cuda = device.startswith("cuda")
    sync = _sync_fn(device)
    protocol = Protocol.from_times(min_time, max_time)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with torch.inference_mode():
            if matmul_size is None:
                matmul_size, cap = 256, (8192 if cuda else 2048)
                while matmul_size < cap:
                    a = torch.randn(matmul_size, matmul_size, device=device).to(tdtype)
                    torch.matmul(a, a)
                    sync()
                    fastest = math.inf
                    for _ in range(3):
                        t0 = time.perf_counter_ns()
                        torch.matmul(a, a)
                        sync()
                        fastest = min(fastest, time.perf_counter_ns() - t0)
                    if fastest > 20e6:
                        break
                    matmul_size *= 2
            n = matmul_size
            a = torch.randn(n, n, device=device).to(tdtype)
            b = torch.randn(n, n, device=device).to(tdtype)
            c = torch.empty(n, n, device=device, dtype=tdtype)
            step = make_step(lambda: torch.matmul(a, b, out=c), device)
            report = None if progress is None else (lambda f: progress("matmul", f / 2))
            warm_up(step, time.perf_counter_ns, protocol)
            t_mm = _median(measure(step, time.perf_counter_ns, protocol, report).samples_ns)
            del a, b, c
            if copy_bytes is None:
                copy_bytes = (1 << 30) if cuda else (256 << 20)
            elems = copy_bytes // 4
            src = torch.ones(elems, device=device, dtype=torch.float32)
            dst = torch.zeros(elems, device=device, dtype=torch.float32)
            step = make_step(lambda: dst.copy_(src), device)
            report = None if progress is None else (lambda f: progress("copy", 0.5 + f / 2))
            warm_up(step, time.perf_counter_ns, protocol)
            t_copy = _median(measure(step, time.perf_counter_ns, protocol, report).samples_ns)
            del src, dst
    finally:
        if gc_was_enabled:
            gc.enable()
        torch.set_num_threads(previous_threads)
        _free(device)
    return Roofline(
        device=device,
        dtype=dtype,
        threads=n_threads,
        peak_flops_per_s=2 * n**3 * _NS / t_mm,
        bandwidth_bytes_per_s=2 * elems * 4 * _NS / t_copy,
        matmul_size=n,
        copy_bytes=elems * 4,
    )


# --------------------------------------------------------------------------- benchmark


def _torch_dtype(dtype: str):
    import torch

    if dtype not in DTYPES:
        raise UsageError(f"Unknown dtype '{dtype}'.", hint=f"Use one of: {', '.join(DTYPES)}.")
    return getattr(torch, DTYPES[dtype])


def _costs(source, shape: tuple[int, ...], dtype: str, amp: bool) -> tuple[dict[str, int | None], str | None]:
    """MAdds, FLOPs and memory-access bytes from the profile (on meta), the
    bytes scaled to the element size when the whole model runs in fp16/bf16."""
    empty = {"madds": None, "flops": None, "memory_access_bytes": None}
    try:
        from netstat.metrics import profile
    except ImportError:
        return empty, None
    try:
        target = source.module if source.module is not None else source.name
        totals = profile(target, input_size=shape, device="meta").totals
    except Exception as err:  # noqa: BLE001 - costs are an extra: report, keep the timing
        return empty, f"Could not count MAdds/FLOPs: {_first_line(err)}."
    mac = totals.get("memory_access_bytes")
    if mac is not None and dtype != "fp32" and not amp:
        mac = mac // 2  # profiled in fp32 (4 bytes); fp16/bf16 tensors take 2
    return {"madds": totals.get("madds"), "flops": totals.get("flops"), "memory_access_bytes": mac}, None


def _prepare(source, device: str, dtype: str, amp: bool, channels_last: bool, compile_mode: str | None):
    """The model to time: built on `device`, cast, laid out, in eval mode,
    compiled when asked. A user's module is never run: a working copy of it
    is timed (its forward may update buffers or caches)."""
    import torch

    from netstat.trace import working_copy

    try:
        if source.owned:
            model = source.build(device)
        else:
            model = working_copy(source.module, device)
    except NetstatError:
        raise
    except Exception as err:  # noqa: BLE001
        if _is_oom(err):
            raise ModelRunError(f"'{source.name}' does not fit in {device} memory: {_first_line(err)}.") from None
        raise ModelRunError(f"Building '{source.name}' failed: {_first_line(err)}.") from None
    model = model.to(device)
    if dtype != "fp32" and not amp:
        model = model.to(_torch_dtype(dtype))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.eval()
    if compile_mode is not None:
        model = torch.compile(model, mode=None if compile_mode == "default" else compile_mode)
    return model


def _validate(device, batches, threads, dtype, amp, mode, compile_mode) -> None:
    """One UsageError sentence for the first bad argument."""
    if dtype not in DTYPES:
        raise UsageError(f"Unknown dtype '{dtype}'.", hint=f"Use one of: {', '.join(DTYPES)}.")
    if amp and dtype == "fp32":
        raise UsageError("--amp runs an fp32 model under autocast to a lower precision: give --dtype fp16 or bf16 with it.")
    if mode not in MODES:
        raise UsageError(f"Unknown mode '{mode}'.", hint=f"Use one of: {', '.join(MODES)}.")
    if compile_mode is not None and compile_mode not in COMPILE_MODES:
        raise UsageError(f"Unknown compile mode '{compile_mode}'.", hint=f"Use one of: {', '.join(COMPILE_MODES)}.")
    if threads is not None and threads < 1:
        raise UsageError(f"threads must be a positive integer, not {threads}.")
    if batches is not None:
        if not batches or any(int(b) != b or b < 1 for b in batches):
            raise UsageError(f"Every batch size must be a positive integer, not {list(batches)}.")
    _check_device(device)


@contextmanager
def _torch_settings(threads: int, cudnn_benchmark: bool) -> Iterator[None]:
    """torch's thread count and cuDNN autotuning for the block, restored after."""
    import torch

    previous_threads, previous_cudnn = torch.get_num_threads(), torch.backends.cudnn.benchmark
    torch.set_num_threads(threads)
    torch.backends.cudnn.benchmark = cudnn_benchmark
    try:
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.backends.cudnn.benchmark = previous_cudnn


def benchmark(
    model: Any,
    input_size: Sequence[int] | None = None,
    *,
    device: str = "cpu",
    batches: Sequence[int] | None = None,
    threads: int | None = None,
    dtype: str = "fp32",
    amp: bool = False,
    channels_last: bool = False,
    compile_mode: str | None = None,
    cudnn_benchmark: bool = False,
    mode: str = "latency",
    min_time: float = 1.0,
    max_time: float = 10.0,
    roofline: bool = False,
    costs: bool = True,
    allocator: str = "steady",
    progress: ProgressFn | None = None,
) -> list[BenchResult]:
    """Measure one or more models (names, specs or nn.Modules; a list for
    several) at each batch size, following the protocol in this module's
    docstring. Returns one BenchResult per model and batch, in order.

    `input_size` is the full input shape; `batches` replaces its first
    dimension (default: the input's own batch, 1 for zoo models).
    `compile_mode` None runs eagerly, else one of COMPILE_MODES for
    torch.compile. `amp` keeps the model in fp32 under torch.autocast to
    `dtype`. An out-of-memory batch is reported (status "oom") and skipped.
    `allocator` "steady" keeps freed memory in glibc's heap while measuring
    (netstat.allocator), "system" leaves malloc alone.
    """
    import torch

    from netstat.allocator import describe, steady_allocator
    from netstat.spec import resolve

    _validate(device, batches, threads, dtype, amp, mode, compile_mode)
    describe(allocator)  # validates the policy before anything is built
    device = _check_device(device)
    protocol = Protocol.from_times(min_time, max_time)
    specs = list(model) if isinstance(model, (list, tuple)) else [model]
    sources = [resolve(s, tuple(input_size) if input_size is not None else None) for s in specs]
    for src in sources:
        if not src.input_shape:
            raise UsageError(f"'{src.name}' has no default input shape.", hint="Give one with --input, e.g. 1,3,224,224.")
    plan = [(src, list(batches) if batches else [src.input_shape[0]]) for src in sources]
    total = sum(len(b) for _, b in plan) + (1 if roofline else 0)

    def emit(task: str, phase: str, fraction: float, index: int) -> None:
        if progress is not None:
            progress(BenchProgress(task, phase, fraction, index, total))

    n_threads = threads or usable_cores()
    results: list[BenchResult] = []
    with _torch_settings(n_threads, cudnn_benchmark), steady_allocator(allocator) as malloc:
        machine = {**environment(device), "allocator": malloc}
        roof = None
        if roofline:
            emit("roofline", "measure", 0.0, 0)
            roof = measure_roofline(
                device, dtype, progress=lambda what, f: emit(f"roofline ({what})", "measure", f, 0)
            )
            emit("roofline", "done", 1.0, 0)
        index = 1 if roofline else 0
        for src, batch_list in plan:
            emit(src.name, "build", 0.0, index)
            net = _prepare(src, device, dtype, amp, channels_last, compile_mode)
            for batch in batch_list:
                task = f"{src.name} · batch {batch}"
                settings = {
                    "device": device,
                    "threads": torch.get_num_threads(),
                    "interop_threads": torch.get_num_interop_threads(),
                    "dtype": dtype,
                    "amp": amp,
                    "channels_last": channels_last,
                    "compile": compile_mode,
                    "cudnn_benchmark": cudnn_benchmark,
                    "mode": mode,
                    "batch": batch,
                    "input_shape": [batch, *src.input_shape[1:]],
                }
                result = _bench_one(net, src, batch, device, dtype, amp, channels_last, mode, protocol,
                                    lambda phase, f, t=task, i=index: emit(t, phase, f, i))
                result.env = {**machine, **settings}
                result.protocol = protocol.to_dict()
                result.roofline = roof
                if costs and result.status == "ok":
                    counted, warning = _costs(src, result.input_shape, dtype, amp)
                    for key, value in counted.items():
                        setattr(result, key, value)
                    if warning:
                        result.warnings.append(warning)
                if n_threads > usable_cores():
                    result.warnings.append(
                        f"{n_threads} threads on {usable_cores()} usable cores: threads compete for cores."
                    )
                results.append(result)
                emit(task, "done" if result.status == "ok" else "skipped", 1.0, index)
                index += 1
            del net
            _free(device)
    return results


def _bench_one(net, src, batch, device, dtype, amp, channels_last, mode, protocol, report) -> BenchResult:
    """Cold start, warm-up and measurement of one model at one batch size."""
    import torch

    shape = (batch, *src.input_shape[1:])
    result = BenchResult(src.name, device, batch, dtype, mode, shape)
    cuda = device.startswith("cuda")
    sync = _sync_fn(device)
    autocast = torch.autocast(device.split(":")[0], dtype=_torch_dtype(dtype), enabled=amp)
    gc_was_enabled = gc.isenabled()
    x = None
    try:
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        generator = torch.Generator(device=device).manual_seed(0)
        x = torch.randn(shape, generator=generator, device=device)
        if dtype != "fp32" and not amp:
            x = x.to(_torch_dtype(dtype))
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)

        def call():
            return net(x)

        with torch.inference_mode(), autocast:
            report("cold start", 0.0)
            t0 = time.perf_counter_ns()
            call()
            sync()
            result.cold_start_ns = time.perf_counter_ns() - t0
            gc.disable()
            with OtherLoad() as other:
                step = make_step(call, device)
                warm = warm_up(step, time.perf_counter_ns, protocol, lambda f: report("warm-up", 0.2 * f))
                calls = 1
                if mode == "throughput":
                    calls = max(1, round(protocol.block_time * _NS / max(warm.estimate_ns, 1)))
                    step = make_step(call, device, calls)
                with KernelWork() as kernel:
                    m = measure(step, time.perf_counter_ns, protocol, lambda f: report("measure", 0.2 + 0.8 * f))
    except NetstatError:
        raise
    except Exception as err:  # noqa: BLE001 - out of memory is reported, anything else is fatal
        if not _is_oom(err):
            raise ModelRunError(f"'{src.name}' failed at batch {batch} on {device}: {_first_line(err)}.") from None
        result.status = "oom"
        result.error = f"Out of memory at batch {batch} on {device}; skipped."
        return result
    finally:
        if gc_was_enabled:
            gc.enable()
        del x
        _free(device)
    result.iterations_per_sample = calls
    result.stats = summarize([s / calls for s in m.samples_ns], protocol.confidence)
    if cuda:
        result.peak_memory_bytes = torch.cuda.max_memory_allocated(device)
    iterations = len(m.samples_ns) * calls
    result.measurement = {
        "iterations": iterations,
        "elapsed_s": m.elapsed_ns / _NS,
        "stop_reason": m.stop_reason,
        "median_ci_rel": m.ci_rel,
        "warmup_iterations": warm.iterations,
        "warmup_s": warm.elapsed_ns / _NS,
        "warmup_settled": warm.settled,
        "timer": "cuda_events" if cuda else "perf_counter_ns",
        "gc_disabled": True,
        "other_processes_cores": None if other.cores is None else round(other.cores, 3),
        "minor_faults_per_call": None if kernel.minor_faults is None else kernel.minor_faults / iterations,
        "kernel_ms_per_call": None if kernel.system_s is None else kernel.system_s * 1e3 / iterations,
    }
    kernel_share = None if kernel.system_s is None else kernel.system_s * _NS / max(m.elapsed_ns, 1)
    if not cuda and kernel_share is not None and kernel_share >= KERNEL_SHARE_WARNING:
        # On CUDA the host thread's system time is mostly waiting in the driver; on CPU it is overhead.
        faults = result.measurement["minor_faults_per_call"] or 0
        why = (
            f"{faults:.0f} page faults per call: memory is returned to the system and faulted back in"
            if faults >= 1 else "system calls, not page faults"
        )
        result.warnings.append(f"The kernel took {kernel_share:.0%} of the measured time ({why}).")
    # On CPU every thread needs a core; on CUDA one host thread launches the work.
    needed, cores = (1 if cuda else torch.get_num_threads()), usable_cores()
    if other.cores is not None and other.cores > max(0.0, cores - needed) + 0.25:
        result.warnings.append(
            f"Other processes kept {other.cores:.1f} of {cores} cores busy while this needed {needed}: "
            "times are inflated."
        )
    if result.stats.iqr_rel >= UNSTABLE_IQR:
        result.warnings.append(f"Unstable: the IQR is {result.stats.iqr_rel:.0%} of the median.")
    if m.stop_reason != "converged":
        known = "too few samples for a confidence interval" if m.ci_rel is None else f"the median known to ±{m.ci_rel:.1%}"
        result.warnings.append(
            f"Stopped at --max-time with {known} (target ±{protocol.rel_precision:.0%}); raise --max-time."
        )
    if not warm.settled:
        result.warnings.append(f"The warm-up did not settle within {protocol.warmup_max_time:g} s.")
    return result


def compare_latency(models: Sequence[Any], input_size: Sequence[int] | None = None, **options: Any) -> list[dict[str, Any] | None]:
    """Per model, in order, its `latency_ms` statistics (a dict with "median",
    "p10", ... in ms) or None where it was skipped; for `netstat compare
    --bench`. `options` go to `benchmark` (default: batch 1, all usable cores)."""
    results = benchmark(list(models), input_size, **options)
    return [None if r.stats is None else r.stats.to_ms() for r in results]
