"""Acceptance benchmarks for netstat's latency protocol (issue 6).

Measurements are saved as JSON, and reports/benchmarks.md is rendered from
the saved JSON (written atomically), so a CUDA run made on another machine
joins the report once its JSON is copied into reports/.

    python tests/bench/bench_protocol.py cpu [--quick]   # this CPU -> reports/bench_cpu.json + benchmarks.md
    python tests/bench/bench_protocol.py cuda --out DIR  # the CUDA path -> DIR/bench_cuda_<gpu>.json
    python tests/bench/bench_protocol.py render          # benchmarks.md from reports/*.json only

CPU checks: netstat's median vs torch.utils.benchmark's blocked_autorange on
the same model (batch 1, 1 thread) within 3%; the medians of three separate
processes within 5% of each other; the harness's own cost per iteration below
1% of mobilenet_v3_small's latency; and the numbers behind
`netstat compare mobilenet_v2 shufflenet_v2_x1_0 mobilenet_v1 --bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from netstat.atomic import write_text
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"
sys.path.insert(0, str(ROOT))

TIMER_MODEL = "mobilenet_v3_small"
TRIO = ["mobilenet_v2", "shufflenet_v2_x1_0", "mobilenet_v1"]



def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- a shared machine


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat", encoding="utf-8") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _own_cpu_s() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class OtherLoad:
    """Cores kept busy by other processes while the block ran: the machine's
    busy time (/proc/stat) minus this process's and its children's."""

    def __enter__(self) -> "OtherLoad":
        self._busy, self._own, self._t = _cpu_jiffies()[0], _own_cpu_s(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        hz = os.sysconf("SC_CLK_TCK")
        busy = (_cpu_jiffies()[0] - self._busy) / hz
        wall = time.perf_counter() - self._t
        self.cores = max(0.0, (busy - (_own_cpu_s() - self._own)) / wall) if wall > 0 else 0.0


def wait_for_quiet(max_wait: float, threshold: float = 0.25) -> dict[str, float]:
    """Wait (at most max_wait s) until other processes use under `threshold`
    cores over a one-second window; returns what was seen."""
    t0 = time.perf_counter()
    while True:
        with OtherLoad() as load:
            time.sleep(1.0)
        if load.cores < threshold or time.perf_counter() - t0 >= max_wait:
            return {"waited_s": round(time.perf_counter() - t0, 1), "other_cores_before": round(load.cores, 2)}


# --------------------------------------------------------------------------- CPU measurements


def timer_agreement(rounds: int, seconds: float, max_wait: float) -> dict[str, Any]:
    """netstat vs torch.utils.benchmark on one model object, in many short
    rounds alternating A-B / B-A, so that a drift in the machine's load hits
    both alike; the verdict is the median of the per-round differences."""
    import torch
    from torch.utils.benchmark import Timer

    from netstat import get_model
    from netstat.bench import benchmark

    torch.set_num_threads(1)
    model = get_model(TIMER_MODEL)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))

    def run_netstat():
        (r,) = benchmark(model, (1, 3, 224, 224), threads=1, min_time=seconds, max_time=4 * seconds, costs=False)
        return r

    def run_timer():
        with torch.inference_mode():
            return Timer(stmt="model(x)", globals={"model": model, "x": x}, num_threads=1).blocked_autorange(
                min_run_time=seconds
            )

    with torch.inference_mode():  # bring the process to a steady state before round 1
        t_end = time.perf_counter() + 2.0
        while time.perf_counter() < t_end:
            model(x)
    out = []
    for i in range(rounds):
        quiet = wait_for_quiet(max_wait)
        with OtherLoad() as load:
            if i % 2 == 0:
                r, m = run_netstat(), run_timer()
            else:
                m, r = run_timer(), run_netstat()
        row = {
            "round": i + 1,
            "order": "netstat, Timer" if i % 2 == 0 else "Timer, netstat",
            "netstat_median_ms": r.stats.median / 1e6,
            "netstat_mean_ms": r.stats.mean / 1e6,
            "netstat_n": r.stats.n,
            "netstat_iqr_rel": r.stats.iqr_rel,
            "netstat_stop": r.measurement["stop_reason"],
            "timer_median_ms": m.median * 1e3,
            "timer_blocks": len(m.times),
            "timer_number_per_run": m.number_per_run,
            "timer_iqr_rel": m.iqr / m.median,
            "other_cores": round(load.cores, 2),
            **quiet,
        }
        row["diff_rel"] = row["netstat_median_ms"] / row["timer_median_ms"] - 1
        log(f"timer round {i + 1}: netstat {row['netstat_median_ms']:.3f} ms, Timer {row['timer_median_ms']:.3f} ms, "
            f"other load {load.cores:.2f} cores")
        out.append(row)
    med = lambda key: sorted(o[key] for o in out)[len(out) // 2]  # noqa: E731
    summary = {"netstat_median_ms": med("netstat_median_ms"), "timer_median_ms": med("timer_median_ms"),
               "diff_rel": med("diff_rel")}
    summary["pass"] = abs(summary["diff_rel"]) <= 0.03
    return {"model": TIMER_MODEL, "batch": 1, "threads": 1, "seconds": seconds, "rounds": out, "summary": summary,
            "env": r.env}


def _one_process(policy: str, max_wait: float) -> dict[str, Any]:
    """`netstat bench` in a fresh process; its median and what the kernel did."""
    cmd = [sys.executable, "-m", "netstat", "bench", TIMER_MODEL, "--threads", "1", "--allocator", policy,
           "--format", "json", "--no-progress"]
    quiet = wait_for_quiet(max_wait)
    with OtherLoad() as load:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
    res = json.loads(proc.stdout)["results"][0]
    m = res["measurement"]
    return {"median_ms": res["latency_ms"]["median"], "n": res["latency_ms"]["n"], "iqr_ms": res["latency_ms"]["iqr"],
            "stop": m["stop_reason"], "faults_per_call": m["minor_faults_per_call"],
            "kernel_ms_per_call": m["kernel_ms_per_call"], "other_cores": round(load.cores, 2), **quiet,
            "command": " ".join(cmd[2:])}


def _spread(values: Sequence[float]) -> float:
    return (max(values) - min(values)) / min(values)


def separate_processes(count: int, attempts: int, max_wait: float) -> dict[str, Any]:
    """`attempts` times, in turn: `count` fresh `netstat bench` processes one
    after the other with the default allocator policy ("steady"); `count` with
    "system" (glibc left alone), to show what the policy removes; and `count`
    processes timing the same model with torch.utils.benchmark's Timer (same
    allocator setting), the control: what any harness gets on this machine.
    Alternating spreads a change in the host's load over all three. The check:
    the median over attempts of the steady triples' spread (max - min) / min
    is at most 5%."""
    out: dict[str, list[dict[str, Any]]] = {"steady": [], "system": [], "timer": []}
    for a in range(attempts):
        for policy in out:
            if policy == "timer":
                runs = [_timer_process(max_wait) for _ in range(count)]
            else:
                runs = [_one_process(policy, max_wait) for _ in range(count)]
            spread = _spread([r["median_ms"] for r in runs])
            out[policy].append({"attempt": a + 1, "runs": runs, "spread_rel": spread})
            log(f"processes, attempt {a + 1}, {policy}: " + ", ".join(f"{r['median_ms']:.3f} ms" for r in runs)
                + f"; spread {spread:.1%}")
    summary = {}
    for policy, tries in out.items():
        spreads = sorted(t["spread_rel"] for t in tries)
        summary[policy] = {"median_spread_rel": spreads[len(spreads) // 2],
                           "attempts_within_5pct": sum(s <= 0.05 for s in spreads), "attempts": len(spreads)}
    return {"model": TIMER_MODEL, "count": count, "attempts": out, "summary": summary, "phases": host_phases(),
            "pass": summary["steady"]["median_spread_rel"] <= 0.05}


# A fresh process timing the model with torch.utils.benchmark alone, under the
# same allocator setting as netstat's: the control for separate_processes.
_TIMER_PROCESS = """
import json, torch
from torch.utils.benchmark import Timer
from netstat import get_model
from netstat.allocator import steady_allocator
torch.set_num_threads(1)
model = get_model(MODEL).eval()
x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
with steady_allocator("steady"), torch.inference_mode():
    m = Timer(stmt="model(x)", globals={"model": model, "x": x}, num_threads=1).blocked_autorange(min_run_time=1.0)
