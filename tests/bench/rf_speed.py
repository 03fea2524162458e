"""Receptive-field speed targets (issue 3), written to reports/rf_performance.md.

    python tests/bench/rf_speed.py [--repeat 5]

1. Analytic RF overhead: `analyze(trace)` beside `profile("resnet50")` (one
   process, warm, best of --repeat): the RF must add less than 20%.
2. `--verify` on ResNet-50 at 224 (every module call checked against the
   gradient): under 30 s on this 2-core machine.
3. For reference: `--effective` on ResNet-50 at 224 (3 seeds).

The report is written atomically (a temporary file in reports/, then os.replace).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from netstat.atomic import write_text

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "reports" / "rf_performance.md"
sys.path.insert(0, str(ROOT))



def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def cli_seconds(args: list[str], repeat: int) -> float:
    """Median wall time of `python -m netstat ARGS` (a fresh process each time)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "netstat", *args], check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-erf", action="store_true", help="skip the effective-RF timing")
    args = parser.parse_args()

    import torch

    from netstat.erf import effective_rf, verify
    from netstat.analysis import profile
    from netstat.rf import analyze

    profile("resnet50")  # warm: imports, zoo build, shape memo
    p = profile("resnet50")
    t_profile = best_of(lambda: profile("resnet50"), args.repeat)
    t_rf = best_of(lambda: analyze(p.trace, "resnet50"), args.repeat)
    overhead = t_rf / t_profile
    cli_plain = cli_seconds(["profile", "resnet50", "--format", "json"], 3)
    cli_rf = cli_seconds(["profile", "resnet50", "--rf", "--format", "json"], 3)

    start = time.perf_counter()
    v = verify("resnet50")
    t_verify = time.perf_counter() - start

    t_erf = None
    if not args.no_erf:
        start = time.perf_counter()
        e = effective_rf("resnet50", seeds=3)
        t_erf = time.perf_counter() - start

    def met(ok: bool) -> str:
        return "yes" if ok else "**no**"

    lines = [
        "# netstat receptive-field performance",
        "",
        f"Measured by `python tests/bench/rf_speed.py --repeat {args.repeat}` on {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}), torch {torch.__version__}, {time.strftime('%Y-%m-%d')}.",
        "",
        "| measurement | value | target | met |",
        "|---|---:|---:|---|",
        f"| `profile resnet50` (trace + count, best of {args.repeat}) | {t_profile * 1000:.1f} ms | | |",
        f"| analytic RF on that trace, `analyze(trace)` (best of {args.repeat}) | {t_rf * 1000:.1f} ms | | |",
        f"| RF overhead on `profile resnet50` | {overhead:.1%} | < 20% | {met(overhead < 0.2)} |",
        f"| `netstat profile resnet50` vs `... --rf`, fresh process, median of 3 | {cli_plain:.2f} s vs {cli_rf:.2f} s ({cli_rf / cli_plain - 1:+.1%}) | < 20% | {met(cli_rf < 1.2 * cli_plain)} |",
        f"| `rf resnet50 --verify` at 224, {len(v.rows)} module calls ({v.mode}: {', '.join('x'.join(map(str, s)) for s in v.strip_shapes)}) | {t_verify:.1f} s | < 30 s | {met(t_verify < 30)} |",
    ]
    if t_erf is not None:
        lines.append(f"| `rf resnet50 --effective` at 224, 3 seeds (r50 {e.r50:.1f} px, r95 {e.r95:.1f} px) | {t_erf:.1f} s | | |")
    lines += [
        "",
        f"Verification verdict: {'all layers agree' if v.agree else 'DISAGREEMENT'} ({', '.join(f'{n} {s}' for s, n in sorted(v.counts.items()))}).",
        "",
        "How `--verify` stays fast: spatial ops act on each axis separately, so each axis is checked on a thin strip "
        "input (full size along that axis, 1 pixel wide where the model allows); the probes of many layers share one "
        "forward and one backward pass (one batch element per probe), a batch stops the forward once its last layer has "
        "run, a convolution with one constant weight is computed as a box sum over its input channels (the same linear "
        "map, a fraction of the arithmetic), the pass runs in float32 (float64 only to confirm a disagreement) and on "
        "one thread, which beats two on this shared 2-core machine.",
        "",
    ]
    write_text(REPORT, "\n".join(lines))
    sys.stderr.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
