"""Whole-process cost of netstat (issue "start as fast as importing torch
allows"), written to the head of reports/performance.md.

    python tests/bench/bench_startup.py [--repeats 5] [--no-check]

Every row is a fresh process, start-up included, as a user runs it:

- the floor, `python -c "import torch"`;
- `netstat profile MODEL --format json` beside two peers on the same model,
  each a small script: torch.utils.flop_counter on the meta device and fvcore
  on the CPU (torchvision's VGG-16 and ResNet-50, weights=None);
- the commands that need no model (`--help`, `--version`, `list`, `calc conv`,
  `rf --dilation 2`), which must not import torch;
- `netstat check` over the whole zoo (one run: its wall time);
- with `--before REV`: `netstat check` and `netstat profile vgg16` at REV and
  now, alternated (a change must not make either slower).

The rows run in alternation (one of each per round, the order reversed every
other round) after one warm-up round, so that drift on a shared machine
touches them alike; each figure is the median of --repeats rounds. Max RSS is
each process's own (`os.wait4`). Ratios are checked against the issue's
targets, each row pass or fail.

The warm, in-process figures of tests/bench/profile_speed.py stay below, under
"Warm, in-process"; each script rewrites only its own section (atomically,
through netstat.atomic).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from netstat.atomic import write_text

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "reports" / "performance.md"
TITLE = "# netstat performance"
LEAD_HEADING = "## Whole process (start-up included)"
WARM_HEADING = "## Warm, in-process"

MODELS = ("vgg16", "resnet50")
FLOOR_TARGET = 1.3  # netstat profile / python -c "import torch"
FVCORE_TARGETS = {"vgg16": 0.5, "resnet50": 0.7}  # netstat / fvcore on the CPU
FLOP_COUNTER_TARGET = 0.75  # netstat / torch.utils.flop_counter on meta
LIGHT_SECONDS, LIGHT_MB = 0.5, 200  # commands that need no model
LIGHT = {
    "help": ["--help"],
    "version": ["--version"],
    "list": ["list"],
    "calc": ["calc", "conv", "--cin", "8", "--cout", "16", "--kernel", "3"],
    "rf": ["rf", "--dilation", "2"],
}

FLOP_COUNTER_SCRIPT = """\
import sys
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

