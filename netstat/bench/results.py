"""What `benchmark` returns: one BenchResult per model and batch, its
derived quantities (throughput, achieved FLOP/s, the roofline bound) and the
JSON document `netstat bench --format json` writes (schema SCHEMA_VERSION)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from netstat.bench.roofline import Roofline
from netstat.bench.stats import NS, Stats
from netstat.display import Displayed, data_frame
from netstat.schema import SCHEMA_VERSION


@dataclass(frozen=True)
class BenchProgress:
    """What the measurement is doing; `fraction` (0..1) is within task `index`
    of `total` tasks."""

    task: str
    phase: str  # "build" | "cold start" | "warm-up" | "measure" | "done" | "skipped"
    fraction: float
    index: int
    total: int


ProgressFn = Callable[[BenchProgress], None]


@dataclass
class BenchResult(Displayed):
    """One model at one batch size on one device."""

    model: str
    device: str
    batch: int
    dtype: str
    mode: str
    input_shape: tuple[int, ...]  # the first input's
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
    inputs: list[dict[str, Any]] = field(default_factory=list)  # every input the forward got (Inputs.to_dict)
    inputs_text: str = ""  # the same, as Inputs.describe() writes it

    @property
    def described_inputs(self) -> str:
        """'1x3x224x224' or '1x12:int64, attention_mask=1x12:int64'."""
        return self.inputs_text or "x".join(map(str, self.input_shape))

    @property
    def median_ms(self) -> float | None:
        return None if self.stats is None else self.stats.median / 1e6

    @property
    def samples_per_s(self) -> float | None:
        """Samples per second at the median per-iteration time."""
        return None if self.stats is None else self.batch * NS / self.stats.median

    @property
    def achieved_flops_per_s(self) -> float | None:
        if self.stats is None or self.flops is None:
            return None
        return self.flops * NS / self.stats.median

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
            "inputs": list(self.inputs),
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

    def to_pandas(self):
        """This result as a one-row pandas DataFrame (the columns of `to_dict()`)."""
        return data_frame([self.to_dict()])

    def __repr__(self) -> str:
        return self.summary()


@dataclass
class BenchRun:
    """Several models measured interleaved at one batch size
    (netstat.bench.interleaved): their ratios to the first, every round, the
    probe, and what the rounds say about the host."""

    batch: int
    models: list[str]
    plan: dict[str, Any]
    probe: dict[str, Any]  # the calibration kernel: kernel, device, calls, target_ms, median_ms, max_slowdown
    comparisons: list[dict[str, Any]]  # {"model", "baseline", "batch", "ratio", "ci": [lo, hi], "rounds"}
    rounds: list[dict[str, Any]]  # {"round", "order", "block_ms", "probe_ms", "unsteady"}
    unsteady_rounds: list[int]  # round numbers
    stop_reason: str
    warnings: list[str] = field(default_factory=list)


class BenchResults(Displayed, list):
    """What `benchmark` returns: a list of BenchResult, one per model and
    batch; `runs` holds the interleaved measurements of several models."""

    def __init__(self, results: Sequence[BenchResult] = (), runs: Sequence[BenchRun] = ()) -> None:
        super().__init__(results)
        self.runs: list[BenchRun] = list(runs)

    def to_pandas(self):
        """One row per result (the columns of `BenchResult.to_dict()`) as a pandas DataFrame."""
        return data_frame(r.to_dict() for r in self)

    def __repr__(self) -> str:
        return self.summary()


def to_json(results: Sequence[BenchResult]) -> dict[str, Any]:
    """The document `netstat bench --format json` writes: the results, and for
    several models the ratios, rounds and probe of the interleaved runs."""
    runs: list[BenchRun] = list(getattr(results, "runs", []))
    return {
        "schema_version": SCHEMA_VERSION,
        "results": [r.to_dict() for r in results],
        "comparisons": [c for run in runs for c in run.comparisons],
        "rounds": [{"batch": run.batch, **r} for run in runs for r in run.rounds],
        "probe": [{"batch": run.batch, "round": r["round"], "ms": r["probe_ms"], "unsteady": r["unsteady"]}
                  for run in runs for r in run.rounds],
        "probe_kernel": [{"batch": run.batch, **run.probe} for run in runs],
        "unsteady_rounds": [n for run in runs for n in run.unsteady_rounds],
        "interleaved": [{"batch": run.batch, "models": run.models, "plan": run.plan, "stop_reason": run.stop_reason,
                         "warnings": run.warnings} for run in runs],
    }
