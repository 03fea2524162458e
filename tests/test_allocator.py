"""netstat.allocator: glibc's malloc thresholds fixed while measuring.

The effect is checked in a fresh process (the settings are process-wide) by
counting minor page faults with getrusage against the page count of the
memory touched, a number worked out by hand.
"""

from __future__ import annotations

import json
import mmap
import os
import platform
import subprocess
import sys

import pytest
from netstat import allocator
from netstat.errors import UsageError

GLIBC = platform.libc_ver()[0] == "glibc"
requires_glibc = pytest.mark.skipif(not GLIBC, reason="the allocator policy only acts on glibc")

TENSOR_BYTES = 1 << 20  # 1 MiB per iteration, every page written
PAGES = TENSOR_BYTES // mmap.PAGESIZE

# Fix glibc's mmap threshold at its initial 128 KiB (as a process whose dynamic
# threshold never rose would have it): each 1 MiB tensor then gets its own
# mmap and every page faults in again on every iteration.
_SCRIPT = f"""
import ctypes, json, resource, torch
from netstat.allocator import steady_allocator
ctypes.CDLL(None).mallopt(-3, 128 * 1024)

def faults_per_iteration():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        torch.empty({TENSOR_BYTES // 4}).fill_(1.0)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 50

out = {{"before": faults_per_iteration()}}
with steady_allocator(POLICY) as state:
    with steady_allocator(POLICY):  # a nested block (benchmark() inside the user's) leaves the outer's settings
        pass
    faults_per_iteration()  # the first round may grow the heap once
    out["inside"] = faults_per_iteration()
    out["state"] = state
print(json.dumps(out))
"""


# The parent's own allocator settings, if any, must not reach the child.
_CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "LD_PRELOAD")}


def _run(policy: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT.replace("POLICY", repr(policy))],
        capture_output=True, text=True, check=True, env=_CLEAN_ENV,
    )
    return json.loads(proc.stdout)


@requires_glibc
def test_steady_policy_stops_page_faults_between_calls():
    out = _run("steady")
    assert out["before"] >= 0.9 * PAGES  # the fault-every-call state the policy is for
    assert out["inside"] < 0.05 * PAGES  # none, but for the kernel's rare page moves (see below)
    assert out["state"]["applied"]
    assert out["state"]["while_measuring"] == {"M_MMAP_MAX": 0, "M_TRIM_THRESHOLD": -1}


@requires_glibc
def test_system_policy_leaves_the_allocator_alone():
    out = _run("system")
    assert out["inside"] >= 0.9 * PAGES
    assert not out["state"]["applied"] and "left as it is" in out["state"]["note"]


def test_unknown_policy_is_one_sentence():
    with pytest.raises(UsageError, match="Unknown allocator policy"):
        allocator.describe("fast")


def test_allocator_chosen_by_the_environment_is_left_alone(monkeypatch):
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=0")
    state = allocator.describe("steady")
    assert not state["applied"] and "GLIBC_TUNABLES" in state["note"]
    monkeypatch.delenv("GLIBC_TUNABLES")
    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")
    state = allocator.describe("steady")
    assert not state["applied"] and state["library"] == "jemalloc (LD_PRELOAD)"


def test_other_c_libraries_are_left_alone(monkeypatch):
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))
    state = allocator.describe("steady")
    assert not state["applied"] and state["note"] == "not glibc: left as it is."


# benchmark() on a module that allocates and writes 64 MiB per call: above
# glibc's largest mmap threshold (32 MiB), so left alone, glibc maps it anew on
# every call. Run in a fresh process, as `netstat bench` runs, so that what
# earlier tests did to this process's heap does not count.
_BENCH_SCRIPT = """
import json, torch
from netstat.bench import benchmark

class FreshMemory(torch.nn.Module):
    def forward(self, x):
        return torch.empty(16 << 20).fill_(1.0)

(r,) = benchmark(FreshMemory(), (1, 1), threads=1, min_time=0.3, max_time=0.6, costs=False, allocator=POLICY)
print(json.dumps({"measurement": r.measurement, "warnings": r.warnings, "allocator": r.env["allocator"]}))
"""


@requires_glibc
@pytest.mark.parametrize("policy", ["steady", "system"])
def test_benchmark_counts_page_faults_and_warns_when_the_kernel_dominates(policy):
    pages = (64 << 20) // mmap.PAGESIZE
    # Up to three fresh processes for "steady": right after a large install (CI) the kernel
    # reclaims and compacts memory for a while, and a process then faults pages it had kept
    # (seen twice in fresh-clone CI runs, never in 8 runs on a settled machine). A policy that
    # does not keep the memory faults every page in every process, so it still fails.
    for _attempt in range(3 if policy == "steady" else 1):
        proc = subprocess.run([sys.executable, "-c", _BENCH_SCRIPT.replace("POLICY", repr(policy))],
                              capture_output=True, text=True, check=True, env=_CLEAN_ENV)
        r = json.loads(proc.stdout)
        if r["measurement"]["minor_faults_per_call"] < 0.05 * pages:
            break
    faults = r["measurement"]["minor_faults_per_call"]
    warned = any("page faults per call" in w for w in r["warnings"])
    assert r["allocator"]["policy"] == policy
    if policy == "system":  # every call faults in all 16,384 pages, and the kernel's time shows
        assert faults >= 0.9 * pages and r["measurement"]["kernel_ms_per_call"] > 0 and warned
    else:
        # The heap keeps the 64 MiB between calls. (The kernel may still move a
        # page now and then when it compacts memory, and each move costs a fault
        # on the next touch: hence a bound, not zero.)
        assert faults < 0.05 * pages, r
