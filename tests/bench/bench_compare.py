"""Acceptance benchmarks for interleaved measurement (issue 16): ratios that
hold across processes on a shared machine.

    python tests/bench/bench_compare.py [--quick] [--only ratios,compare,timer,probe]

writes reports/interleaved_ratios.json (parts measured again are merged into it)
and re-renders reports/benchmarks.md through bench_protocol.render(), which
appends the sections below after its own.

- ratios: `netstat bench mobilenet_v3_small resnet18 --threads 1 --processes 5
  --format json`: per process the ratio resnet18 / mobilenet_v3_small and its
  CI, the pooled ratio; the ratio's spread (max / min - 1, limit 5%), whether
  each process's CI contains the pooled ratio, and beside them the spread of
  the absolute medians in the same runs.
- compare: five separate `netstat compare mobilenet_v2 shufflenet_v2_x1_0
  mobilenet_v1 --bench --format json` processes: the ratios' spread (limit 5%).
- timer: in one process, `benchmark([mobilenet_v3_small, resnet18],
  threads=1)` (interleaved) against `Timer.blocked_autorange` per model, in
  alternating rounds: the median of the per-round differences (limit 3%).
- probe: busy processes started for the middle of an interleaved run: the
  rounds they ran in and the rounds the probe flagged.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"
DATA = REPORTS / "interleaved_ratios.json"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PAIR = ["mobilenet_v3_small", "resnet18"]
TRIO = ["mobilenet_v2", "shufflenet_v2_x1_0", "mobilenet_v1"]
PARTS = ("ratios", "compare", "timer", "probe")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _times(quick: bool) -> list[str]:
    return ["--min-time", "0.3", "--max-time", "1"] if quick else []


def ratios(quick: bool, count: int) -> dict[str, Any]:
    """`netstat bench PAIR --threads 1 --processes N` itself, pooled."""
    cmd = ["bench", *PAIR, "--threads", "1", "--processes", str(count), *_times(quick)]
    log("ratios: netstat " + " ".join(cmd))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "netstat", *cmd, "--format", "json", "--no-progress"],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    pooled = json.loads(proc.stdout)
    for run in pooled["runs"]:  # keep the report's JSON small: rounds summarised
        run["rounds_count"] = len(run.pop("rounds"))
        run.pop("probe")
    (c,) = pooled["comparisons"]
    log(f"ratios: {[round(p['ratio'], 3) for p in c['per_process']]}, spread {c['spread']:.1%}, "
        f"medians spread {[round(m['spread'], 3) for m in pooled['medians']]}")
    c["pass"] = c["spread"] <= 0.05 and all(c["within_ci"])
    return {"command": "netstat " + " ".join(cmd), "wall_s": time.perf_counter() - t0, **pooled}


def compare(quick: bool, count: int) -> dict[str, Any]:
    """`count` separate `netstat compare TRIO --bench` processes: their ratios."""
    from netstat.bench.processes import spread

    runs = []
    for i in range(count):
        log(f"compare: process {i + 1} of {count}")
        proc = subprocess.run([sys.executable, "-m", "netstat", "compare", *TRIO, "--bench", "--format", "json"],
                              capture_output=True, text=True, cwd=ROOT, check=True)
        doc = json.loads(proc.stdout)
        runs.append({"medians_ms": {m["model"]: m["latency_ms"]["median"] for m in doc["models"]},
                     "comparisons": doc["comparisons"], "notes": proc.stderr.strip().splitlines()[-4:]})
    summary = {}
    for key in [f"{c['model']} / {c['baseline']}" for c in runs[0]["comparisons"]]:
        values = [next(c["ratio"] for c in r["comparisons"] if f"{c['model']} / {c['baseline']}" == key) for r in runs]
        summary[key] = {"ratios": values, "spread": spread(values)}
    medians = {m: spread([r["medians_ms"][m] for r in runs]) for m in TRIO}
    ok = all(s["spread"] <= 0.05 for s in summary.values())
    log(f"compare: ratio spreads {[round(s['spread'], 3) for s in summary.values()]}, median spreads {medians}")
    return {"command": "netstat compare " + " ".join(TRIO) + " --bench", "runs": runs, "ratios": summary,
            "median_spreads": medians, "pass": ok}


def timer(quick: bool, rounds: int) -> dict[str, Any]:
    """The interleaved medians against Timer.blocked_autorange, model by model,
    in rounds alternating which goes first."""
    import torch
    from torch.utils.benchmark import Timer

    from netstat import get_model
    from netstat.bench import benchmark

    torch.set_num_threads(1)
    models = [get_model(name).eval() for name in PAIR]
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    seconds = 0.3 if quick else 1.0
    out = []
    for i in range(rounds):
        first_netstat = i % 2 == 0
        timed = {} if first_netstat else _timer_medians(models, x, seconds, Timer)
        res = benchmark(models, (1, 3, 224, 224), threads=1, min_time=seconds, max_time=4 * seconds, costs=False)
        if first_netstat:
            timed = _timer_medians(models, x, seconds, Timer)
        row = {"round": i + 1, "order": "netstat, Timer" if first_netstat else "Timer, netstat"}
        for name, r in zip(PAIR, res):
            row[name] = {"netstat_ms": r.stats.median / 1e6, "timer_ms": timed[name],
                         "diff_rel": r.stats.median / 1e6 / timed[name] - 1, "rounds": r.measurement["rounds"]}
        log(f"timer round {i + 1}: " + ", ".join(f"{n} {row[n]['diff_rel']:+.1%}" for n in PAIR))
        out.append(row)
    summary = {n: sorted(o[n]["diff_rel"] for o in out)[len(out) // 2] for n in PAIR}
    return {"rounds": out, "median_diff": summary, "pass": all(abs(v) <= 0.03 for v in summary.values())}


def _timer_medians(models, x, seconds: float, Timer) -> dict[str, float]:
    import torch

    out = {}
    with torch.inference_mode():
        for name, model in zip(PAIR, models):
            m = Timer(stmt="model(x)", globals={"model": model, "x": x}, num_threads=1).blocked_autorange(
                min_run_time=seconds)
            out[name] = m.median * 1e3
    return out


class _Inject:
    """Progress callback: busy processes (three per core) for the rounds
    between `start_s` and `stop_s` after the first round."""

    def __init__(self, start_s: float, stop_s: float) -> None:
        self.start_s, self.stop_s, self.done, self.t0 = start_s, stop_s, 0, None
        self.procs: list[subprocess.Popen] = []
        self.first = self.last = None

    def __call__(self, event) -> None:
        if event.phase != "rounds":
            return
        self.done += 1
        now = time.perf_counter()
        self.t0 = self.t0 or now
        if self.first is None and now - self.t0 >= self.start_s:
            busy = "import time\nend = time.time() + 60\nwhile time.time() < end: pass\n"
            self.procs = [subprocess.Popen([sys.executable, "-c", busy]) for _ in range(3 * len(os.sched_getaffinity(0)))]
            self.first = self.done + 1
        elif self.procs and now - self.t0 >= self.stop_s:
            self.stop()
            self.last = self.done

    def stop(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()
        self.procs = []


def probe(quick: bool) -> dict[str, Any]:
    from netstat.bench import benchmark

    span = 4.0 if quick else 10.0
    inject = _Inject(0.3 * span, 0.6 * span)
    try:
        res = benchmark(PAIR, threads=1, costs=False, min_time=span / 2, max_time=span / 2, precision=1e-4,
                        progress=inject)
    finally:
        inject.stop()
    (run,) = res.runs
    injected = list(range(inject.first or 0, (inject.last or -1) + 1))
    flagged = run.unsteady_rounds
    inside = len(set(flagged) & set(injected))
    log(f"probe: injected {injected[:1]}..{injected[-1:]}, flagged {flagged}")
    return {"injected": injected, "flagged": flagged, "flagged_inside": inside, "rounds": len(run.rounds),
            "warnings": run.warnings, "probe": run.probe, "pass": inside > 0,
            "probe_ms": [r["probe_ms"] for r in run.rounds]}


# --------------------------------------------------------------------------- report


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def _when(part: dict[str, Any]) -> str:
    return f" ({part.get('measured', '?')}{', quick mode' if part.get('quick') else ''})"


def ratio_sections(data: dict[str, Any]) -> list[str]:
    """The report's sections for interleaved_ratios.json (called by bench_protocol.render)."""
    ok = lambda flag: "**pass**" if flag else "**FAIL**"  # noqa: E731
    lines = [f"## Interleaved ratios (last measured {data['date']})", "",
             "Generated by `tests/bench/bench_compare.py`. Several models measured in one process in rounds of one "
             "block per model (order rotated), with a calibration matmul timed around every block.", ""]
    if "ratios" in data:
        lines += _ratio_lines(data["ratios"], ok)
    if "compare" in data:
        c = data["compare"]
        lines += [f"### `{c['command']}` in {len(c['runs'])} separate processes{_when(c)}", "",
                  "| ratio | " + " | ".join(f"process {i + 1}" for i in range(len(c["runs"]))) + " | spread |",
                  "| :-- | " + " | ".join("--:" for _ in c["runs"]) + " | --: |"]
        for key, s in c["ratios"].items():
            lines.append(f"| {key} | " + " | ".join(f"{v:.3f}" for v in s["ratios"]) + f" | {_pct(s['spread'])} |")
        for model, sp in c["median_spreads"].items():
            values = [r["medians_ms"][model] for r in c["runs"]]
            lines.append(f"| {model} median ms | " + " | ".join(f"{v:.2f}" for v in values) + f" | {_pct(sp)} |")
        lines += ["", f"Ratios within 5% across the processes: {ok(c['pass'])}.", ""]
    if "timer" in data:
        t = data["timer"]
        lines += [f"### Interleaved medians against `Timer.blocked_autorange` (one process){_when(t)}", "",
                  "| round | order | " + " | ".join(f"{n} netstat / Timer ms | diff" for n in PAIR) + " |",
                  "| --: | :-- | " + " | ".join("--: | --:" for _ in PAIR) + " |"]
        for r in t["rounds"]:
            lines.append(f"| {r['round']} | {r['order']} | " + " | ".join(
                f"{r[n]['netstat_ms']:.3f} / {r[n]['timer_ms']:.3f} | {r[n]['diff_rel']:+.2%}" for n in PAIR) + " |")
        lines += ["", "Median difference: " + ", ".join(f"{n} {v:+.2%}" for n, v in t["median_diff"].items())
                  + f" (limit ±3%): {ok(t['pass'])}.", ""]
    if "probe" in data:
        p = data["probe"]
        lines += [f"### The steadiness probe against injected load{_when(p)}", "",
                  f"Busy processes (three per core) ran during rounds {p['injected'][:1]}..{p['injected'][-1:]} of "
                  f"{p['rounds']}; the probe ({p['probe']['kernel']} x {p['probe']['calls']}, median "
                  f"{p['probe']['median_ms']:.3f} ms) flagged rounds {p['flagged']} ({p['flagged_inside']} inside "
                  f"the window): {ok(p['pass'])}.", "", *[f"> {w}" for w in p["warnings"]], ""]
    return lines


