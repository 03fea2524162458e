"""Several models measured interleaved (netstat.bench.interleaved, .probe,
.processes): rotation, the stopping rule, the bootstrap CI of a ratio and
unsteady rounds on fake clocks; the JSON and the CLI on tiny models; and one
real run whose steadiness probe must see busy processes started for part of
it. Nothing here asserts a timing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter

import pytest
from typer.testing import CliRunner

from netstat import bench as nb
from netstat.bench.interleaved import Block, Plan, bootstrap_medians, ratios, rotation, run_rounds, summarize_rounds
from netstat.bench.probe import flag_unsteady, host_time, round_ranges, unsteady_warning
from netstat.bench.processes import in_processes, pool, spread
from netstat.cli import app
from netstat.errors import ModelRunError, UsageError

MS = 1_000_000


class FakeHost:
    """A clock that moves only when a fake step runs; `speed(now)` is how
    many times slower than normal the host is at that moment."""

    def __init__(self, speed=lambda now: 1.0) -> None:
        self.now = 0
        self.speed = speed
        self.calls: list[str] = []

    def __call__(self) -> int:
        return self.now

    def run(self, name: str, base_ns: float) -> int:
        d = int(base_ns * self.speed(self.now))
        self.calls.append(name)
        self.now += d + 1_000  # 1 µs of harness outside the timed interval
        return d


class FakeStep:
    """A step of a model on a FakeHost: `base(i)` ns on its i-th run."""

    def __init__(self, host: FakeHost, name: str, base) -> None:
        self.host, self.name, self.base, self.i = host, name, base, 0

    def __call__(self) -> int:
        self.i += 1
        return self.host.run(self.name, self.base(self.i - 1))


def jitter(i: int, amount: float = 0.05) -> float:
    """A deterministic factor in [1 - amount, 1 + amount]."""
    return 1 + amount * ((i * 7919 % 101) - 50) / 50


def two_models(host: FakeHost, ratio: float = 2.0, noise: float = 0.05):
    a = FakeStep(host, "a", lambda i: MS * jitter(i, noise))
    b = FakeStep(host, "b", lambda i: ratio * MS * jitter(i * 31 + 7, noise))
    probe = FakeStep(host, "probe", lambda i: MS)
    return [Block(a, 4), Block(b, 2)], probe


# --------------------------------------------------------------------------- rotation


@pytest.mark.parametrize("models", [2, 3, 4, 5])
def test_rotation_puts_every_model_in_every_place_and_after_every_other(models):
    orders = [rotation(r, models) for r in range(2 * models)]
    assert all(sorted(o) == list(range(models)) for o in orders)
    for place in range(models):
        assert Counter(o[place] for o in orders) == {m: 2 for m in range(models)}
    follows = Counter((o[i], o[i + 1]) for o in orders for i in range(models - 1))
    assert set(follows) == {(x, y) for x in range(models) for y in range(models) if x != y}


def test_rounds_run_one_block_per_model_in_the_rotated_order_with_probes_around():
    host = FakeHost()
    blocks, probe = two_models(host)
    plan = Plan(min_time=0.0, max_time=1.0, min_rounds=3, precision=0.5)
    rounds = run_rounds(blocks, probe, host, plan)
    # round 0: probe a a a a probe b b probe; round 1: probe b b probe a a a a probe
    assert host.calls[:8] == ["probe", "a", "a", "a", "a", "probe", "b", "b"][:8]
    assert host.calls[8:12] == ["probe", "probe", "b", "b"]
    assert rounds.order[:2] == [(0, 1), (1, 0)]
    assert len(rounds.samples_ns[0][0]) == 4 and len(rounds.samples_ns[0][1]) == 2
    assert rounds.block_ns[0][1] == pytest.approx(sum(rounds.samples_ns[0][1]) / 2)


# --------------------------------------------------------------------------- stopping rule and bootstrap


def test_stops_once_every_median_and_ratio_is_known():
    host = FakeHost()
    blocks, probe = two_models(host, ratio=2.0, noise=0.05)
    plan = Plan(min_time=0.1, max_time=60.0, precision=0.01)
    rounds = run_rounds(blocks, probe, host, plan)
    assert rounds.stop_reason == "converged"
    s = summarize_rounds(rounds, plan)
    (r,) = s.ratios
    assert r.low <= 2.0 <= r.high and r.half_width_rel <= 0.01
    assert all(ci <= 0.01 for ci in s.median_ci_rel)
    assert rounds.elapsed_ns >= 0.1e9 and len(rounds) >= plan.min_rounds


def test_runs_at_least_min_rounds_even_when_the_ratio_is_known_sooner():
    host = FakeHost()
    blocks, probe = two_models(host, ratio=2.0, noise=0.0)  # known exactly after one round
    plan = Plan(min_time=0.0, max_time=60.0, precision=0.5)
    rounds = run_rounds(blocks, probe, host, plan)
    assert rounds.stop_reason == "converged"
    assert len(rounds) == plan.min_rounds == 10


def test_stops_at_max_time_when_the_ratio_cannot_be_pinned_down():
    host = FakeHost()
    a = FakeStep(host, "a", lambda i: MS)
    b = FakeStep(host, "b", lambda i: MS if i % 2 else 5 * MS)  # bimodal: its median never settles
    plan = Plan(min_time=0.05, max_time=0.5, precision=0.01)
    rounds = run_rounds([Block(a), Block(b)], FakeStep(host, "p", lambda i: MS), host, plan)
    assert rounds.stop_reason == "max_time"
    assert 0.5e9 <= rounds.elapsed_ns < 0.52e9


def test_bootstrap_ci_of_a_known_ratio_contains_it_and_is_reproducible():
    import numpy as np

    rng = np.random.default_rng(1)
    base = 1.0 + 0.1 * rng.standard_normal(200)
    other = 2.0 * (1.0 + 0.1 * rng.standard_normal(200))
    plan = Plan()
    (r,) = ratios([base, other], plan)
    assert r.low < 2.0 < r.high and r.low < r.ratio < r.high and r.rounds == 200
    assert r.half_width_rel < 0.05
    assert ratios([base, other], plan) == [r]  # fixed seed
    # rounds resampled within two groups: still about the same interval
    (g,) = ratios([base, other], plan, groups=[0] * 100 + [1] * 100)
    assert g.low < 2.0 < g.high


def test_bootstrap_resamples_whole_rounds():
    import numpy as np

    # Every round has model 1 exactly 3 x model 0, with a wildly varying host:
    # resampling rounds (not models apart) keeps the ratio exactly 3.
    host = np.exp(np.random.default_rng(0).standard_normal(50))
    table = np.stack([host, 3 * host], axis=1)
    boot = bootstrap_medians(table, 300, seed=0)
    assert boot.shape == (300, 2)
    assert np.allclose(boot[:, 1] / boot[:, 0], 3.0)


def test_plan_options_and_block_size():
    plan = Plan.from_options(0.02, 1.0, 5.0, models=3, drop_unsteady=True)
    assert (plan.min_time, plan.max_time, plan.precision, plan.drop_unsteady) == (3.0, 15.0, 0.02, True)
    assert plan.block_calls(5 * MS) == 5 and plan.block_calls(100 * MS) == 1 and plan.block_calls(0) >= 1
    assert plan.block_calls(5 * MS, slowest_ns=60 * MS) == 12  # as long as the slowest model's call
    for bad in (0, 1, -0.5, "1%"):
        with pytest.raises(UsageError, match="precision"):
            Plan.from_options(bad, 1.0, 5.0, 2, False)


# --------------------------------------------------------------------------- the steadiness probe


def slow_between(start_s: float, end_s: float, factor: float):
    return lambda now: factor if start_s * 1e9 <= now < end_s * 1e9 else 1.0


def test_rounds_where_the_host_slowed_are_flagged_and_named():
    host = FakeHost(slow_between(0.3, 0.5, 1.5))
    blocks, probe = two_models(host, noise=0.01)
    plan = Plan(min_time=1.0, max_time=1.0, precision=0.001)
    rounds = run_rounds(blocks, probe, host, plan)
    s = summarize_rounds(rounds, plan)
    starts = rounds.start_ns
    slow = [r for r in range(len(rounds) - 1) if 0.3e9 <= starts[r] and starts[r + 1] <= 0.5e9]  # wholly slowed
    assert slow and set(slow) <= set(s.unsteady)
    assert all(0.28e9 <= rounds.start_ns[r] < 0.5e9 for r in s.unsteady)  # a round may begin just before
    assert s.max_slowdown == pytest.approx(0.5, abs=0.02)
    text = unsteady_warning(rounds.probe_ns, s.unsteady, 1, plan.unsteady, dropped=False)
    assert "up to 50% slower" in text and round_ranges([1 + r for r in s.unsteady]) in text
    assert f"in {len(s.unsteady)} of {len(rounds)} rounds" in text and "kept" in text


def test_a_steady_host_gets_no_warning():
    host = FakeHost()
    blocks, probe = two_models(host)
    rounds = run_rounds(blocks, probe, host, Plan(min_time=0.2, max_time=0.2, precision=0.001))
    assert flag_unsteady(rounds.probe_ns, 0.10) == []
    assert unsteady_warning(rounds.probe_ns, [], 1, 0.10, False) is None


def test_drop_unsteady_leaves_the_slowed_rounds_out():
    # While the host is slow, model b suffers more than a (say it needs more memory bandwidth).
    host = FakeHost(slow_between(0.1, 0.75, 2.0))
    a = FakeStep(host, "a", lambda i: MS)
    b = FakeStep(host, "b", lambda i: 2 * MS * (2.0 if 0.1e9 <= host.now < 0.75e9 else 1.0))
    probe = FakeStep(host, "p", lambda i: MS)
    kept = Plan(min_time=1.0, max_time=1.0, precision=0.001)
    dropped = Plan(min_time=1.0, max_time=1.0, precision=0.001, drop_unsteady=True)
    rounds = run_rounds([Block(a, 5), Block(b, 3)], probe, host, kept)
    all_in, steady = summarize_rounds(rounds, kept), summarize_rounds(rounds, dropped)
    assert steady.unsteady == all_in.unsteady and all_in.unsteady
    assert set(steady.kept) == set(range(len(rounds))) - set(all_in.unsteady)
    assert (steady.ratios[0].low, steady.ratios[0].high) == (pytest.approx(2.0), pytest.approx(2.0))
    assert all_in.ratios[0].high > 2.5  # nearly half the rounds at 4x: resamples where they are most
    assert "dropped" in unsteady_warning(rounds.probe_ns, steady.unsteady, 1, 0.1, dropped=True)


def test_time_off_the_cpu_counts_as_a_slower_host():
    # The probe ran at full speed in every round, but in round 2 the process
    # got a third of the core (wall 30 ms, CPU 10 ms): the host was 3x slower.
    host = host_time([MS, MS, MS, MS], [10 * MS, 10 * MS, 30 * MS, 10 * MS], [10 * MS] * 4)
    assert host == [MS, MS, 3 * MS, MS]
    assert flag_unsteady(host, 0.10) == [2]
    assert host_time([MS, 2 * MS]) == [MS, 2 * MS]  # no CPU times (CUDA): the probe alone
    fake = FakeHost()
    blocks, probe = two_models(fake)
    rounds = run_rounds(blocks, probe, fake, Plan(min_time=0.0, max_time=0.05, min_rounds=2), cpu_clock=fake)
    assert rounds.cpu_ns == rounds.wall_ns and rounds.host_ns() == rounds.probe_ns


def test_round_ranges():
    assert round_ranges([9, 3, 4, 5, 11, 12]) == "3-5, 9, 11-12"
    assert round_ranges([7]) == "7"


# --------------------------------------------------------------------------- benchmark() and the JSON


def tiny_net():
    """The factory the CLI tests name as 'tests/test_bench_interleaved.py:tiny_net'."""
    import torch

    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten())


def wide_net():
    import torch

    return torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten())


FAST = dict(min_time=0.05, max_time=0.2, threads=1, costs=False)


def test_benchmark_of_several_models_is_interleaved_with_ratios_rounds_and_probe():
    # The stop is the precision (a loose 50%, met as soon as the 10 rounds are in on any machine),
    # not the clock: max_time is far beyond what 10 rounds of these models take even on a loaded
    # host, so `rounds >= 10` tests the rule (at least Plan.min_rounds), not the machine's speed.
    results = nb.benchmark([tiny_net(), wide_net()], (1, 3, 16, 16), batches=[1, 2], **{**FAST, "max_time": 60.0}, precision=0.5)
    assert [(r.batch, r.status) for r in results] == [(1, "ok"), (2, "ok"), (1, "ok"), (2, "ok")]  # model order
    assert all(r.measurement["protocol"] == "interleaved" and r.measurement["rounds"] >= Plan().min_rounds == 10 for r in results)
    doc = nb.to_json(results)
    json.dumps(doc)
    assert [c["batch"] for c in doc["comparisons"]] == [1, 2]
    c = doc["comparisons"][0]
    assert set(c) == {"model", "baseline", "batch", "ratio", "ci", "rounds"}
    assert c["ci"][0] <= c["ratio"] <= c["ci"][1] and c["baseline"] != c["model"]  # two Sequentials, numbered
    numbers = [r["round"] for r in doc["rounds"]]
    assert numbers == list(range(1, len(numbers) + 1))  # numbered across batch sizes
    assert len(doc["probe"]) == len(doc["rounds"]) and all(p["ms"] > 0 for p in doc["probe"])
    assert set(doc["unsteady_rounds"]) == {p["round"] for p in doc["probe"] if p["unsteady"]}
    assert doc["probe_kernel"][0]["kernel"].startswith("matmul")
    assert set(doc["rounds"][0]["block_ms"]) == {c["model"], c["baseline"]}


def test_one_model_keeps_the_protocol_of_its_own():
    results = nb.benchmark(tiny_net(), (1, 3, 8, 8), precision=0.05, **FAST)
    assert "protocol" not in results[0].measurement and results.runs == []
    assert results[0].protocol["rel_precision"] == 0.05
    doc = nb.to_json(results)
    assert doc["comparisons"] == [] and doc["rounds"] == []
    (r,) = nb.benchmark([tiny_net(), tiny_net()], (1, 3, 8, 8), interleave=False, **FAST)[:1]
    assert "protocol" not in r.measurement


def test_pool_of_processes_spreads_and_pooled_ci():
    doc = nb.to_json(nb.benchmark([tiny_net(), wide_net()], (1, 3, 16, 16), **FAST))
    pooled = pool([doc, doc])
    (c,) = pooled["comparisons"]
    assert c["spread"] == 0.0 and c["rounds"] == 2 * doc["comparisons"][0]["rounds"]
    assert c["within_ci"] == [True, True]
    assert pooled["medians"][0]["spread"] == 0.0 and len(pooled["medians"]) == 2
    assert spread([1.0, 1.1]) == pytest.approx(0.1) and spread([]) is None


def test_a_process_past_its_timeout_is_one_sentence():
    with pytest.raises(ModelRunError, match=r"process 1 of 2 did not finish within 0 s"):
        in_processes(["lenet5"], 2, timeout_s=0.05)


# --------------------------------------------------------------------------- CLI

runner = CliRunner()
TINY, WIDE = f"{__file__}:tiny_net", f"{__file__}:wide_net"
CLI_FAST = ["--input", "1,3,16,16", "--threads", "1", "--min-time", "0.05", "--max-time", "0.2", "--no-progress"]


def test_cli_json_and_table_of_several_models():
    res = runner.invoke(app, ["bench", TINY, WIDE, *CLI_FAST, "--precision", "5%", "--drop-unsteady", "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["comparisons"] and doc["interleaved"][0]["plan"]["drop_unsteady"] is True
    assert doc["interleaved"][0]["plan"]["precision"] == 0.05
    res = runner.invoke(app, ["bench", TINY, WIDE, *CLI_FAST], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "Ratios (interleaved)" in res.stdout and "Time ratio" in res.stdout


def test_cli_processes_pools_fresh_processes():
    res = runner.invoke(app, ["bench", TINY, WIDE, *CLI_FAST, "--processes", "2", "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["processes"] == 2 and len(doc["runs"]) == 2
    (c,) = doc["comparisons"]
    assert len(c["per_process"]) == 2 and c["spread"] is not None and c["ratio"] > 0


def test_child_processes_get_every_option_roofline_and_each_input():
    from netstat.cli.bench import child_args

    args = child_args({"models": ["m"], "input_shape": ["1,12:int64", "attention_mask=1,12:int64"],
                       "model_kwargs": ["width=4"], "roofline": True, "threads": 1})
    assert args == ["m", "--input", "1,12:int64", "--input", "attention_mask=1,12:int64", "--model-kwargs", "width=4",
                    "--threads", "1", "--roofline"]


@pytest.mark.parametrize("count", [0, 65, 1000, True])
def test_a_process_count_beyond_1_to_64_is_one_sentence(count):
    from netstat.bench.processes import check_processes

    with pytest.raises(UsageError, match=r"^processes must be a whole number from 1 to 64, not"):
        check_processes(count)


def test_cli_too_many_processes_is_one_sentence_exit_2_before_any_runs():
    res = runner.invoke(app, ["bench", "no_such_net", "--processes", "65", "--no-progress"])
    assert res.exit_code == 2, res.output
    assert "--processes must be a whole number from 1 to 64, not 65." in res.stderr


# --------------------------------------------------------------------------- a real slowdown


BUSY = "import time\nend = time.time() + 20\nwhile time.time() < end: pass\n"


class Injector:
    """Progress callback: starts busy processes (more than the cores) once the
    rounds have run for `start_s`, stops them at `stop_s`, and remembers
    which rounds ran meanwhile."""

    def __init__(self, start_s: float, stop_s: float, count: int) -> None:
        self.start_s, self.stop_s, self.count = start_s, stop_s, count
        self.rounds_done, self.t0 = 0, None
        self.procs: list[subprocess.Popen] = []
        self.first = self.last = None  # the rounds (1-based) that ran while they were busy

    def __call__(self, event) -> None:
        if event.phase != "rounds":
            return
        self.rounds_done += 1
        now = time.perf_counter()
        self.t0 = self.t0 or now
        if not self.procs and self.first is None and now - self.t0 >= self.start_s:
            self.procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(self.count)]
            self.first = self.rounds_done + 1
        elif self.procs and now - self.t0 >= self.stop_s:
            self.stop()
            self.last = self.rounds_done

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait()
        self.procs = []


def test_the_probe_names_the_rounds_busy_processes_slowed():
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    inject = Injector(start_s=1.5, stop_s=3.5, count=3 * cores)
    try:
        results = nb.benchmark([tiny_net(), wide_net()], (1, 3, 32, 32), threads=1, costs=False, min_time=2.5,
                               max_time=2.5, precision=0.0001, progress=inject)
    finally:
        inject.stop()
    assert inject.first is not None and inject.last is not None, "the rounds ended before the slowdown"
    (run,) = results.runs
    injected = set(range(inject.first, inject.last + 1))
    assert set(run.unsteady_rounds) & injected, (run.unsteady_rounds, injected)
    (warning,) = [w for w in run.warnings if w.startswith("The host's speed varied")]
    assert round_ranges(run.unsteady_rounds) in warning


def test_compare_bench_shows_each_time_against_the_first(monkeypatch):
    import functools

    monkeypatch.setattr(nb, "benchmark", functools.partial(nb.benchmark, **FAST))
    res = runner.invoke(app, ["compare", TINY, WIDE, "--input", "1,3,16,16", "--bench", "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    (c,) = doc["comparisons"]
    assert c["ratio"] > 0 and all(m["latency_ms"]["median"] > 0 for m in doc["models"])
    res = runner.invoke(app, ["compare", TINY, WIDE, "--input", "1,3,16,16", "--bench"], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "Time vs first" in res.stdout and "Latency (ms)" in res.stdout


# --------------------------------------------------------------------------- CUDA (skipped without a GPU)


@pytest.mark.cuda
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_interleaved_with_events_and_a_gpu_probe():
    results = nb.benchmark([tiny_net(), wide_net()], (2, 3, 32, 32), device="cuda", min_time=0.05, max_time=0.2,
                           costs=False)
    assert all(r.measurement["timer"] == "cuda_events" and r.measurement["protocol"] == "interleaved" for r in results)
    (run,) = results.runs
    assert run.probe["device"].startswith("cuda") and run.comparisons[0]["ratio"] > 0
