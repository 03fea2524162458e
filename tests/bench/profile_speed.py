"""Speed and memory of `profile` (core issue), measured in one run.

- netstat `profile` (build on meta + trace + every metric) vs fvcore
  FlopCountAnalysis, thop and torchinfo, each built the way it needs (real
  weights on CPU, build time included): targets 10x on VGG-16, 3x on ResNet-50
  against the fastest peer.
- Peak RSS of `netstat profile vgg16 --input 1,3,2048,2048` (target < 1 GiB).

Writes the "Warm, in-process" section of reports/performance.md (atomically),
keeping the whole-process section of tests/bench/bench_startup.py (start-up,
including `netstat --help` and `netstat list`). Run: python tests/bench/profile_speed.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_startup import WARM_HEADING, write_sections  # noqa: E402 - a sibling script

MODELS = ("vgg16", "resnet50")
TARGETS = {"vgg16": 10.0, "resnet50": 3.0}
REPEATS = 3



def best_of(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run_netstat(name: str) -> None:
    import netstat

    netstat.profile(name)


def run_fvcore(name: str) -> None:
    import torch
    from fvcore.nn import FlopCountAnalysis

    import netstat

    model = netstat.get_model(name)
    analysis = FlopCountAnalysis(model, torch.randn(1, 3, 224, 224))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    analysis.total()


def run_thop(name: str) -> None:
    import torch
    from thop import profile

    import netstat

    profile(netstat.get_model(name), inputs=(torch.randn(1, 3, 224, 224),), verbose=False)


def run_torchinfo(name: str) -> None:
    from torchinfo import summary

    import netstat

    summary(netstat.get_model(name), input_size=(1, 3, 224, 224), verbose=0)


def child_peak_rss_mib(cmd: list[str]) -> float:
    """Peak RSS of `cmd`, measured by a fresh interpreter that runs only it
    (RUSAGE_CHILDREN of this process would include earlier children)."""
    probe = (
        "import resource, subprocess, sys; "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", probe, *cmd], check=True, capture_output=True, text=True)
    return int(out.stdout.strip()) / 1024  # ru_maxrss is KiB on Linux


def main() -> None:
    import torch

    netstat_bin = str(Path(sys.executable).with_name("netstat"))
    run_netstat("alexnet")  # import and registry warm-up, paid once by every tool in this process
    lines = [
        WARM_HEADING,
        "",
        f"Measured by `python tests/bench/profile_speed.py` on {os.cpu_count()} cores, torch {torch.__version__}, "
        f"best of {REPEATS} in one process after a warm-up (imports paid once: not start-up figures; ratios compare tools measured in the same run).",
        "",
        "### profile vs peers, warm, in-process (build + count, seconds)",
        "",
        "| model | netstat | fvcore | thop | torchinfo | fastest peer / netstat | target | met |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name in MODELS:
        ours = best_of(lambda: run_netstat(name))
        peers = {tool: best_of(lambda fn=fn: fn(name)) for tool, fn in (("fvcore", run_fvcore), ("thop", run_thop), ("torchinfo", run_torchinfo))}
        ratio = min(peers.values()) / ours
        met = "yes" if ratio >= TARGETS[name] else "**no**"
        lines.append(f"| {name} | {ours:.3f} | {peers['fvcore']:.3f} | {peers['thop']:.3f} | {peers['torchinfo']:.3f} | {ratio:.1f}x | {TARGETS[name]:.0f}x | {met} |")
    rss = child_peak_rss_mib([netstat_bin, "profile", "vgg16", "--input", "1,3,2048,2048", "--format", "json"])
    lines += [
        "",
        "### peak memory (one process)",
        "",
        "| measurement | value | target | met |",
        "|---|---:|---:|---|",
        f"| peak RSS of `netstat profile vgg16 --input 1,3,2048,2048` | {rss:.0f} MiB | < 1024 MiB | {'yes' if rss < 1024 else '**no**'} |",
        "",
    ]
    write_sections(warm=lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