with torch.device("meta"):
    model = getattr(torchvision.models, sys.argv[1])(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
with FlopCounterMode(display=False) as counter:
    model(x)
print(counter.get_total_flops())
"""

FVCORE_SCRIPT = """\
import sys
import torch
import torchvision
from fvcore.nn import FlopCountAnalysis

model = getattr(torchvision.models, sys.argv[1])(weights=None).eval()
analysis = FlopCountAnalysis(model, torch.randn(1, 3, 224, 224))
analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
print(analysis.total())
"""


def netstat_command() -> list[str]:
    """The console script beside this interpreter, as a user runs it (else -m netstat)."""
    script = Path(sys.executable).with_name("netstat")
    return [str(script)] if script.exists() else [sys.executable, "-m", "netstat"]


def measure(cmd: list[str], cwd: Path = ROOT) -> tuple[float, float, int]:
    """(wall seconds, max RSS in MB, exit code) of one fresh process running `cmd` in `cwd`."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024) / 1e6  # KiB on Linux, bytes on macOS
    return seconds, rss, proc.returncode


def require(name: str, cmd: list[str], code: int) -> None:
    """Stop on a command that failed, with its own error."""
    if code != 0:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        sys.exit(f"{name}: `{' '.join(cmd)}` exited {code}:\n{proc.stderr[-3000:]}")


def commands(scripts: Path) -> dict[str, list[str]]:
    """Row key -> argv, in the order of a forward round."""
    netstat = netstat_command()
    flop_counter, fvcore = scripts / "flop_counter_meta.py", scripts / "fvcore_cpu.py"
    flop_counter.write_text(FLOP_COUNTER_SCRIPT)
    fvcore.write_text(FVCORE_SCRIPT)
    rows = {"floor": [sys.executable, "-c", "import torch"]}
    for model in MODELS:
        rows[f"netstat {model}"] = [*netstat, "profile", model, "--format", "json"]
        rows[f"flop_counter {model}"] = [sys.executable, str(flop_counter), model]
        rows[f"fvcore {model}"] = [sys.executable, str(fvcore), model]
    rows.update({f"netstat {key}": [*netstat, *args] for key, args in LIGHT.items()})
    return rows


def alternate(rows: dict[str, list[str]], repeats: int) -> dict[str, tuple[float, float]]:
    """Row key -> (median wall seconds, median max RSS MB) over `repeats`
    alternated rounds, after one warm-up round."""
    samples: dict[str, list[tuple[float, float]]] = {key: [] for key in rows}
    order = list(rows)
    for round_ in range(repeats + 1):
        for key in order if round_ % 2 else order[::-1]:
            seconds, rss, code = measure(rows[key])
            require(key, rows[key], code)
            if round_:  # round 0 warms the file cache
                samples[key].append((seconds, rss))
        print(f"round {round_}/{repeats} done", file=sys.stderr)
    return {key: (statistics.median(s for s, _ in got), statistics.median(r for _, r in got)) for key, got in samples.items()}


BEFORE_AFTER = {  # what --before times at REV and now, alternated: (label, netstat arguments, rounds)
    "check": ("`netstat check` over the whole zoo", ["check"], 3),
    "profile": ("`netstat profile vgg16 --format json`", ["profile", "vgg16", "--format", "json"], None),
}


def before_after(rev: str, repeats: int) -> list[str]:
    """Each BEFORE_AFTER command at `rev` (a git worktree, its own baseline)
    and here, alternated (the order reversed every other round, after a
    warm-up round): the median of each, and their ratio."""
    lines = [""]
    with tempfile.TemporaryDirectory(prefix="netstat-before-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(tree), rev], check=True)
        try:
            for label, args, rounds in BEFORE_AFTER.values():
                b, a, n = _before_after(tree, args, rounds or repeats)
                lines.append(f"{label}, before ({rev}) and after, alternated, median of {n}: {b:.2f} s before, {a:.2f} s after ({a / b:.2f}x).")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    return lines


def _before_after(tree: Path, args: list[str], rounds: int) -> tuple[float, float, int]:
    before = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(tree)!r}); from netstat.cli import main; sys.argv = ['netstat', *{args!r}]; main()"]
    runs = (("before", before, tree), ("after", [*netstat_command(), *args], ROOT))
    times: dict[str, list[float]] = {"before": [], "after": []}
    for round_ in range(rounds + 1):
        for key, cmd, cwd in runs if round_ % 2 else runs[::-1]:
            seconds, _, code = measure(cmd, cwd)
            require(f"{args[0]} ({key})", cmd, code)
            if round_:  # round 0 warms the file cache
                times[key].append(seconds)
    return statistics.median(times["before"]), statistics.median(times["after"]), rounds


def _met(ok: bool) -> str:
    return "pass" if ok else "**fail**"


