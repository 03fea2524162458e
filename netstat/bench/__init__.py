"""Latency and throughput, measured so the numbers can be trusted.

The protocol (every choice is recorded in each result's JSON):

1. The model comes from ``ModelSource.instantiate`` on the chosen device:
   netstat's own build with real weights (seed 0, the caller's RNG
   untouched), or a working copy of a user's own module, which is never run
   (its forward may update buffers or caches); a detector's box counts are
   fixed, the same as in the profile that gives its MAdds. It is converted to
   the dtype and memory format asked for, put in eval mode and, with
   ``compile_mode``, wrapped in ``torch.compile``. The inputs are the model's
   own or the caller's (``netstat.inputs.Inputs``: every positional and
   keyword input), at each batch (``Inputs.with_batch``), made on the device
   (``Inputs.materialise``: zeros for a shape, so token ids stay in range; a
   copy of a real example), the floating-point ones cast with the model
   (token ids stay int64). Everything runs in netstat's own modes
   (``netstat.isolation.own_modes``: the caller's inference mode, autocast
   and RNG set aside), under ``torch.inference_mode()``
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
6. Several models are measured interleaved in one process
   (``interleaved``): after each one's cold start and warm-up, rounds of one
   block per model (an untimed lead-in call, then a whole number of timed
   calls lasting about 25 ms or the slowest model's call, whichever is
   longer, the same for every model), the order rotated each round (a Williams
   design), until every model's median and every ratio to the first model is
   known to ±``precision`` (ratio of medians of per-round block means, CI by a
   percentile bootstrap over rounds, numpy, seed 0), no sooner than
   ``min_time`` and no later than ``max_time`` per model. A calibration matmul
   (``probe``) is timed around every block: rounds where it ran more than 10%
   slower than its median are flagged, a warning says by how much, and
   ``drop_unsteady`` leaves them out. ``processes`` runs the CLI in fresh
   processes and pools their rounds.

Nothing here prints: progress goes through the optional ``progress`` callback.

Modules: ``stats`` (order statistics, the median's CI), ``protocol`` (the
timed loop: window, warm-up, sampling, steps), ``environment`` (the machine
record, the settings held while timing, device plumbing), ``roofline``
(``measure_roofline``), ``results`` (``BenchResult``, the JSON document) and
``run`` (``benchmark``), ``interleaved`` (rounds, rotation, the stopping
rule on ratios, the bootstrap), ``probe`` (the steadiness probe) and
``processes`` (``--processes``: fresh processes, pooled). This package
re-exports what callers use.
"""

from __future__ import annotations

from netstat.bench.environment import (
    DTYPES,
    KernelWork,
    OtherLoad,
    environment,
    gc_paused,
    measuring,
    torch_settings,
    usable_cores,
)
from netstat.bench.protocol import Measurement, Protocol, WarmUp, make_step, measure, warm_up
from netstat.bench.interleaved import Plan
from netstat.bench.results import SCHEMA_VERSION, BenchProgress, BenchResult, BenchResults, BenchRun, ProgressFn, to_json
from netstat.bench.roofline import Roofline, measure_roofline
from netstat.bench.run import COMPILE_MODES, MODES, UNSTABLE_IQR, benchmark
from netstat.bench.run import _prepare  # noqa: F401 - tests/test_bench.py checks the working copy through it
from netstat.bench.stats import Stats, median_ci_ranks, median_ci_rel, percentile, summarize

__all__ = [
    "COMPILE_MODES",
    "DTYPES",
    "MODES",
    "SCHEMA_VERSION",
    "UNSTABLE_IQR",
    "BenchProgress",
    "BenchResult",
    "BenchResults",
    "BenchRun",
    "KernelWork",
    "Measurement",
    "OtherLoad",
    "Plan",
    "ProgressFn",
    "Protocol",
    "Roofline",
    "Stats",
    "WarmUp",
    "benchmark",
    "environment",
    "gc_paused",
    "make_step",
    "measure",
    "measure_roofline",
    "measuring",
    "median_ci_ranks",
    "median_ci_rel",
    "percentile",
    "summarize",
    "to_json",
    "torch_settings",
    "usable_cores",
    "warm_up",
]
