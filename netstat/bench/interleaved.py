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
over rounds (the same rounds for every model, numpy with a fixed seed), so
the pairing of blocks within a round is kept. Rounds are resampled in
circular blocks of consecutive rounds (`block_length`: Politis and White's
automatic length, at least n^(1/3)), not one by one: a slow spell of the
machine spans several rounds, and resampling rounds as if independent gave
intervals that two back-to-back processes' ratios each fell outside of
(issue 25; `tests/test_block_bootstrap.py`, `tests/bench/bench_ratio_coverage.py`).
The interval is widened to the batch means interval of the run (`batch_means`:
a ratio that drifts with the machine's load) and is never narrower than
with rounds resampled one by one. Each model's median is known from the distribution-free CI of the
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


BOOTSTRAP = ("circular blocks of consecutive rounds (Politis-White length, at least n^(1/3)), widened to the batch means "
             "interval (5 batches) and never narrower than rounds resampled singly")


@dataclass(frozen=True)
class Plan:
    """Every knob of an interleaved measurement; recorded in each result."""

    precision: float = 0.01  # stop when every median and ratio is known to ± this
    min_time: float = 1.0  # s of rounds at least
    max_time: float = 10.0  # s of rounds at most
    min_rounds: int = 10
    confidence: float = 0.95
    resamples: int = 1000  # bootstrap resamples of the rounds (in blocks: block_length)
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
                "bootstrap_resamples": self.resamples, "bootstrap_seed": self.seed, "bootstrap": BOOTSTRAP, "block_time": self.block_time,
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
    process it came from) keeps each resample's rounds within their group.
    The interval spans the block bootstrap's (`block_length`), the one of
    rounds resampled one by one and, for one run (no `groups`), the batch
    means interval (`batch_means`): blocks widen it where slow spells span
    rounds, batch means where the ratio itself drifts during the run, and
    it is never narrower than treating rounds as independent (which a
    series with alternating rounds would)."""
    import numpy as np

    table = np.asarray(values, dtype=float).T  # [round][model]
    n, models = table.shape
    if models < 2 or n == 0:
        return []
    point = np.median(table, axis=0)
    blocks = bootstrap_medians(table, plan.resamples, plan.seed, groups)
    single = bootstrap_medians(table, plan.resamples, plan.seed, groups, block=1)
    q = [100 * (1.0 - plan.confidence) / 2, 100 * (1 + plan.confidence) / 2]
    out = []
    for m in range(1, models):
        bounds = [np.percentile(blocks[:, m] / blocks[:, 0], q), np.percentile(single[:, m] / single[:, 0], q)]
        means = batch_means(table, m, plan.confidence) if groups is None else None
        bounds += [means] if means else []
        out.append(Ratio(m, float(point[m] / point[0]), float(min(b[0] for b in bounds)), float(max(b[1] for b in bounds)), n))
    return out


BATCHES = 5  # consecutive batches of rounds in the batch means interval


def batch_means(table, m: int, confidence: float) -> tuple[float, float] | None:
    """The non-overlapping batch means interval of model m's ratio to model 0:
    the rounds cut into BATCHES consecutive batches, the log of each batch's
    ratio of medians, exp(mean -+ t sd / sqrt(BATCHES)) with Student's t of
    BATCHES - 1 degrees of freedom. A ratio that drifts during the run (the
    machine's load changed) spreads the batches apart. None under 4 rounds
    per batch."""
    import numpy as np

    if table.shape[0] < 4 * BATCHES:
        return None
    logs = [math.log(np.median(part[:, m]) / np.median(part[:, 0])) for part in np.array_split(table, BATCHES)]
    half = t4_quantile((1 + confidence) / 2) * float(np.std(logs, ddof=1)) / math.sqrt(BATCHES)
    centre = float(np.mean(logs))
    return math.exp(centre - half), math.exp(centre + half)


def t4_quantile(p: float) -> float:
    """The p-quantile (p > 1/2) of Student's t with 4 degrees of freedom, by
    bisection on its closed-form CDF: F(t) = 1/2 + 3/8 u (1 - u^2 / 12)
    with u = t / sqrt(1 + t^2 / 4) (0.975 -> 2.776)."""
    lo, hi = 0.0, 1000.0
    for _ in range(100):
        mid = (lo + hi) / 2
        u = mid / math.sqrt(1 + mid * mid / 4)
        lo, hi = (mid, hi) if 0.5 + 0.375 * u * (1 - u * u / 12) < p else (lo, mid)
    return (lo + hi) / 2


def bootstrap_medians(table, resamples: int, seed: int, groups: Sequence[int] | None = None, chunk: int = 250,
                      block: int | None = None):
    """[resample][model]: each model's median over rounds resampled in
    circular blocks of consecutive rounds (the same rounds for every model),
    within `groups` if given. `block` rounds per block (1: rounds resampled
    one by one, as if independent); None: each group's `block_length`."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = table.shape[0]
    members = [np.arange(n)] if groups is None else [np.flatnonzero(np.asarray(groups) == g) for g in dict.fromkeys(groups)]
    lengths = [block or block_length(table[rows]) for rows in members]
    out = []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        index = np.concatenate([rows[circular_blocks(rng, len(rows), b, size)] for rows, b in zip(members, lengths)], axis=1)
        out.append(np.median(table[index], axis=1))
    return np.concatenate(out, axis=0)


def circular_blocks(rng, n: int, block: int, size: int):
    """[size][n] positions 0..n-1 of `size` circular block bootstrap
    resamples (Politis and Romano 1992): ceil(n / block) blocks of `block`
    consecutive positions, each starting anywhere and wrapping around the
    end, joined and cut to n."""
    import numpy as np

    block = max(1, min(block, n))
    starts = rng.integers(0, n, (size, -(-n // block)))
    return ((starts[:, :, None] + np.arange(block)) % n).reshape(size, -1)[:, :n]


def block_length(table) -> int:
    """Rounds per bootstrap block for `table[round][model]`: the largest of
    ceil(n^(1/3)) (the order of the optimal length for a smooth statistic of
    a weakly dependent series) and Politis and White's (2004, with Patton,
    Politis and White's 2009 correction) automatic choice for the circular
    block bootstrap, taken over the log of every model's column and the log
    of every ratio to model 0, at most n / 2: a slow spell that spans
    rounds then stays inside a block, so that the resamples vary as much as
    the machine did."""
    import numpy as np

    n, models = table.shape
    if n < 4:
        return 1
    logs = np.log(np.maximum(np.asarray(table, dtype=float), 1e-300))
    series = [logs[:, m] for m in range(models)] + [logs[:, m] - logs[:, 0] for m in range(1, models)]
    chosen = max([math.ceil(n ** (1 / 3))] + [politis_white(s) for s in series])
    return int(min(chosen, n // 2))


def politis_white(x) -> int:
    """Politis and White's (2004) automatic block length for the circular
    block bootstrap of the mean of series `x`, as corrected by Patton,
    Politis and White (2009): b = (2 G^2 / D)^(1/3) n^(1/3), with G and the
    long-run variance g0 from the flat-top (trapezoid) lag window over the
    autocovariances up to 2 m, m the first lag after which K_N = max(5,
    sqrt(log10 n)) autocorrelations in a row are below 2 sqrt(log10(n) / n),
    and D = 4/3 g0^2. 1 for a series with no variance."""
    import numpy as np

    x = np.asarray(x, dtype=float) - np.mean(x)
    n = len(x)
    var = float(np.dot(x, x)) / n
    if n < 4 or var <= 0:
        return 1
    kn = max(5, math.ceil(math.sqrt(math.log10(n))))
    m_max = min(math.ceil(math.sqrt(n)) + kn, n - 1)
    acov = np.array([np.dot(x[: n - k], x[k:]) / n for k in range(m_max + 1)])
    small = np.abs(acov[1:] / var) < 2 * math.sqrt(math.log10(n) / n)
    m = next((k for k in range(m_max - kn + 1) if small[k:k + kn].all()), m_max)
    lag_max = min(2 * max(m, 1), m_max)
    lags = np.arange(1, lag_max + 1)
    window = np.clip(2 * (1 - lags / lag_max), 0, 1)  # flat-top: 1 up to half the lags, then down to 0
    g = 2 * float(np.sum(window * lags * acov[1:lag_max + 1]))
    g0 = var + 2 * float(np.sum(window * acov[1:lag_max + 1]))
    if g0 <= 0:
        return 1
    return max(1, math.ceil((2 * g * g / (4 / 3 * g0 * g0)) ** (1 / 3) * n ** (1 / 3)))


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