def _ratio_lines(r: dict[str, Any], ok) -> list[str]:
    (c,) = r["comparisons"]
    n = r["processes"]
    lines = [f"### `{r['command']}`{_when(r)}", "",
             f"{n} fresh processes one after the other ({r['wall_s']:.0f} s in all). Each cell: that process's value.", "",
             "| quantity | " + " | ".join(f"process {i + 1}" for i in range(n)) + " | spread | pooled |",
             "| :-- | " + " | ".join("--:" for _ in range(n)) + " | --: | --: |"]
    for m in r["medians"]:
        lines.append(f"| {m['model']} median ms | " + " | ".join(f"{v:.3f}" for v in m["per_process_ms"])
                     + f" | {_pct(m['spread'])} | {m['median_ms']:.3f} |")
    cells = [f"{p['ratio']:.3f} [{p['ci'][0]:.3f}, {p['ci'][1]:.3f}]" for p in c["per_process"]]
    lines.append(f"| {c['model']} / {c['baseline']} | " + " | ".join(cells)
                 + f" | {_pct(c['spread'])} | {c['ratio']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] |")
    lines += ["", f"The ratio within 5% across the processes and every process's CI containing the pooled ratio "
              f"({sum(bool(x) for x in c['within_ci'])} of {n}): {ok(c['pass'])}.", ""]
    warns = [f"- process {i + 1}: {w}" for i, run in enumerate(r["runs"]) for x in run.get("interleaved", [])
             for w in x["warnings"]]
    return lines + (warns + [""] if warns else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny budgets and two processes: checks the script")
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts, merged into interleaved_ratios.json")
    args = parser.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    if set(parts) - set(PARTS):
        parser.error(f"choose parts from {', '.join(PARTS)}")
    data: dict[str, Any] = json.loads(DATA.read_text()) if DATA.exists() else {}
    data["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    count = 2 if args.quick else 5
    for part, run in (("ratios", lambda: ratios(args.quick, count)), ("compare", lambda: compare(args.quick, count)),
                      ("timer", lambda: timer(args.quick, 2 if args.quick else 9)), ("probe", lambda: probe(args.quick))):
        if part in parts:
            data[part] = {**run(), "quick": args.quick, "measured": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    from netstat.atomic import write_text

    write_text(DATA, json.dumps(data, indent=1, default=str) + "\n")
    from bench_protocol import render

    render()


if __name__ == "__main__":
    main()
