"""Order statistics of timing samples: percentiles, the median's
distribution-free confidence interval, and the summary each result carries.

Pure arithmetic on numbers (nanoseconds by convention), no torch: the
protocol's stopping rule and the reported statistics both come from here.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any, Sequence

NS = 1_000_000_000  # nanoseconds per second: every sample is in ns


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, interpolating
    linearly between order statistics (numpy's default, Hyndman-Fan type 7)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    h = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(h)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def median(values: Sequence[float]) -> float:
    """The median of unsorted values (percentile 50)."""
    return percentile(sorted(values), 50)


def median_ci_ranks(n: int, confidence: float = 0.95) -> tuple[int, int] | None:
    """0-based ranks (lo, hi) of the distribution-free confidence interval of
    the median from n samples: [x_(r), x_(n+1-r)] in 1-based order statistics,
    with r the largest rank whose coverage 1 - 2 P(Bin(n, 1/2) <= r-1) is at
    least `confidence`. Exact up to n = 1000, normal approximation beyond.
    None when n is too small for any interval at this confidence."""
    alpha = 1.0 - confidence
    r = _exact_rank(n, alpha) if n <= 1000 else _normal_rank(n, alpha)
    if r < 1:
        return None
    return r - 1, n - r


def _exact_rank(n: int, alpha: float) -> int:
    """The largest r with 2 P(Bin(n, 1/2) <= r-1) <= alpha, summing the pmf."""
    pmf = 0.5**n
    cdf = 0.0  # P(B <= r-1)
    r = 0
    for i in range(n):
        if 2 * (cdf + pmf) > alpha:
            break
        cdf += pmf
        r = i + 1
        pmf *= (n - i) / (i + 1)
    return r


def _normal_rank(n: int, alpha: float) -> int:
    """The same rank from the normal approximation of Bin(n, 1/2)."""
    z = statistics.NormalDist().inv_cdf(1 - alpha / 2)
    return math.floor(n / 2 - z * math.sqrt(n) / 2 + 0.5)


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
