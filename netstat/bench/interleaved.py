"""Several models measured together, so that their ratios hold on an
unsteady machine: rounds of one short block per model, the order rotated
each round (a Williams design), a calibration kernel (netstat.bench.probe) timed around every
block, until every model's median and every ratio against the first model is
known to the precision asked, or the time runs out.

A block is one untimed lead-in call (the other models' blocks have evicted
this one's weights from the caches; the lead-in brings them back, so the
timed calls are warm, as in a model timed alone), then a whole number of
timed back-to-back calls, sized from the warm-ups so that every model's
block lasts about the same: `block_time` (25 ms) or the slowest model's
call, whichever is longer. (Blocks of equal length meet a time-shared core
alike: a 10 ms call is rarely preempted, a 60 ms one nearly always, so
blocks of one call each would shift the slower model's median more.)
A round's value for a model is its block's mean time per call. The ratio of
model m to the baseline (model 0) is median over rounds of m's values /
median of the baseline's; its confidence interval is a percentile bootstrap
over rounds (rounds resampled with replacement, the same rounds for every
model, numpy with a fixed seed), so the pairing of blocks within a round is
kept. Each model's median is known from the distribution-free CI of the
median of its round values (netstat.bench.stats).

Steps and clocks are plain callables, as in netstat.bench.protocol, so the
rounds, rotation and stopping rule run unchanged on fake clocks in the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from netstat.bench.probe import flag_unsteady, host_time
from netstat.bench.protocol import Clock, Report, Step
from netstat.bench.stats import NS, median, median_ci_rel
from netstat.errors import ArgumentError


@dataclass(frozen=True)
class Plan:
    """Every knob of an interleaved measurement; recorded in each result."""

    precision: float = 0.01  # stop when every median and ratio is known to ± this
    min_time: float = 1.0  # s of rounds at least
    max_time: float = 10.0  # s of rounds at most
    min_rounds: int = 10
    confidence: float = 0.95
    resamples: int = 1000  # bootstrap resamples of the rounds
    seed: int = 0
    block_time: float = 0.025  # s per block
    unsteady: float = 0.10  # a round whose probe ran this much slower than its median is unsteady
    drop_unsteady: bool = False

    @classmethod
    def from_options(cls, precision: float, min_time: float, max_time: float, models: int, drop_unsteady: bool) -> Plan:
        """The plan for `models` models: each gets the measuring window it
        would get alone, so the rounds may take `models` times as long."""
        check_precision(precision)
        return cls(precision=precision, min_time=min_time * models, max_time=max_time * models,
                   block_time=min(0.025, min_time / 10), drop_unsteady=drop_unsteady)

    def block_calls(self, estimate_ns: float, slowest_ns: float = 0.0) -> int:
        """Calls per block so that a block lasts about block_time or the
        slowest model's call, whichever is longer (at least one call)."""
        return max(1, round(max(self.block_time * NS, slowest_ns) / max(estimate_ns, 1)))

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": "interleaved", "precision": self.precision, "min_time": self.min_time,
                "max_time": self.max_time, "min_rounds": self.min_rounds, "confidence": self.confidence,
                "bootstrap_resamples": self.resamples, "bootstrap_seed": self.seed, "block_time": self.block_time,
                "unsteady_threshold": self.unsteady, "drop_unsteady": self.drop_unsteady}


def check_precision(precision: float) -> None:
    """An ArgumentError unless 0 < precision < 1."""
    if not (isinstance(precision, (int, float)) and 0 < precision < 1):
        raise ArgumentError("{precision} must be a fraction between 0 and 1 (1% is 0.01), not {given}.", given=precision)


@dataclass(frozen=True)
class Block:
    """One model's block: `lead_in` run untimed (one call: it brings the
    model's weights back into the caches the other models evicted), then
    `repeats` runs of `step`, each timing `calls` calls (latency mode:
    `calls` 1, every call timed; throughput: one step of all)."""

    step: Step
    repeats: int = 1
    calls: int = 1
    lead_in: Callable[[], Any] | None = None

    def run(self) -> list[int]:
        if self.lead_in is not None:
            self.lead_in()
        return [self.step() for _ in range(self.repeats)]

    def per_call(self, samples: Sequence[int]) -> float:
        return sum(samples) / (self.repeats * self.calls)