def lead_section(results: dict[str, tuple[float, float]], check: tuple[float, float, int] | None, repeats: int) -> list[str]:
    """The whole-process section: the runs, the ratios against their targets, the torch-free commands."""
    import torch  # here, after every measurement: this process's imports touch no child

    shown = {"floor": '`python -c "import torch"` (the floor)'}
    for model in MODELS:
        shown[f"netstat {model}"] = f"`netstat profile {model} --format json`"
        shown[f"flop_counter {model}"] = f"torch.utils.flop_counter on meta, {model}"
        shown[f"fvcore {model}"] = f"fvcore on the CPU, {model}"
    lines = [
        LEAD_HEADING,
        "",
        f"Measured by `python tests/bench/bench_startup.py --repeats {repeats}` on {os.cpu_count()} cores, "
        f"torch {torch.__version__}, Python {platform.python_version()}: every row a fresh process, start-up included; "
        f"the rows alternate (one of each per round, the order reversed every other round) after a warm-up round; "
        f"median of {repeats} rounds. Max RSS is each process's own. Peers are small scripts on torchvision's models (weights=None).",
        "",
        "| command | wall (s) | max RSS (MB) |",
        "|---|---:|---:|",
    ]
    lines += [f"| {label} | {results[key][0]:.3f} | {results[key][1]:.0f} |" for key, label in shown.items()]
    floor = results["floor"][0]
    lines += ["", "| ratio (wall time) | value | target | met |", "|---|---:|---:|---|"]
    for model in MODELS:
        ours = results[f"netstat {model}"][0]
        for label, peer, target in (
            ('`python -c "import torch"`', floor, FLOOR_TARGET),
            ("torch.utils.flop_counter on meta", results[f"flop_counter {model}"][0], FLOP_COUNTER_TARGET),
            ("fvcore on the CPU", results[f"fvcore {model}"][0], FVCORE_TARGETS[model]),
        ):
            lines.append(f"| netstat {model} / {label} | {ours / peer:.2f} | ≤ {target} | {_met(ours / peer <= target)} |")
    lines += [
        "",
        f"Commands that need no model (they do not import torch; target < {LIGHT_SECONDS} s and < {LIGHT_MB} MB each):",
        "",
        "| command | wall (s) | max RSS (MB) | met |",
        "|---|---:|---:|---|",
    ]
    for key, args in LIGHT.items():
        seconds, rss = results[f"netstat {key}"]
        lines.append(f"| `netstat {' '.join(args)}` | {seconds:.3f} | {rss:.0f} | {_met(seconds < LIGHT_SECONDS and rss < LIGHT_MB)} |")
    if check is not None:
        seconds, rss, code = check
        verdict = "no drift" if code == 0 else f"exit {code}: drift or an error"
        lines += ["", f"`netstat check` over the whole zoo (one run): {seconds:.1f} s, max RSS {rss:.0f} MB ({verdict})."]
    return lines + [""]


def _migrated(body: str) -> str:
    """A report written before the whole-process section: its warm figures
    become the warm section, as profile_speed.py now writes it (its old
    start-up rows, superseded by the whole-process section, are left out)."""
    body = body.strip()
    if not body:
        return ""
    body = body.replace("\n## profile vs peers (", "\n### profile vs peers, warm, in-process (").replace("\n## memory and start-up", "\n### peak memory (one process)")
    lines = [line for line in body.replace("\n## ", "\n### ").splitlines() if not line.startswith(("| `netstat --help`", "| `netstat list`"))]
    return f"{WARM_HEADING}\n\n" + "\n".join(lines) + "\n"


def write_sections(lead: list[str] | None = None, warm: list[str] | None = None, path: Path = REPORT) -> str:
    """Rewrite one section of the report (atomically), keeping the other as it stands."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    old_lead, old_warm = "", ""
    if WARM_HEADING in old:
        head, _, tail = old.partition(WARM_HEADING)
        old_warm = WARM_HEADING + tail
        old_lead = head[head.find(LEAD_HEADING) :] if LEAD_HEADING in head else ""
    elif LEAD_HEADING in old:
        old_lead = old[old.find(LEAD_HEADING) :]
    else:
        old_warm = _migrated(old.replace(TITLE, "", 1))
    lead_text = "\n".join(lead) if lead is not None else old_lead
    warm_text = "\n".join(warm) if warm is not None else old_warm
    parts = [TITLE, ""] + [p.strip() + "\n" for p in (lead_text, warm_text) if p.strip()]
    text = "\n".join(parts)
    write_text(path, text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="alternated rounds; each figure is their median (default 5)")
    parser.add_argument("--no-check", action="store_true", help="skip `netstat check` over the whole zoo")
    parser.add_argument("--before", metavar="REV", help="also time `netstat check` and `netstat profile vgg16` at this git revision, alternated with now")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be 1 or more")
    with tempfile.TemporaryDirectory(prefix="netstat-bench-") as scripts:
        results = alternate(commands(Path(scripts)), args.repeats)
    check = None if args.no_check else measure([*netstat_command(), "check", "--format", "json"])
    lead = lead_section(results, check, args.repeats)
    if args.before:
        lead[-1:-1] = before_after(args.before, args.repeats)
    write_sections(lead=lead)
    print("\n".join(lead))


if __name__ == "__main__":
    main()