print(json.dumps({"median_ms": m.median * 1e3, "n": len(m.times), "number_per_run": m.number_per_run}))
"""


def _timer_process(max_wait: float) -> dict[str, Any]:
    wait_for_quiet(max_wait)
    with OtherLoad() as load:
        proc = subprocess.run([sys.executable, "-c", _TIMER_PROCESS.replace("MODEL", repr(TIMER_MODEL))],
                              capture_output=True, text=True, cwd=ROOT, check=True)
    return {**json.loads(proc.stdout), "other_cores": round(load.cores, 2)}


# Times the model in consecutive windows and prints each window's median: the
# worker for host_phases, run pinned to one core.
_PHASE_WORKER = """
import json, os, sys, time, torch
from netstat import get_model
from netstat.allocator import steady_allocator
os.sched_setaffinity(0, {CPU})
torch.set_num_threads(1)
model = get_model(MODEL).eval()
x = torch.randn(1, 3, 224, 224)
medians = []
with steady_allocator("steady"), torch.inference_mode():
    for _ in range(20):
        model(x)
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    for _ in range(WINDOWS):
        times, end = [], time.perf_counter() + SECONDS
        while time.perf_counter() < end:
            t0 = time.perf_counter_ns(); model(x); times.append(time.perf_counter_ns() - t0)
        times.sort()
        medians.append(times[len(times) // 2] / 1e6)
print(json.dumps(medians))
"""


def host_phases(windows: int = 24, seconds: float = 0.5) -> dict[str, Any] | None:
    """Two processes at once, each pinned to its own core, timing the model in
    consecutive windows: shows whether slow spells belong to the time (both
    slow together) or to the core the process runs on (one slow, the other
    not). None with fewer than two usable cores."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) < 2:
        return None
    script = (_PHASE_WORKER.replace("MODEL", repr(TIMER_MODEL)).replace("WINDOWS", str(windows))
              .replace("SECONDS", str(seconds)))
    procs = [subprocess.Popen([sys.executable, "-c", script.replace("{CPU}", f"{{{cpu}}}")], cwd=ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
             for cpu in cores[:2]]
    for proc in procs:
        proc.stdout.readline()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    series = [json.loads(proc.communicate()[0]) for proc in procs]
    log("host phases: " + " | ".join(" ".join(f"{v:.1f}" for v in row) for row in series))
    return {"cores": cores[:2], "window_s": seconds, "medians_ms": series}


def harness_overhead(latency_ms: float) -> dict[str, Any]:
    """The timer's own cost inside a sample, and the whole loop's cost per
    iteration, measured on a call that does nothing."""
    from netstat.bench import Protocol, make_step, measure, warm_up

    protocol = Protocol.from_times(1.0, 1.0)
    step = make_step(lambda: None, "cpu")
    warm_up(step, time.perf_counter_ns, protocol)
    t0 = time.perf_counter_ns()
    m = measure(step, time.perf_counter_ns, protocol)
    wall = time.perf_counter_ns() - t0
    samples = sorted(m.samples_ns)
    in_sample = samples[len(samples) // 2]
    per_iteration = wall / len(samples)
    return {
        "in_sample_ns": in_sample,
        "loop_ns_per_iteration": per_iteration,
        "iterations": len(samples),
        "reference_model": TIMER_MODEL,
        "reference_latency_ms": latency_ms,
        "loop_fraction_of_latency": per_iteration / (latency_ms * 1e6),
        "pass": per_iteration / (latency_ms * 1e6) < 0.01,
    }


def trio(quick: bool, max_wait: float) -> dict[str, Any]:
    """The numbers behind `compare ... --bench`, at 1 and 2 threads, batch 1 and 16."""
    from netstat.bench import benchmark

    runs = {}
    times = dict(min_time=0.3, max_time=1.0) if quick else dict(min_time=2.0, max_time=15.0)
    for label, kwargs in [
        ("batch 1, 1 thread", dict(threads=1)),
        ("batch 1, all cores", dict(roofline=True)),
        ("batch 16, all cores", dict(batches=[16])),
    ]:
        quiet = wait_for_quiet(max_wait)
        log(f"trio: {label} ({quiet})")
        with OtherLoad() as load:
            runs[label] = [r.to_dict() for r in benchmark(TRIO, **kwargs, **times)]
        for r in runs[label]:
            r["other_cores"] = round(load.cores, 2)
    log("trio: netstat compare --bench")
    proc = subprocess.run(
        [sys.executable, "-m", "netstat", "compare", *TRIO, "--bench", "--format", "md"],
        capture_output=True, text=True, cwd=ROOT,
    )
    return {"runs": runs, "compare_md": proc.stdout, "compare_rc": proc.returncode, "compare_stderr": proc.stderr[-2000:]}


CPU_PARTS = ("timer", "processes", "overhead", "trio")


def run_cpu(quick: bool, max_wait: float, parts: Sequence[str] = CPU_PARTS) -> None:
    """Measure `parts` and merge them into reports/bench_cpu.json (the others kept)."""
    path = REPORTS / "bench_cpu.json"
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() and set(parts) != set(CPU_PARTS) else {}
    now = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    if set(parts) == set(CPU_PARTS):
        data.update({"date": now, "quick": quick, "max_wait_s": max_wait})
    if "timer" in parts:
        data["timer"] = timer_agreement(rounds=1 if quick else 15, seconds=0.5, max_wait=max_wait)
    if "processes" in parts:
        data["processes"] = separate_processes(3, attempts=1 if quick else 5, max_wait=max_wait)
        data["processes"]["measured_at"] = now  # a part measured again later says when
    if "overhead" in parts:
        data["overhead"] = harness_overhead(data["timer"]["summary"]["netstat_median_ms"])
    if "trio" in parts:
        data["trio"] = trio(quick, max_wait)
    write_text(path, json.dumps(data, indent=1, default=str) + "\n")
    render()


# --------------------------------------------------------------------------- CUDA measurements


CUDA_CONFIGS: list[tuple[str, list[str], dict[str, Any]]] = [
    ("resnet50 fp32 eager", ["resnet50"], dict(batches=[1, 32])),
    ("resnet50 fp16 channels_last + roofline", ["resnet50"], dict(dtype="fp16", channels_last=True, batches=[1, 32, 256], roofline=True)),
    ("resnet50 fp16 channels_last cudnn.benchmark", ["resnet50"], dict(dtype="fp16", channels_last=True, cudnn_benchmark=True, batches=[1, 256])),
    ("resnet50 fp16 channels_last torch.compile", ["resnet50"], dict(dtype="fp16", channels_last=True, compile_mode="default", batches=[1, 256])),
    ("resnet50 fp16 channels_last torch.compile(reduce-overhead): CUDA graphs", ["resnet50"], dict(dtype="fp16", channels_last=True, compile_mode="reduce-overhead", batches=[1, 256])),
    ("resnet50 bf16 amp", ["resnet50"], dict(dtype="bf16", amp=True, batches=[1, 256])),
    ("resnet50 fp16 channels_last throughput", ["resnet50"], dict(dtype="fp16", channels_last=True, mode="throughput", batches=[256])),
    ("resnet50 fp32: a batch too large (OOM)", ["resnet50"], dict(batches=[64, 50_000, 128])),
    ("trio fp32", TRIO, dict(batches=[1, 256])),
    ("trio fp16 channels_last", TRIO, dict(dtype="fp16", channels_last=True, batches=[1, 256])),
]


def run_cuda(out: Path, device: str, quick: bool) -> None:
    import torch

    from netstat.bench import benchmark, environment

    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "cpu-dry-run"
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    slug = next((s for s in ("h100", "h200", "a100") if s in slug), slug)
    path = out / f"bench_cuda_{slug}.json"
    times = dict(min_time=0.05, max_time=0.2) if quick else dict(min_time=1.0, max_time=8.0)
    data: dict[str, Any] = {"device": device, "env": environment(device), "configs": []}
    for label, models, kwargs in CUDA_CONFIGS:
        if quick:
            kwargs = {**kwargs, "batches": [min(b, 2) for b in kwargs["batches"]][:1], "roofline": False,
                      "compile_mode": None, "cudnn_benchmark": False}
        log(f"cuda: {label}")
        t0 = time.perf_counter()
        entry: dict[str, Any] = {"label": label, "models": models, "options": kwargs}
        try:
            entry["results"] = [r.to_dict() for r in benchmark(models, device=device, **kwargs, **times)]
        except Exception as err:  # noqa: BLE001 - keep the other configurations
            entry["error"] = f"{type(err).__name__}: {err}"
        entry["wall_s"] = time.perf_counter() - t0
        data["configs"].append(entry)
        write_text(path, json.dumps(data, indent=1, default=str) + "\n")  # partial results survive a timeout
    log(f"wrote {path}")


# --------------------------------------------------------------------------- report


def _f(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _si(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {prefix}{unit}"
    return f"{value:.0f} {unit}".strip()


def _env_line(env: dict[str, Any]) -> str:
    gpu = env.get("gpu")
    parts = [f"torch {env.get('torch')}", f"netstat {env.get('netstat')}", f"Python {env.get('python')}",
             f"CPU {env.get('cpu')} ({env.get('usable_cores')} usable cores, {env.get('cpu_capability')})"]
    if gpu:
        parts.append(f"GPU {gpu['name']} (cc {gpu['capability']}, driver {gpu.get('driver')}, CUDA {gpu.get('cuda')}, "
                     f"cuDNN {gpu.get('cudnn')}, TF32 matmul {gpu.get('matmul_allow_tf32')}, cuDNN TF32 {gpu.get('cudnn_allow_tf32')})")
    parts.append(f"load average at start {env.get('load_average')}")
    parts.append(f"date {env.get('date')}")
    return "; ".join(parts)


def _results_table(results: list[dict[str, Any]], costs: bool = True) -> list[str]:
    head = "| model | batch | median ms | p10 ms | p90 ms | IQR/median | n | ±CI | samples/s | cold ms |"
    align = "| :-- | --: | --: | --: | --: | --: | --: | --: | --: | --: |"
    if costs:
        head += " MAdds | FLOPs | mem. access | FLOP/byte | achieved FLOP/s |"
        align += " --: | --: | --: | --: | --: |"
    lines = [head, align]
    for r in results:
        lat = r["latency_ms"]
        if lat is None:
            row = f"| {r['model']} | {r['batch']} | {r['status'].upper()}: {r['error']} |" + " - |" * 7
            if costs:
                row += " - |" * 5
            lines.append(row)
            continue
        ci = r["measurement"].get("median_ci_rel")
        row = (f"| {r['model']} | {r['batch']} | {_f(lat['median'])} | {_f(lat['p10'])} | {_f(lat['p90'])} | "
               f"{lat['iqr'] / lat['median']:.1%} | {lat['n']} | {'-' if ci is None else f'±{ci:.1%}'} | "
               f"{_f(r['throughput']['samples_per_s'], '.1f')} | {_f(r['cold_start_ms'], '.1f')} |")
        if costs:
            mac = r["memory_access_bytes"]
            row += (f" {_si(r['madds'])} | {_si(r['flops'])} | {_f(None if mac is None else mac / 2**20, '.1f')} MiB | "
                    f"{_f(r['arithmetic_intensity'], '.1f')} | {_si(r['achieved_flops_per_s'], 'FLOP/s')} |")
        lines.append(row)
    return lines


def _roofline_lines(results: list[dict[str, Any]]) -> list[str]:
    rows = [r for r in results if r.get("roofline") and r["latency_ms"]]
    if not rows:
        return []
    roof = rows[0]["roofline"]
    lines = [
        "",
        f"Roofline measured on {roof['device']} in {roof['dtype']} with {roof['threads']} thread(s): peak "
        f"{_si(roof['peak_flops_per_s'], 'FLOP/s')} ({roof['matmul_size']}x{roof['matmul_size']} matmul), copy bandwidth "
        f"{_si(roof['bandwidth_bytes_per_s'], 'B/s')} (read + write, {roof['copy_bytes'] / 2**20:.0f} MiB buffers), "
        f"ridge point {roof['ridge_point_flops_per_byte']:.1f} FLOP/byte.",
        "",
        "| model | batch | FLOP/byte | achieved | attainable | of attainable | of peak | bound |",
        "| :-- | --: | --: | --: | --: | --: | --: | :-- |",
    ]
    for r in rows:
        d = r["roofline"]
        lines.append(f"| {r['model']} | {r['batch']} | {_f(d['arithmetic_intensity'], '.1f')} | "
                     f"{_si(r['achieved_flops_per_s'], 'FLOP/s')} | {_si(d['attainable_flops_per_s'], 'FLOP/s')} | "
                     f"{_f(d['fraction_of_attainable'] and 100 * d['fraction_of_attainable'], '.1f')}% | "
                     f"{_f(d['fraction_of_peak'] and 100 * d['fraction_of_peak'], '.1f')}% | {d['bound']} |")
    return lines


_PROCESS_LABELS = {
    "steady": "netstat bench (default: --allocator steady)",
    "system": "netstat bench --allocator system",
    "timer": "Timer.blocked_autorange (allocator steady)",
}


def _process_lines(p: dict[str, Any]) -> list[str]:
    ok = "**pass**" if p["pass"] else "**FAIL**"
    summary = p["summary"]
    command = p["attempts"]["steady"][0]["runs"][0]["command"]
    lines = [
        f"`{command}` in {p['count']} fresh processes one after the other; then the same with "
        f"`--allocator system` (glibc's malloc left alone); then {p['count']} processes timing the same model with "
        "`torch.utils.benchmark.Timer(...).blocked_autorange(min_run_time=1.0)` under the same allocator setting, "
        f"as a control. The three kinds alternate, {summary['steady']['attempts']} times. Each cell is one process's "
        "median in ms; for netstat, its minor page faults per call and kernel time per call (getrusage) follow.",
        "",
        "| attempt | harness | " + " | ".join(f"process {i + 1}" for i in range(p["count"])) + " | spread |",
        "| --: | :-- | " + " | ".join("--:" for _ in range(p["count"])) + " | --: |",
    ]
    for i in range(summary["steady"]["attempts"]):
        for kind, label in _PROCESS_LABELS.items():
            attempt = p["attempts"][kind][i]
            cells = [
                f"{r['median_ms']:.3f}" + (f" ({r['faults_per_call']:.0f}, {r['kernel_ms_per_call']:.2f} ms)"
                                           if "faults_per_call" in r else "")
                for r in attempt["runs"]
            ]
            lines.append(f"| {attempt['attempt']} | {label} | " + " | ".join(cells) + f" | {attempt['spread_rel']:.1%} |")
    lines.append("")
    for kind, label in _PROCESS_LABELS.items():
        k = summary[kind]
        verdict = f" (limit 5%): {ok}" if kind == "steady" else ""
        lines.append(f"- {label}: spread within 5% in {k['attempts_within_5pct']} of {k['attempts']} attempts, "
                     f"median spread {k['median_spread_rel']:.1%}{verdict}.")
    lines.append("")
    phases = p.get("phases")
    if phases:
        rows = phases["medians_ms"]
        lines += [
            f"**The host's slow spells.** Two processes at once, pinned to cores {phases['cores'][0]} and "
            f"{phases['cores'][1]}, each timing `{p['model']}` at one thread in consecutive "
            f"{phases['window_s']} s windows (median per window, ms):",
            "",
            "| core | " + " | ".join(str(i + 1) for i in range(len(rows[0]))) + " |",
            "| --: | " + " | ".join("--:" for _ in rows[0]) + " |",
            *[f"| {core} | " + " | ".join(f"{v:.1f}" for v in row) + " |" for core, row in zip(phases["cores"], rows)],
            "",
        ]
    return lines


def _cpu_sections(data: dict[str, Any]) -> list[str]:
    t, p, o, tr = data["timer"], data["processes"], data["overhead"], data["trio"]
    ok = lambda flag: "**pass**" if flag else "**FAIL**"  # noqa: E731
    s = t["summary"]
    lines = [
        f"## CPU (measured {data['date']}{', quick mode' if data.get('quick') else ''})",
        "",
        f"Environment: {_env_line(t['env'])}.",
        "",
        "### 1. Agreement with `torch.utils.benchmark`",
        "",
        f"Same `{t['model']}` object, batch 1, 1 thread, one process (warmed up for 2 s first); netstat's protocol "
        f"(`min_time={t['seconds']}`) and `Timer(...).blocked_autorange(min_run_time={t['seconds']})` in "
        f"{len(t['rounds'])} alternating rounds.",
        "",
        "| round | order | netstat median ms | netstat mean ms | n | IQR/median | stop | Timer median ms | blocks x calls | Timer IQR/median | difference of medians | other load (cores) |",
        "| --: | :-- | --: | --: | --: | --: | :-- | --: | --: | --: | --: | --: |",
    ]
    for r in t["rounds"]:
        mean = r.get("netstat_mean_ms")
        lines.append(f"| {r['round']} | {r['order']} | {r['netstat_median_ms']:.3f} | {_f(mean)} | {r['netstat_n']} | {r['netstat_iqr_rel']:.1%} | "
                     f"{r['netstat_stop']} | {r['timer_median_ms']:.3f} | {r['timer_blocks']} x {r['timer_number_per_run']} | "
                     f"{r['timer_iqr_rel']:.1%} | {r['diff_rel']:+.2%} | {r['other_cores']:.2f} |")
    lines += [
        "",
        f"Median over rounds of the difference: {s['diff_rel']:+.2%} (limit ±3%): {ok(s['pass'])}. "
        f"(Medians of the round medians: netstat {s['netstat_median_ms']:.3f} ms, Timer {s['timer_median_ms']:.3f} ms.) "
        "'Other load' is the CPU time other processes used during the round, in cores, from /proc/stat; "
        f"before each round the script waited up to {data.get('max_wait_s', 0):.0f} s for it to fall below 0.25 cores. "
        "Timer's median is the median of block means (blocks of several calls), which sits near the per-call mean; "
        "netstat's is the median of single calls, which sits below the mean when the distribution is skewed right.",
        "",
        "### 2. Three separate processes" + (f" (measured {p['measured_at']})" if p.get("measured_at") else ""),
        "",
        *_process_lines(p),
        "### 3. Harness overhead",
        "",
        f"The protocol's loop run on a call that does nothing, for {o['iterations']:,} iterations: the timer's own "
        f"cost inside each sample is {o['in_sample_ns']:.0f} ns (two `perf_counter_ns` reads and a Python call), and "
        f"the whole loop (timed call, clock read for the budget, list append, periodic convergence check) costs "
        f"{o['loop_ns_per_iteration']:.0f} ns per iteration, {o['loop_fraction_of_latency']:.4%} of "
        f"`{o['reference_model']}`'s {o['reference_latency_ms']:.3f} ms at batch 1 (limit 1%): {ok(o['pass'])}.",
        "",
        "### 4. mobilenet_v2 vs shufflenet_v2_x1_0 vs mobilenet_v1",
        "",
    ]
    for label, results in tr["runs"].items():
        threads = results[0]["env"]["threads"] if results else "?"
        other = results[0].get("other_cores") if results else None
        lines += [f"**{label}** ({threads} thread(s), fp32, eager; other processes used {other} cores meanwhile):", "",
                  *_results_table(results), *_roofline_lines(results), ""]
    if tr.get("compare_md"):
        lines += ["`netstat compare mobilenet_v2 shufflenet_v2_x1_0 mobilenet_v1 --bench --format md`:", "",
                  tr["compare_md"].strip(), ""]
    elif tr.get("compare_rc"):
        lines += [f"`netstat compare ... --bench` failed (exit {tr['compare_rc']}): {tr.get('compare_stderr', '').strip()}", ""]
    return lines


def _cuda_sections(data: dict[str, Any], source: str) -> list[str]:
    env = data["env"]
    gpu = (env.get("gpu") or {}).get("name", data["device"])
    lines = [f"## CUDA: {gpu} (from `{source}`)", "", f"Environment: {_env_line(env)}.", ""]
    for c in data["configs"]:
        lines += [f"### {c['label']}", ""]
        if "error" in c:
            lines += [f"Failed: {c['error']}", ""]
            continue
        res = c["results"]
        if res:
            e = res[0]["env"]
            lines += [f"dtype {e['dtype']}{' (amp)' if e['amp'] else ''}, {'channels_last' if e['channels_last'] else 'contiguous'}, "
                      f"{'torch.compile(' + e['compile'] + ')' if e['compile'] else 'eager'}, "
                      f"cudnn.benchmark {e['cudnn_benchmark']}, {e['mode']} mode, {e['threads']} CPU threads; "
                      f"{c['wall_s']:.0f} s wall.", ""]
        lines += _results_table(res) + _roofline_lines(res)
        warns = [f"- {r['model']} batch {r['batch']}: {w}" for r in res for w in r["warnings"]]
        lines += [""] + (warns + [""] if warns else [])
    return lines


def render() -> None:
    """reports/benchmarks.md from reports/bench_cpu.json and reports/bench_cuda_*.json."""
    lines = [
        "# netstat latency benchmarks",
        "",
        "Generated by `tests/bench/bench_protocol.py` from the JSON beside this file; the protocol is described "
        "in the README (\"Latency and throughput\"). Every number below is one run on a shared 2-vCPU machine: read the IQR and the other-load columns; the README lists the earlier attempts.",
        "",
    ]
    cpu = REPORTS / "bench_cpu.json"
    if cpu.exists():
        lines += _cpu_sections(json.loads(cpu.read_text()))
    ratios = REPORTS / "interleaved_ratios.json"
    if ratios.exists():  # tests/bench/bench_compare.py: interleaved ratios across processes
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_compare import ratio_sections

        lines += ratio_sections(json.loads(ratios.read_text()))
    for path in sorted(REPORTS.glob("bench_cuda_*.json")):
        lines += _cuda_sections(json.loads(path.read_text()), f"reports/{path.name}")
    write_text(REPORTS / "benchmarks.md", "\n".join(lines).rstrip() + "\n")
    log(f"wrote {REPORTS / 'benchmarks.md'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["cpu", "cuda", "render"])
    parser.add_argument("--quick", action="store_true", help="tiny time budgets: checks the script, not the numbers")
    parser.add_argument("--out", type=Path, default=REPORTS, help="cuda: folder for the JSON")
    parser.add_argument("--device", default="cuda", help="cuda: device (cpu for a dry run of the script)")
    parser.add_argument("--only", default=",".join(CPU_PARTS),
                        help="cpu: comma-separated parts to measure again, merged into bench_cpu.json")
    parser.add_argument("--max-wait", type=float, default=60.0,
                        help="cpu: seconds to wait for other processes to go quiet before each measurement")
    args = parser.parse_args()
    if args.what == "cpu":
        parts = [p.strip() for p in args.only.split(",") if p.strip()]
        unknown = set(parts) - set(CPU_PARTS)
        if unknown:
            parser.error(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(CPU_PARTS)}")
        run_cpu(args.quick, args.max_wait, parts)
    elif args.what == "cuda":
        run_cuda(args.out, args.device, args.quick)
    else:
        render()


if __name__ == "__main__":
    main()