@dataclass
class Rounds:
    """What the rounds recorded, per round: the order, each model's mean time
    per call in its block, its block's samples, the probe's time."""

    order: list[tuple[int, ...]] = field(default_factory=list)
    block_ns: list[list[float]] = field(default_factory=list)  # [round][model]
    samples_ns: list[list[list[int]]] = field(default_factory=list)  # [round][model][sample]
    probe_ns: list[float] = field(default_factory=list)
    start_ns: list[int] = field(default_factory=list)  # the clock when each round began
    wall_ns: list[int] = field(default_factory=list)  # each round's duration
    cpu_ns: list[int] = field(default_factory=list)  # the process's CPU time in each round (when measured)
    elapsed_ns: int = 0
    stop_reason: str = ""  # "converged" | "max_time"

    def __len__(self) -> int:
        return len(self.order)

    def host_ns(self) -> list[float]:
        """Per round, how slow the host was (netstat.bench.probe.host_time)."""
        return host_time(self.probe_ns, self.wall_ns, self.cpu_ns)


def rotation(index: int, models: int) -> tuple[int, ...]:
    """The order of round `index`: a Williams design, the first row
    0, 1, m-1, 2, m-2, ... shifted by one each round (and, for an odd number
    of models, mirrored every other turn), so that within each turn every
    model takes every place and follows every other model equally often."""
    first, low, high = [0], 1, models - 1
    while len(first) < models:
        first.append(low if len(first) % 2 else high)
        low, high = (low + 1, high) if len(first) % 2 == 0 else (low, high - 1)
    shift = index % models
    order = tuple((x + shift) % models for x in first)
    return order[::-1] if models % 2 and (index // models) % 2 else order


def run_rounds(blocks: Sequence[Block], probe: Step, clock: Clock, plan: Plan, report: Report | None = None,
               cpu_clock: Clock | None = None) -> Rounds:
    """Rounds of one block per model in the rotated order, the probe timed
    before each block and after the last (the round's probe is their mean),
    until `converged` (after min_rounds and min_time) or max_time;
    `cpu_clock` (the process's CPU time) tells how long it ran in each round."""
    rounds = Rounds()
    start = clock()
    min_ns, max_ns = plan.min_time * NS, plan.max_time * NS
    next_check = plan.min_rounds
    while True:
        began, cpu = clock(), cpu_clock() if cpu_clock is not None else 0
        _one_round(blocks, probe, rounds)
        rounds.start_ns.append(began)
        rounds.wall_ns.append(clock() - began)
        if cpu_clock is not None:
            rounds.cpu_ns.append(cpu_clock() - cpu)
        elapsed, n = clock() - start, len(rounds)
        if n >= next_check and elapsed >= min_ns:
            if known(rounds, plan):
                rounds.stop_reason = "converged"
                break
            next_check = max(n + 1, int(n * 1.1))
        if elapsed >= max_ns:
            rounds.stop_reason = "max_time"
            break
        if report is not None:
            report(min(elapsed / max_ns, 0.99))
    rounds.elapsed_ns = clock() - start
    return rounds


def _one_round(blocks: Sequence[Block], probe: Step, rounds: Rounds) -> None:
    order = rotation(len(rounds), len(blocks))
    values: list[float] = [0.0] * len(blocks)
    samples: list[list[int]] = [[] for _ in blocks]
    probes = [probe()]
    for i in order:
        samples[i] = blocks[i].run()
        values[i] = blocks[i].per_call(samples[i])
        probes.append(probe())
    rounds.order.append(order)
    rounds.block_ns.append(values)
    rounds.samples_ns.append(samples)
    rounds.probe_ns.append(sum(probes) / len(probes))  # a mean: a preempted probe counts


def kept_rounds(rounds: Rounds, plan: Plan) -> list[int]:
    """The rounds the statistics use: all, or the steady ones with drop_unsteady."""
    if not plan.drop_unsteady:
        return list(range(len(rounds)))
    flagged = set(flag_unsteady(rounds.host_ns(), plan.unsteady))
    return [r for r in range(len(rounds)) if r not in flagged]


def known(rounds: Rounds, plan: Plan) -> bool:
    """Is every model's median, and every ratio to model 0, known to ±precision?"""
    keep = kept_rounds(rounds, plan)
    if len(keep) < plan.min_rounds:
        return False
    values = [[rounds.block_ns[r][m] for r in keep] for m in range(len(rounds.block_ns[0]))]
    for column in values:
        ci = median_ci_rel(sorted(column), plan.confidence)
        if ci is None or ci > plan.precision:
            return False
    return all(c.half_width_rel <= plan.precision for c in ratios(values, plan))


# --------------------------------------------------------------------------- ratios and the bootstrap


@dataclass(frozen=True)
class Ratio:
    """Model m's median time per call over the baseline's, with its CI."""

    model: int
    ratio: float
    low: float
    high: float
    rounds: int

    @property
    def half_width_rel(self) -> float:
        return max(self.ratio - self.low, self.high - self.ratio) / self.ratio if self.ratio > 0 else math.inf


def ratios(values: Sequence[Sequence[float]], plan: Plan, groups: Sequence[int] | None = None) -> list[Ratio]:
    """Every model's ratio to model 0 from `values[model][round]`, with a
    percentile bootstrap CI over rounds; `groups` (one id per round, e.g. the
    process it came from) keeps each resample's rounds within their group."""
    import numpy as np

    table = np.asarray(values, dtype=float).T  # [round][model]
    n, models = table.shape
    if models < 2 or n == 0:
        return []
    point = np.median(table, axis=0)
    boot = bootstrap_medians(table, plan.resamples, plan.seed, groups)
    alpha = 1.0 - plan.confidence
    out = []
    for m in range(1, models):
        lo, hi = np.percentile(boot[:, m] / boot[:, 0], [100 * alpha / 2, 100 * (1 - alpha / 2)])
        out.append(Ratio(m, float(point[m] / point[0]), float(lo), float(hi), n))
    return out


def bootstrap_medians(table, resamples: int, seed: int, groups: Sequence[int] | None = None, chunk: int = 250):
    """[resample][model]: each model's median over rounds resampled with
    replacement (the same rounds for every model), within `groups` if given."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = table.shape[0]
    members = [np.arange(n)] if groups is None else [np.flatnonzero(np.asarray(groups) == g) for g in dict.fromkeys(groups)]
    out = []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        index = np.concatenate([rows[rng.integers(0, len(rows), (size, len(rows)))] for rows in members], axis=1)
        out.append(np.median(table[index], axis=1))
    return np.concatenate(out, axis=0)


# --------------------------------------------------------------------------- what the rounds found


@dataclass
class Summary:
    """The rounds' verdict: kept rounds, each model's median of its round
    values and how well it is known, the ratios, the unsteady rounds."""

    kept: list[int]
    medians_ns: list[float]
    median_ci_rel: list[float | None]
    ratios: list[Ratio]
    unsteady: list[int]  # 0-based round indices
    probe_median_ns: float
    max_slowdown: float  # the slowest round's host time / the median - 1


def summarize_rounds(rounds: Rounds, plan: Plan) -> Summary:
    keep = kept_rounds(rounds, plan) or list(range(len(rounds)))
    models = len(rounds.block_ns[0])
    values = [[rounds.block_ns[r][m] for r in keep] for m in range(models)]
    host = rounds.host_ns()
    return Summary(
        kept=keep,
        medians_ns=[median(v) for v in values],
        median_ci_rel=[median_ci_rel(sorted(v), plan.confidence) for v in values],
        ratios=ratios(values, plan),
        unsteady=flag_unsteady(host, plan.unsteady),
        probe_median_ns=median(rounds.probe_ns),
        max_slowdown=max(host) / median(host) - 1 if median(host) > 0 else 0.0,
    )


def round_records(rounds: Rounds, names: Sequence[str], first: int, unsteady: Sequence[int]) -> list[dict[str, Any]]:
    """Per round, its JSON record: number (from `first`), when it began (s
    after the first), order, each model's mean ms per call in its block, the
    probe's ms, unsteady."""
    flagged = set(unsteady)
    return [
        {"round": first + r, "at_s": (rounds.start_ns[r] - rounds.start_ns[0]) / NS,
         "order": [names[i] for i in rounds.order[r]],
         "block_ms": {names[m]: v / 1e6 for m, v in enumerate(rounds.block_ns[r])},
         "probe_ms": rounds.probe_ns[r] / 1e6,
         "cpu_share": rounds.cpu_ns[r] / rounds.wall_ns[r] if rounds.cpu_ns and rounds.wall_ns[r] else None,
         "unsteady": r in flagged}
        for r in range(len(rounds))
    ]



def unique_names(names: Sequence[str]) -> list[str]:
    """The names, a repeated one numbered ('net', 'net #2'), for JSON keys."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out
