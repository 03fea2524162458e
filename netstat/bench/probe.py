"""The steadiness probe: a fixed calibration kernel timed around every block
of an interleaved measurement (netstat.bench.interleaved).

The kernel is an fp32 256 x 256 matrix product (`torch.mm(a, b, out=c)`) on
the measured device, repeated back to back so that one probe lasts about
1 ms, with the same thread count as the models. Nothing about it changes
between rounds, so when it runs slower the host did: another process took
the core, the clock dropped, a neighbour on a shared VM got busy. A round
whose probe (the mean of the probes around its blocks) ran more than the
threshold (10%) slower than the median over all rounds is unsteady.

On CPU the probe is scaled by the round's wall time over the CPU time the
process got in it: on a core shared with other processes a 1 ms kernel
mostly runs whole between two preemptions, while the models' blocks around
it wait for the core; wall / CPU counts that wait for the whole round.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from netstat.bench.protocol import Protocol, Step, make_step, warm_up
from netstat.bench.stats import NS, median

PROBE_SIZE = 256  # n of the n x n matmul
PROBE_TIME = 0.001  # s per probe


class MatmulKernel:
    """`torch.mm(a, b, out=c)` on fixed n x n fp32 matrices (seed 0)."""

    def __init__(self, device: str, size: int = PROBE_SIZE) -> None:
        import torch

        generator = torch.Generator(device=device).manual_seed(0)
        self.a = torch.randn(size, size, generator=generator, device=device)
        self.b = torch.randn(size, size, generator=generator, device=device)
        self.c = torch.empty(size, size, device=device)
        self.size = size

    def __call__(self) -> None:
        import torch

        torch.mm(self.a, self.b, out=self.c)


def calibration(device: str) -> tuple[Step, dict[str, Any]]:
    """The probe's step (the kernel repeated to last about PROBE_TIME, sized
    from a short warm-up) and its JSON description."""
    kernel = MatmulKernel(device)
    quick = Protocol(warmup_min_time=0.05, warmup_max_time=0.5)
    warm = warm_up(make_step(kernel, device), time.perf_counter_ns, quick)
    calls = max(1, round(PROBE_TIME * NS / max(warm.estimate_ns, 1)))
    described = {"kernel": f"matmul {kernel.size}x{kernel.size} fp32", "device": device, "calls": calls,
                 "target_ms": PROBE_TIME * 1e3}
    return make_step(kernel, device, calls), described


def host_time(probe_ns: Sequence[float], wall_ns: Sequence[float] = (), cpu_ns: Sequence[float] = ()) -> list[float]:
    """Per round, how slow the host was: the probe's time, times the round's
    wall time over the process's CPU time when that was measured."""
    if not cpu_ns:
        return list(probe_ns)
    return [p * (w / c if c > 0 else 1.0) for p, w, c in zip(probe_ns, wall_ns, cpu_ns)]


def flag_unsteady(probe_ns: Sequence[float], threshold: float) -> list[int]:
    """Indices of the rounds whose host time (or probe) was more than
    `threshold` above its median."""
    if not probe_ns:
        return []
    limit = (1 + threshold) * median(probe_ns)
    return [i for i, p in enumerate(probe_ns) if p > limit]


def round_ranges(numbers: Sequence[int]) -> str:
    """'3-5, 9' for [3, 4, 5, 9] (sorted, distinct)."""
    parts: list[str] = []
    run: list[int] = []
    for n in sorted(set(numbers)):
        if run and n != run[-1] + 1:
            parts.append(_span(run))
            run = []
        run.append(n)
    if run:
        parts.append(_span(run))
    return ", ".join(parts)


def _span(run: list[int]) -> str:
    return str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}"


def unsteady_warning(host_ns: Sequence[float], flagged: Sequence[int], first: int, threshold: float,
                     dropped: bool) -> str | None:
    """One line when the host's speed (host_time per round) varied by more
    than `threshold`: by how much and in which rounds (numbered from
    `first`); None otherwise."""
    if not flagged:
        return None
    med = median(host_ns)
    worst = max(host_ns[i] for i in flagged) / med - 1
    fate = "they were dropped" if dropped else "they are kept (--drop-unsteady, or drop_unsteady=True, drops them)"
    return (
        f"The host's speed varied by more than {threshold:.0%}: it ran up to {worst:.0%} slower than its median "
        f"(calibration kernel, and on CPU the share of the core this process got) in {len(flagged)} of {len(host_ns)} rounds "
        f"(round{'s' if len(flagged) > 1 else ''} {round_ranges([first + i for i in flagged])}); {fate}."
    )
