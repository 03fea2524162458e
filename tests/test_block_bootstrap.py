"""The block bootstrap of interleaved ratios (issue 25): rounds resampled in
circular blocks of consecutive rounds, so that a slow spell of the machine
that spans rounds widens the interval as it should.

The independent sources: an AR(1) series, whose Politis-White block length
is written out by hand from its autocovariances, and a simulated slow-spell
process whose true ratio of medians is known by construction.
"""

from __future__ import annotations

import math

import numpy as np

from netstat.bench.interleaved import Plan, block_length, bootstrap_medians, circular_blocks, politis_white, ratios

TRUE_RATIO = 2.0


def ar1(rng, n: int, phi: float, sd: float = 1.0) -> np.ndarray:
    """A stationary AR(1) series: x_t = phi x_(t-1) + e_t, var(x) = sd^2."""
    e = rng.standard_normal(n) * sd * math.sqrt(1 - phi * phi)
    x = np.empty(n)
    x[0] = rng.standard_normal() * sd
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


def slow_spells(rng, n: int, phi: float = 0.8) -> np.ndarray:
    """[round][model] times of two models on a host whose slowdown is an AR(1)
    process in log time (slow spells span rounds); model 1 is TRUE_RATIO x
    model 0 and suffers 1.5 x as much from a spell. Log-slowdown and noise
    are symmetric about 0, so the ratio of the population medians is
    exactly TRUE_RATIO."""
    spell = ar1(rng, n, phi, sd=0.1)
    base = np.exp(spell + 0.01 * rng.standard_normal(n))
    other = TRUE_RATIO * np.exp(1.5 * spell + 0.01 * rng.standard_normal(n))
    return np.stack([base, other], axis=1)


def test_circular_blocks_are_runs_of_consecutive_rounds_wrapping_at_the_end():
    rng = np.random.default_rng(0)
    index = circular_blocks(rng, n=10, block=4, size=50)
    assert index.shape == (50, 10)
    assert index.min() >= 0 and index.max() <= 9
    for row in index:
        for start in (0, 4):  # the first two whole blocks of the row
            run = row[start:start + 4]
            assert all((b - a) % 10 == 1 for a, b in zip(run, run[1:]))
    # block 1 is the ordinary bootstrap: any position, no runs imposed
    single = circular_blocks(rng, n=10, block=1, size=2000)
    assert set(single.ravel()) == set(range(10))


def test_politis_white_length_of_an_ar1_series_is_the_formula_written_out():
    # AR(1), autocovariance R(k) = s2 phi^|k|:
    #   G = sum_k |k| R(k) = 2 s2 phi / (1 - phi)^2,  g0 = sum_k R(k) = s2 (1 + phi) / (1 - phi)
    #   b = (2 G^2 / (4/3 g0^2))^(1/3) n^(1/3) = (6 phi^2 / ((1 - phi)^2 (1 + phi)^2))^(1/3) n^(1/3)
    n, phi = 5000, 0.5
    expected = (6 * phi**2 / ((1 - phi) ** 2 * (1 + phi) ** 2)) ** (1 / 3) * n ** (1 / 3)  # 37.6
    estimated = politis_white(ar1(np.random.default_rng(3), n, phi))
    assert abs(estimated - expected) / expected < 0.25, (estimated, expected)
    # white noise: the shortest blocks
    assert politis_white(np.random.default_rng(4).standard_normal(n)) <= 3
    assert politis_white(np.ones(50)) == 1  # no variance


def test_block_length_is_at_least_the_cube_root_and_at_most_half_the_rounds():
    rng = np.random.default_rng(5)
    independent = np.exp(0.05 * rng.standard_normal((125, 2)))
    assert block_length(np.ones((125, 2))) == 5  # no dependence at all: ceil(125^(1/3)), the floor of the rule
    dependent = slow_spells(rng, 125, phi=0.9)
    assert 5 <= block_length(independent) < block_length(dependent) <= 62
    assert block_length(np.exp(ar1(rng, 12, 0.99))[:, None] * [1.0, 2.0]) <= 6
    assert block_length(np.ones((3, 2))) == 1


