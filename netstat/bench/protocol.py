"""The timed loop: the measuring window, warm-up until stable, adaptive
sampling until the median is known, and the steps that time calls.

Steps and clocks are plain callables (a step returns one sample's duration in
ns), so the stopping rules run unchanged on fake clocks in the tests.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from netstat.bench.stats import NS, median, median_ci_rel
from netstat.errors import ArgumentError

Clock = Callable[[], int]  # nanoseconds
Step = Callable[[], int]  # runs one sample, returns its duration in nanoseconds
Report = Callable[[float], None]  # the fraction (0..1) of a loop done


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
            raise ArgumentError("{min_time} must be a positive number of seconds, not {given}.", given=min_time)
        if not (max_time >= min_time and math.isfinite(max_time)):
            raise ArgumentError(
                "{max_time} ({given} s) must be at least {min_time} ({least} s).", given=max_time, least=min_time
            )
        warm_min = min(0.25, min_time)
        return cls(
            min_time=min_time,
            max_time=max_time,
            warmup_min_time=warm_min,
            warmup_max_time=max(warm_min, min(5.0, max_time / 2)),
            block_time=min(0.05, min_time / 10),
        )

    def block_calls(self, estimate_ns: float) -> int:
        """Calls per block so that one block of back-to-back calls lasts about
        `block_time`, from the warm-up's per-call estimate (throughput mode)."""
        return max(1, round(self.block_time * NS / max(estimate_ns, 1)))

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


@dataclass(frozen=True)
class PhaseReport:
    """A loop's fraction done, passed on as `callback(phase, start + span *
    fraction)`: places one loop within a longer task's progress."""

    callback: Callable[[str, float], None]
    phase: str
    start: float = 0.0
    span: float = 1.0

    def __call__(self, fraction: float) -> None:
        self.callback(self.phase, self.start + self.span * fraction)


def _settled(times: list[int], protocol: Protocol) -> bool:
    """Is the median of the latest quarter (at least a window) within the
    tolerance of the quarter before it?"""
    w = max(protocol.warmup_window, len(times) // 4)
    recent, before = median(times[-w:]), median(times[-2 * w : -w])
    return before > 0 and abs(recent - before) / before <= protocol.warmup_tolerance


def warm_up(step: Step, clock: Clock, protocol: Protocol, report: Report | None = None) -> WarmUp:
    """Call `step` until the running median settles: at least
    warmup_min_iters calls and warmup_min_time, at most warmup_max_time."""
    start = clock()
    min_ns, max_ns = protocol.warmup_min_time * NS, protocol.warmup_max_time * NS
    times: list[int] = []
    next_check = max(protocol.warmup_min_iters, 2 * protocol.warmup_window)
    settled = False
    while True:
        times.append(step())
        elapsed = clock() - start
        n = len(times)
        if n >= next_check and elapsed >= min_ns:
            if _settled(times, protocol):
                settled = True
                break
            next_check = max(n + 1, int(n * 1.1))
        if elapsed >= max_ns:
            break
        if report is not None:
            report(min(elapsed / max(min_ns, 1), 1.0))
    w = max(protocol.warmup_window, len(times) // 4)
    return WarmUp(len(times), clock() - start, settled, median(times[-w:]))


def _fraction_done(elapsed: float, ci: float | None, protocol: Protocol) -> float:
    """Estimated share of the measurement done: the CI shrinks as 1/sqrt(n),
    so the time to reach the target precision is predicted from the last CI."""
    min_ns, max_ns = protocol.min_time * NS, protocol.max_time * NS
    predicted = min_ns if ci is None else elapsed * (ci / protocol.rel_precision) ** 2
    return min(elapsed / min(max(predicted, min_ns), max_ns), 0.99)


def measure(step: Step, clock: Clock, protocol: Protocol, report: Report | None = None) -> Measurement:
    """Call `step` until the median is known to ±rel_precision (after at least
    min_time) or max_time has passed; `report` gets the estimated fraction done."""
    samples: list[int] = []
    start = clock()
    min_ns, max_ns = protocol.min_time * NS, protocol.max_time * NS
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
            report(_fraction_done(elapsed, ci, protocol))
    if reason != "converged":
        ci = median_ci_rel(sorted(samples), protocol.confidence)
    return Measurement(samples, clock() - start, reason, ci)


class CpuStep:
    """`calls` back-to-back calls of `fn`, timed with perf_counter_ns."""

    __slots__ = ("fn", "calls")

    def __init__(self, fn: Callable[[], Any], calls: int = 1) -> None:
        self.fn, self.calls = fn, calls

    def __call__(self) -> int:
        fn, calls, clock = self.fn, self.calls, time.perf_counter_ns
        if calls == 1:  # no loop inside the timed region
            t0 = clock()
            fn()
            return clock() - t0
        t0 = clock()
        for _ in range(calls):
            fn()
        return clock() - t0


class CudaStep:
    """`calls` back-to-back calls of `fn` between two CUDA events, then one
    synchronisation: the GPU's time, not the host's."""

    __slots__ = ("fn", "calls", "start", "end")

    def __init__(self, fn: Callable[[], Any], calls: int = 1) -> None:
        import torch

        self.fn, self.calls = fn, calls
        self.start, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def __call__(self) -> int:
        fn, calls = self.fn, self.calls
        self.start.record()
        for _ in range(calls):
            fn()
        self.end.record()
        self.end.synchronize()
        return round(self.start.elapsed_time(self.end) * 1e6)


def make_step(fn: Callable[[], Any], device: str, calls: int = 1) -> Step:
    """A step that runs `fn` `calls` times back to back and returns the time in
    ns: perf_counter_ns on CPU; CUDA events then one synchronisation on CUDA."""
    return CudaStep(fn, calls) if device.startswith("cuda") else CpuStep(fn, calls)
