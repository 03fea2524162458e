"""The same benchmark in N fresh processes, pooled: how much each ratio and
each absolute median moves from one process to the next.

Each process is `python -m netstat bench ARGS --format json --no-progress`
run one after the other, each with a timeout. Their interleaved rounds are
pooled (the bootstrap resamples each process's rounds within that process),
and every ratio and median is shown per process beside its spread
(max / min - 1).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from typing import Any, Callable, Sequence

from netstat.bench.interleaved import Plan, Ratio, ratios
from netstat.bench.stats import median
from netstat.errors import ArgumentError, ModelRunError, UsageError, first_line
from netstat.schema import SCHEMA_VERSION

ProcessReport = Callable[[int, int], None]  # (process index done, count)


MAX_PROCESSES = 64


def check_processes(count: Any) -> None:
    """A process count is a whole number from 1 to MAX_PROCESSES (64). The
    processes run one after another, so the bound is not the number of cores
    but the time: 64 runs of even a short measurement take many minutes, and a
    count beyond it is more likely a slip (a batch or a thread count) than a
    wish; one sentence (UsageError) says so."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_PROCESSES:
        raise ArgumentError("{processes} must be a whole number from 1 to {most}, not {given}.", most=MAX_PROCESSES, given=count)


def in_processes(args: Sequence[str], count: int, timeout_s: float, report: ProcessReport | None = None) -> list[dict[str, Any]]:
    """The JSON documents of `count` fresh `netstat bench ARGS` processes run
    one after another; one sentence (UsageError for the child's bad usage,
    ModelRunError otherwise) when one fails or runs past `timeout_s`."""
    check_processes(count)
    command = [sys.executable, "-m", "netstat", "bench", *args, "--format", "json", "--no-progress"]
    docs = []
    for i in range(count):
        if report is not None:
            report(i, count)
        docs.append(_one(command, i, count, timeout_s))
    return docs


def _one(command: list[str], i: int, count: int, timeout_s: float) -> dict[str, Any]:
    which = f"Benchmark process {i + 1} of {count}"
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise ModelRunError(f"{which} did not finish within {timeout_s:.0f} s and was stopped.") from None
    if proc.returncode != 0:
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        said = lines[-1].removeprefix("Error:").strip() if lines else "no message"
        error = UsageError if proc.returncode == 2 else ModelRunError
        raise error(f"{which} failed (exit {proc.returncode}): {said}")
    try:
        return json.loads(proc.stdout)
    except ValueError as err:
        raise ModelRunError(f"{which} wrote no JSON document: {first_line(err)}.") from None


def spread(values: Sequence[float]) -> float | None:
    """max / min - 1 (None for no values or a non-positive minimum)."""
    return None if not values or min(values) <= 0 else max(values) / min(values) - 1


def pool(docs: Sequence[dict[str, Any]], plan: Plan | None = None) -> dict[str, Any]:
    """Per model and batch the median of each process, and per ratio each
    process's value and CI, the pooled ratio with its CI (rounds resampled
    within their process) and whether each process's CI contains it."""
    plan = plan or Plan()
    medians = _medians(docs)
    comparisons = []
    for key in dict.fromkeys((c["model"], c["baseline"], c["batch"]) for d in docs for c in d.get("comparisons", [])):
        comparisons.append(_pooled_ratio(docs, key, plan))
    return {"schema_version": SCHEMA_VERSION, "processes": len(docs), "medians": medians,
            "comparisons": comparisons, "runs": list(docs)}


def _medians(docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per result (the same position in every document), each process's median."""
    out = []
    for i, first in enumerate(docs[0]["results"] if docs else []):
        values = [d["results"][i]["latency_ms"]["median"] for d in docs
                  if i < len(d["results"]) and d["results"][i].get("latency_ms")]
        out.append({"model": first["model"], "batch": first["batch"], "per_process_ms": values,
                    "median_ms": median(values) if values else None, "spread": spread(values)})
    return out


def _pooled_ratio(docs: Sequence[dict[str, Any]], key: tuple[str, str, int], plan: Plan) -> dict[str, Any]:
    model, baseline, batch = key
    per = [next((c for c in d.get("comparisons", []) if (c["model"], c["baseline"], c["batch"]) == key), None)
           for d in docs]
    base, other, groups = [], [], []
    for p, d in enumerate(docs):
        for r in d.get("rounds", []):
            if r["batch"] == batch and model in r["block_ms"] and baseline in r["block_ms"] and _kept(r, d):
                base.append(r["block_ms"][baseline])
                other.append(r["block_ms"][model])
                groups.append(p)
    found: list[Ratio | None] = list(ratios([base, other], replace(plan, drop_unsteady=False), groups))
    (pooled,) = found or [None]
    values = [c["ratio"] for c in per if c is not None]
    return {
        "model": model, "baseline": baseline, "batch": batch,
        "ratio": None if pooled is None else pooled.ratio,
        "ci": None if pooled is None else [pooled.low, pooled.high],
        "rounds": len(base),
        "per_process": [None if c is None else {"ratio": c["ratio"], "ci": c["ci"], "rounds": c["rounds"]} for c in per],
        "spread": spread(values),
        "within_ci": [None if c is None or pooled is None else c["ci"][0] <= pooled.ratio <= c["ci"][1] for c in per],
    }


def _kept(record: dict[str, Any], doc: dict[str, Any]) -> bool:
    """Was this round used by its process (not dropped as unsteady)?"""
    dropped = any(run["plan"].get("drop_unsteady") for run in doc.get("interleaved", []) if run["batch"] == record["batch"])
    return not (dropped and record["unsteady"])