def test_blocks_stay_within_their_group():
    table = np.stack([np.arange(1, 41, dtype=float), np.arange(1, 41, dtype=float) * 3], axis=1)
    groups = [0] * 20 + [1] * 20
    boot = bootstrap_medians(table, 200, seed=0, groups=groups, block=5)
    # every resample takes 20 rounds from each group: its median lies between
    # the two groups' values (rounds 1..20 and 21..40), and the ratio stays 3
    assert np.all((boot[:, 0] >= 1) & (boot[:, 0] <= 40))
    assert np.allclose(boot[:, 1] / boot[:, 0], 3.0)
    one_group = bootstrap_medians(table[:20], 200, seed=0, block=5)
    assert one_group[:, 0].max() <= 20


def coverage(block: int | None, replicates: int = 120, n: int = 150) -> float:
    """How often the 95% interval of the ratio (percentile bootstrap, 400
    resamples) covers TRUE_RATIO, over seeded slow-spell series."""
    rng = np.random.default_rng(1)
    hits = 0
    for r in range(replicates):
        boot = bootstrap_medians(slow_spells(rng, n), 400, seed=r, block=block)
        low, high = np.percentile(boot[:, 1] / boot[:, 0], [2.5, 97.5])
        hits += bool(low <= TRUE_RATIO <= high)
    return hits / replicates


def test_block_interval_covers_a_slow_spell_ratio_near_nominal_where_the_naive_one_does_not():
    naive = coverage(block=1)  # rounds resampled as if independent
    blocks = coverage(block=None)  # block_length's rule
    assert naive < 0.85, naive  # 0.77 with this seed
    assert blocks >= 0.88, blocks  # 0.93 with this seed


def test_ratios_on_slow_spells_are_wider_than_the_naive_interval():
    table = slow_spells(np.random.default_rng(7), 200, phi=0.9)
    (r,) = ratios(table.T, Plan(resamples=1000))
    naive = bootstrap_medians(table, 1000, seed=0, block=1)
    low, high = np.percentile(naive[:, 1] / naive[:, 0], [2.5, 97.5])
    assert (r.high - r.low) > 1.3 * (high - low)
    assert r.low < r.ratio < r.high
    assert ratios(table.T, Plan(resamples=1000)) == [r]  # seeded: the same interval twice


def test_t4_quantile_matches_the_printed_t_table():
    from netstat.bench.interleaved import t4_quantile

    # Student's t, 4 degrees of freedom (any printed table): 2.132, 2.776, 4.604
    assert abs(t4_quantile(0.95) - 2.132) < 1e-3
    assert abs(t4_quantile(0.975) - 2.776) < 1e-3
    assert abs(t4_quantile(0.995) - 4.604) < 1e-3


def test_a_ratio_that_drifts_during_the_run_widens_the_interval_by_batch_means():
    from netstat.bench.interleaved import batch_means

    rng = np.random.default_rng(11)
    n = 100
    base = np.exp(0.01 * rng.standard_normal(n))
    drift = np.linspace(2.0, 2.4, n)  # the load changed: the ratio moved from 2.0 to 2.4 during the run
    table = np.stack([base, drift * base * np.exp(0.01 * rng.standard_normal(n))], axis=1)
    low, high = batch_means(table, 1, 0.95)
    # the five batches' ratios are about 2.04, 2.12, 2.20, 2.28, 2.36: mean 2.20, sd 0.126 (log 0.057),
    # half-width 2.776 x 0.057 / sqrt(5) = 0.071 in log
    assert low < 2.07 and high > 2.33
    (r,) = ratios(table.T, Plan(resamples=500))
    assert r.low <= low and r.high >= high
    naive = bootstrap_medians(table, 500, seed=0, block=1)
    assert r.high - r.low > 1.5 * np.subtract(*np.percentile(naive[:, 1] / naive[:, 0], [97.5, 2.5]))
    assert batch_means(table[:19], 1, 0.95) is None  # under 4 rounds per batch
