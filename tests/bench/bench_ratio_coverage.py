"""Do interleaved ratio intervals hold across processes? (issue 25)

    python tests/bench/bench_ratio_coverage.py [--processes 10] [--models resnet18,mobilenet_v3_small]
                                               [--min-time 3] [--max-time 6] [--threads 1]

Runs N fresh `netstat bench A B` processes one after another on this
(loaded) machine (`netstat.bench.processes.in_processes`), pools their rounds
(`pool`: the pooled ratio of medians over every process's rounds) and counts
how many processes' 95% intervals contain the pooled ratio: the shipped
interval (circular blocks of rounds widened to the batch means interval,
never narrower than rounds resampled singly: `netstat.bench.interleaved.ratios`) and, recomputed from each
process's own rounds, the interval of rounds resampled one by one (the rule
before issue 25). The acceptance: at least N - 1 of N.

Appends a dated section to reports/benchmarks.md atomically (netstat.atomic).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from netstat.atomic import write_text  # noqa: E402 - after the path

REPORT = ROOT / "reports" / "benchmarks.md"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def naive_interval(doc: dict, baseline: str, model: str) -> tuple[float, float]:
    """The process's ratio interval with its rounds resampled one by one."""
    import numpy as np

    from netstat.bench.interleaved import Plan, bootstrap_medians

    table = np.array([[r["block_ms"][baseline], r["block_ms"][model]] for r in doc["rounds"]])
    boot = bootstrap_medians(table, Plan().resamples, Plan().seed, block=1)
    low, high = np.percentile(boot[:, 1] / boot[:, 0], [2.5, 97.5])
    return float(low), float(high)


def run(models: list[str], processes: int, min_time: float, max_time: float, threads: int) -> dict:
    import numpy as np

    from netstat.bench.interleaved import block_length
    from netstat.bench.processes import in_processes, pool

    args = [*models, "--min-time", str(min_time), "--max-time", str(max_time), "--threads", str(threads)]
    docs = in_processes(args, processes, timeout_s=600, report=lambda i, n: log(f"process {i + 1} of {n}"))
    pooled = pool(docs)
    (comparison,) = pooled["comparisons"]
    rows = []
    for doc, per, inside in zip(docs, comparison["per_process"], comparison["within_ci"]):
        low, high = naive_interval(doc, comparison["baseline"], comparison["model"])
        table = np.array([[r["block_ms"][comparison["baseline"]], r["block_ms"][comparison["model"]]] for r in doc["rounds"]])
        rows.append({"ratio": per["ratio"], "ci": per["ci"], "rounds": per["rounds"], "covers": inside,
                     "naive": (low, high), "naive_covers": low <= comparison["ratio"] <= high, "block": block_length(table)})
    return {"comparison": comparison, "rows": rows, "args": args}


def render(result: dict, command: str) -> str:
    c, rows = result["comparison"], result["rows"]
    covered = sum(bool(r["covers"]) for r in rows)
    naive = sum(bool(r["naive_covers"]) for r in rows)
    load = os.getloadavg()
    lines = [
        "",
        f"## Ratio intervals across fresh processes ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, issue 25)",
        "",
        f"Command: `{command}`; load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} over 1 / 5 / 15 min, "
        f"{os.cpu_count()} cores shared with other work. Each process: `netstat bench {' '.join(result['args'])}`.",
        "",
        f"Pooled ratio {c['model']} / {c['baseline']} (rounds of all {len(rows)} processes): **{c['ratio']:.3f}** "
        f"[{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] from {c['rounds']} rounds; spread of the processes' ratios {100 * c['spread']:.1f}%.",
        "",
        "| Process | Rounds | Ratio | 95% CI (shipped: blocks, batch means) | Covers pooled | Block length | 95% CI (rounds singly, before) | Covers pooled |",
        "|---:|---:|---:|---|:---:|---:|---|:---:|",
    ]
    for i, r in enumerate(rows, 1):
        lines.append(f"| {i} | {r['rounds']} | {r['ratio']:.3f} | [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}] | {'yes' if r['covers'] else 'NO'} "
                     f"| {r['block']} | [{r['naive'][0]:.3f}, {r['naive'][1]:.3f}] | {'yes' if r['naive_covers'] else 'NO'} |")
    need = len(rows) - 1
    lines += [
        "",
        f"Covered: **{covered} of {len(rows)}** with the shipped intervals ({'meets' if covered >= need else 'FAILS'} the "
        f"acceptance of at least {need}); {naive} of {len(rows)} with rounds resampled one by one.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=10)
    parser.add_argument("--models", default="resnet18,mobilenet_v3_small")
    parser.add_argument("--min-time", type=float, default=3.0)
    parser.add_argument("--max-time", type=float, default=6.0)
    parser.add_argument("--threads", type=int, default=1, help="one thread: OpenMP's spinning threads on a shared machine slow a call 10x")
    args = parser.parse_args(argv)
    result = run(args.models.split(","), args.processes, args.min_time, args.max_time, args.threads)
    command = "python tests/bench/bench_ratio_coverage.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    section = render(result, command)
    print(section)
    write_text(REPORT, REPORT.read_text() + section if REPORT.exists() else section)
    log(f"appended to {REPORT}")
    covered = sum(bool(r["covers"]) for r in result["rows"])
    return 0 if covered >= len(result["rows"]) - 1 else 1


if __name__ == "__main__":
    sys.exit(main())
