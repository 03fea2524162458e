"""netstat.bench: statistics by hand, the protocol on fake clocks, the JSON
schema, the CLI on a tiny model, and bad input. Nothing here asserts a timing."""

from __future__ import annotations

import functools
import json
import math

import pytest
import torch
from typer.testing import CliRunner

from netstat import bench as nb
from netstat.cli import app
from netstat.errors import UsageError

HAS_CUDA = torch.cuda.is_available()
requires_cuda = pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device on this machine")
FAST = dict(min_time=0.02, max_time=0.1)


def tiny_net() -> torch.nn.Module:
    """The factory the CLI tests name as 'tests/test_bench.py:tiny_net'."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 2),
    )


# --------------------------------------------------------------------------- statistics


def test_percentile_interpolates_linearly_between_order_statistics():
    xs = [1.0, 2.0, 3.0, 4.0]
    # h = (n - 1) q / 100: p50 -> 1.5 -> 2 + 0.5 (3 - 2); p10 -> 0.3; p90 -> 2.7; p99 -> 2.97
    assert nb.percentile(xs, 50) == pytest.approx(2.5)
    assert nb.percentile(xs, 10) == pytest.approx(1.3)
    assert nb.percentile(xs, 90) == pytest.approx(3.7)
    assert nb.percentile(xs, 99) == pytest.approx(3.97)
    assert nb.percentile(xs, 0) == 1.0 and nb.percentile(xs, 100) == 4.0
    assert nb.percentile([7.0], 50) == 7.0


def test_summarize_by_hand():
    s = nb.summarize([10, 1, 3, 2, 4])  # sorted: 1 2 3 4 10
    assert s.n == 5 and s.min == 1 and s.max == 10
    assert s.mean == pytest.approx(4.0)  # 20 / 5
    assert s.median == pytest.approx(3.0)
    # p25: h = 1 -> 2; p75: h = 3 -> 4
    assert (s.p25, s.p75, s.iqr) == (pytest.approx(2.0), pytest.approx(4.0), pytest.approx(2.0))
    # deviations -3 -2 -1 0 6: squares sum to 50, / (n - 1) = 12.5
    assert s.std == pytest.approx(math.sqrt(12.5))
    assert s.iqr_rel == pytest.approx(2 / 3)
    assert s.median_ci_low is None  # n = 5 is too few for a 95% interval


def test_summarize_single_sample_and_ms_conversion():
    s = nb.summarize([2_000_000])
    assert s.std == 0.0 and s.iqr == 0.0
    ms = s.to_ms()
    assert ms["median"] == pytest.approx(2.0) and ms["n"] == 1


def test_median_ci_ranks_exact():
    # Bin(10, 1/2): P(B <= 1) = 11/1024, P(B <= 2) = 56/1024. r = 2 covers
    # 1 - 22/1024 = 97.9% >= 95%; r = 3 covers 1 - 112/1024 = 89%. So [x_(2), x_(9)].
    assert nb.median_ci_ranks(10) == (1, 8)
    # n = 5: even [x_(1), x_(5)] covers only 1 - 2/32 = 93.75%.
    assert nb.median_ci_ranks(5) is None
    # n = 6: [x_(1), x_(6)] covers 1 - 2/64 = 96.9%.
    assert nb.median_ci_ranks(6) == (0, 5)


def test_median_ci_ranks_against_binomial_sums():
    for n in (20, 57, 300, 1000):
        lo, hi = nb.median_ci_ranks(n)
        r = lo + 1
        tail = lambda k: sum(math.comb(n, i) for i in range(k)) / 2**n  # noqa: E731 - P(B <= k - 1)
        assert 1 - 2 * tail(r) >= 0.95 > 1 - 2 * tail(r + 1)
        assert hi == n - r


def test_median_ci_ranks_normal_approximation_beyond_1000():
    # r = floor(n/2 - 1.96 sqrt(n)/2 + 1/2) = floor(1000 - 43.83 + 0.5) = 956
    assert nb.median_ci_ranks(2000) == (955, 1044)
    # continuous with the exact rule at the switch
    exact, approx = nb.median_ci_ranks(1000), nb.median_ci_ranks(1001)
    assert abs(exact[0] - approx[0]) <= 1


def test_median_ci_rel():
    xs = [float(i) for i in range(1, 11)]  # median 5.5, CI [x_(2), x_(9)] = [2, 9]
    assert nb.median_ci_rel(xs) == pytest.approx(3.5 / 5.5)
    assert nb.median_ci_rel([1.0, 2.0, 3.0]) is None


# --------------------------------------------------------------------------- protocol on a fake clock


class FakeClock:
    """A clock that moves only when a fake step 'runs'."""

    def __init__(self, durations):
        self.now = 0
        self.calls = 0
        self._durations = durations

    def __call__(self) -> int:
        return self.now

    def step(self) -> int:
        d = self._durations(self.calls)
        self.calls += 1
        self.now += d + 1_000  # 1 µs of harness time outside the timed interval
        return d


MS = 1_000_000


def test_warm_up_waits_for_minimum_count_and_time_even_when_stable():
    clock = FakeClock(lambda i: MS)  # perfectly stable from the start
    p = nb.Protocol(warmup_min_iters=5, warmup_min_time=0.05, warmup_max_time=1.0, warmup_window=5)
    w = nb.warm_up(clock.step, clock, p)
    assert w.settled
    assert w.elapsed_ns >= 0.05e9
    assert w.iterations >= 50  # 50 ms of 1 ms calls
    assert w.estimate_ns == MS


def test_warm_up_continues_until_running_median_settles():
    # 20 ms at first, improving by 10% per call down to a floor of 2 ms.
    def slow_then_fast(i):
        return max(int(20 * MS * 0.9**i), 2 * MS)

    clock = FakeClock(slow_then_fast)
    p = nb.Protocol(warmup_min_iters=3, warmup_min_time=0.0, warmup_max_time=10.0, warmup_window=3)
    w = nb.warm_up(clock.step, clock, p)
    assert w.settled
    floor_reached = next(i for i in range(100) if slow_then_fast(i) == 2 * MS)
    assert w.iterations > floor_reached  # did not stop while the time still fell
    assert w.estimate_ns == 2 * MS


def test_warm_up_gives_up_at_max_time():
    clock = FakeClock(lambda i: MS * (1 + i))  # never settles: every call slower
    p = nb.Protocol(warmup_min_iters=3, warmup_min_time=0.0, warmup_max_time=0.2, warmup_window=3)
    w = nb.warm_up(clock.step, clock, p)
    assert not w.settled
    assert 0.2e9 <= w.elapsed_ns < 0.3e9


def test_measure_stops_once_median_known_after_min_time():
    clock = FakeClock(lambda i: MS)
    p = nb.Protocol(min_time=0.1, max_time=5.0, min_samples=10)
    m = nb.measure(clock.step, clock, p)
    assert m.stop_reason == "converged"
    assert m.ci_rel == 0.0
    # stops at the first sample at or after 100 ms (each sample is 1 ms + 1 µs of harness)
    assert len(m.samples_ns) == math.ceil(0.1e9 / (MS + 1_000))


def test_measure_min_samples_dominates_for_slow_models():
    clock = FakeClock(lambda i: 50 * MS)
    p = nb.Protocol(min_time=0.01, max_time=60.0, min_samples=10)
    m = nb.measure(clock.step, clock, p)
    assert m.stop_reason == "converged" and len(m.samples_ns) == 10


def test_measure_stops_at_max_time_when_too_noisy():
    clock = FakeClock(lambda i: MS if i % 2 else 10 * MS)  # bimodal: the median never pins down
    p = nb.Protocol(min_time=0.05, max_time=0.5)
    m = nb.measure(clock.step, clock, p)
    assert m.stop_reason == "max_time"
    assert m.ci_rel is not None and m.ci_rel > 0.01
    assert 0.5e9 <= m.elapsed_ns < 0.52e9


def test_measure_converges_on_mild_noise_with_enough_samples():
    # ±5% deterministic jitter: the 95% CI of the median shrinks below ±1%.
    clock = FakeClock(lambda i: MS + (i * 7919 % 101 - 50) * 1_000)
    p = nb.Protocol(min_time=0.01, max_time=100.0)
    m = nb.measure(clock.step, clock, p)
    assert m.stop_reason == "converged" and m.ci_rel <= 0.01
    assert len(m.samples_ns) > 10


def test_measure_reports_fraction_in_unit_interval():
    clock = FakeClock(lambda i: MS)
    seen = []
    nb.measure(clock.step, clock, nb.Protocol(min_time=0.05, max_time=1.0), seen.append)
    assert seen and all(0 <= f < 1 for f in seen)
    assert seen == sorted(seen)


def test_protocol_from_times_validates_and_scales_warm_up():
    p = nb.Protocol.from_times(0.1, 0.4)
    assert p.warmup_min_time == 0.1 and p.warmup_max_time == 0.2 and p.block_time == pytest.approx(0.01)
    with pytest.raises(UsageError):
        nb.Protocol.from_times(0, 1)
    with pytest.raises(UsageError):
        nb.Protocol.from_times(2, 1)


def test_cpu_step_times_calls_back_to_back():
    calls = []
    step = nb.make_step(lambda: calls.append(1), "cpu", calls=5)
    assert step() > 0 and len(calls) == 5
    single = nb.make_step(lambda: calls.append(1), "cpu")
    assert single() > 0 and len(calls) == 6


def test_other_load_is_cores_or_none():
    with nb.OtherLoad() as load:
        sum(range(100_000))
    assert load.cores is None or load.cores >= 0


# --------------------------------------------------------------------------- results and JSON


def _result(**kw) -> nb.BenchResult:
    r = nb.BenchResult("m", "cpu", 4, "fp32", "latency", (4, 3, 8, 8))
    r.stats = nb.summarize([2 * MS] * 10)
    r.flops, r.memory_access_bytes, r.madds = 1_000_000, 200_000, 400_000
    for key, value in kw.items():
        setattr(r, key, value)
    return r


def test_derived_quantities():
    r = _result()
    assert r.median_ms == 2.0
    assert r.samples_per_s == pytest.approx(2000.0)  # 4 samples / 2 ms
    assert r.achieved_flops_per_s == pytest.approx(5e8)  # 1e6 FLOPs / 2 ms
    assert r.arithmetic_intensity == pytest.approx(5.0)  # 1e6 / 2e5


def test_roofline_bound_by_hand():
    roof = nb.Roofline("cpu", "fp32", 2, peak_flops_per_s=1e10, bandwidth_bytes_per_s=1e9,
                       matmul_size=512, copy_bytes=1 << 20)
    assert roof.ridge_point == 10.0
    d = _result(roofline=roof).roofline_dict()
    # AI 5 FLOP/byte < ridge 10: memory bound at 5 x 1e9 = 5e9 FLOP/s; achieved 5e8 -> 10%
    assert d["bound"] == "memory"
    assert d["attainable_flops_per_s"] == pytest.approx(5e9)
    assert d["fraction_of_attainable"] == pytest.approx(0.1)
    assert d["fraction_of_peak"] == pytest.approx(0.05)


SCHEMA_KEYS = {"model", "device", "batch", "dtype", "latency_ms", "throughput", "cold_start_ms",
               "madds", "flops", "achieved_flops_per_s", "env"}
LATENCY_KEYS = {"median", "mean", "min", "p10", "p90", "p99", "iqr", "std", "n"}
ENV_KEYS = {"netstat", "torch", "parallel_info", "cpu", "logical_cores", "gpu", "threads", "dtype", "amp",
            "channels_last", "compile", "batch", "input_shape", "date", "allocator"}


def _check_schema(doc: dict) -> None:
    assert doc["schema_version"] == nb.SCHEMA_VERSION
    for r in doc["results"]:
        assert SCHEMA_KEYS <= set(r)
        if r["status"] == "ok":
            assert LATENCY_KEYS <= set(r["latency_ms"])
            assert r["throughput"]["samples_per_s"] > 0
        assert ENV_KEYS <= set(r["env"])
    json.dumps(doc)  # plain JSON types only


def test_oom_result_serialises():
    r = nb.BenchResult("m", "cuda", 4096, "fp16", "latency", (4096, 3, 8, 8), status="oom", error="Out of memory.")
    d = r.to_dict()
    assert d["latency_ms"] is None and d["throughput"]["samples_per_s"] is None and d["status"] == "oom"


# --------------------------------------------------------------------------- benchmark() on a tiny module


def test_benchmark_tiny_module_leaves_it_untouched():
    net = tiny_net().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    threads = torch.get_num_threads()
    events = []
    results = nb.benchmark(net, (1, 3, 8, 8), batches=[1, 2], threads=1, progress=events.append, **FAST)
    assert [r.batch for r in results] == [1, 2]
    assert all(r.status == "ok" and r.stats.n >= 1 and r.cold_start_ns > 0 for r in results)
    assert results[1].input_shape == (2, 3, 8, 8)
    assert results[0].env["threads"] == 1 and torch.get_num_threads() == threads
    assert results[0].measurement["timer"] == "perf_counter_ns"
    assert results[0].measurement["minor_faults_per_call"] >= 0 and results[0].measurement["kernel_ms_per_call"] >= 0
    assert net.training and all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert events[-1].phase == "done" and events[-1].index == 1 and events[-1].total == 2
    _check_schema(nb.to_json(results))


def test_user_module_is_never_timed_itself():
    """Its forward may update buffers or caches: a working copy is timed, also when nothing needs changing."""
    net = tiny_net().eval()
    from netstat.spec import resolve

    src = resolve(net, (1, 3, 8, 8))
    same = nb._prepare(src, "cpu", "fp32", False, False, None)
    assert same is not net and all(a is not b and torch.equal(a, b) for a, b in zip(same.parameters(), net.parameters()))
    copied = nb._prepare(src, "cpu", "bf16", False, False, None)
    assert copied is not net and next(net.parameters()).dtype == torch.float32
    assert nb._prepare(resolve(tiny_net().train(), (1, 3, 8, 8)), "cpu", "fp32", False, False, None).training is False


def test_benchmark_throughput_mode_and_bf16():
    (r,) = nb.benchmark(tiny_net(), (2, 3, 8, 8), mode="throughput", dtype="bf16", channels_last=True, **FAST)
    assert r.mode == "throughput" and r.iterations_per_sample >= 1 and r.batch == 2
    assert r.env["channels_last"] and r.dtype == "bf16"


def test_benchmark_costs_beside_time():
    (r,) = nb.benchmark(tiny_net(), (1, 3, 8, 8), **FAST)
    # conv 3->4, 3x3, 8x8 output: 4*8*8*3*9 = 6912 MAdds; linear 4->2: 8. Total 6920.
    if r.madds is not None:
        assert r.madds == 6920
        assert r.achieved_flops_per_s > 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"device": "tpu"},
        {"dtype": "fp8"},
        {"dtype": "fp32", "amp": True},
        {"mode": "fastest"},
        {"threads": 0},
        {"batches": [0]},
        {"compile_mode": "turbo"},
        {"min_time": 1.0, "max_time": 0.5},
        {"allocator": "fast"},
    ],
)
def test_benchmark_bad_arguments(kwargs):
    with pytest.raises(UsageError):
        nb.benchmark(tiny_net(), (1, 3, 8, 8), **{**FAST, **kwargs})


def test_benchmark_module_without_input_shape():
    with pytest.raises(UsageError, match="no default input shape"):
        nb.benchmark(tiny_net(), **FAST)


def test_compare_bench_measures_the_comparisons_own_analyses(monkeypatch):
    """compare --bench hands `benchmark` the Analysis objects the comparison made
    (their sources and profiles), not the model strings to resolve again."""
    import netstat.analysis

    given, made = [], []
    real_benchmark, real_compare = nb.benchmark, netstat.analysis.compare

    def spy(model, *args, **options):
        given.append(model)
        return real_benchmark(model, *args, **{**options, **FAST, "threads": 1})

    monkeypatch.setattr(nb, "benchmark", spy)
    monkeypatch.setattr(netstat.analysis, "compare", lambda *a, **k: made.append(real_compare(*a, **k)) or made[-1])
    res = runner.invoke(app, ["compare", TINY, TINY, "--input", "2,3,8,8", "--bench", "--format", "json"])
    assert res.exit_code == 0, res.output
    (models,), (comparison,) = given, made
    assert len(models) == 2 and all(m is a for m, a in zip(models, comparison.analyses))
    assert [m["latency_ms"]["n"] >= 1 for m in json.loads(res.stdout)["models"]] == [True, True]


def test_compare_bench_imports_each_file_once_traces_each_model_once_and_keeps_model_kwargs(monkeypatch, tmp_path):
    """A factory that needs `width` (--model-kwargs) and takes int64 token ids."""
    import netstat.trace

    traces, real = [], netstat.trace.run_trace
    monkeypatch.setattr(netstat.trace, "run_trace", lambda model, inputs, *a, **k: traces.append(model) or real(model, inputs, *a, **k))
    monkeypatch.setattr(nb, "benchmark", functools.partial(nb.benchmark, **FAST, threads=1))
    specs = []
    for name in ("a", "b"):
        marker = tmp_path / f"{name}.imports"
        path = tmp_path / f"{name}.py"
        path.write_text(
            "import torch.nn as nn\n"
            f"with open({str(marker)!r}, 'a') as f:\n    f.write('x')\n"
            "def build(width):\n    return nn.Sequential(nn.Embedding(10, width), nn.Flatten(), nn.Linear(6 * width, 2))\n"
        )
        specs.append(f"{path}:build")
    res = runner.invoke(app, ["compare", *specs, "--input", "1,6:int64", "--model-kwargs", "width=4", "--bench", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert [(tmp_path / f"{n}.imports").read_text() for n in ("a", "b")] == ["x", "x"]
    assert len(traces) == 2
    assert [m["latency_ms"]["n"] >= 1 for m in json.loads(res.stdout)["models"]] == [True, True]


# --------------------------------------------------------------------------- CLI

runner = CliRunner()
TINY = f"{__file__}:tiny_net"
CLI_FAST = ["--min-time", "0.02", "--max-time", "0.1", "--no-progress"]


def test_cli_json():
    res = runner.invoke(app, ["bench", TINY, "--input", "1,3,8,8", "--batch", "1,2", "--threads", "1",
                              "--format", "json", *CLI_FAST])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    _check_schema(doc)
    assert [r["batch"] for r in doc["results"]] == [1, 2]


@pytest.mark.parametrize("fmt", ["table", "csv", "md"])
def test_cli_formats(fmt):
    res = runner.invoke(app, ["bench", TINY, "--input", "1,3,8,8", "--format", fmt, *CLI_FAST], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "Median ms" in res.stdout


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_cli_cuda_without_cuda_is_one_sentence_exit_2():
    res = runner.invoke(app, ["bench", TINY, "--input", "1,3,8,8", "--device", "cuda", *CLI_FAST])
    assert res.exit_code == 2
    assert "CUDA" in res.stderr and "Traceback" not in res.output
    assert res.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["--dtype", "fp8"],
        ["--batch", "0"],
        ["--batch", "one"],
        ["--mode", "fastest"],
        ["--min-time", "2", "--max-time", "1"],
        ["--amp"],
        ["--device", "tpu"],
        ["--allocator", "fast"],
    ],
)
def test_cli_bad_input_exit_2(args):
    res = runner.invoke(app, ["bench", TINY, "--input", "1,3,8,8", *CLI_FAST, *args])
    assert res.exit_code == 2, res.output
    assert "Error:" in res.stderr and "Traceback" not in res.output


HUGE = "2000000000"  # within the batch bound (2**31 - 1); 2e9 x 3 x 8 x 8 floats (1.5 TB) fit in no memory


def test_cli_every_batch_out_of_memory_exits_1_with_one_sentence():
    res = runner.invoke(app, ["bench", TINY, "--input", "1,3,8,8", "--batch", HUGE, "--format", "json", *CLI_FAST])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: Nothing was measured") and lines[0].count(". ") == 0, res.stderr
    assert [r["status"] for r in json.loads(res.stdout)["results"]] == ["oom"]


def test_cli_some_batches_out_of_memory_exit_0_with_a_note():
    res = runner.invoke(app, ["bench", TINY, "--input", "1,3,8,8", "--batch", f"1,{HUGE}", "--threads", "1", *CLI_FAST])
    assert res.exit_code == 0, res.output
    assert "1 of 2 runs ran out of memory" in res.stderr and "Error" not in res.stderr


def test_cli_unknown_model_exit_2():
    res = runner.invoke(app, ["bench", "no_such_net", *CLI_FAST])
    assert res.exit_code == 2 and "Unknown model" in res.stderr


# --------------------------------------------------------------------------- CUDA (skipped without a GPU)


@pytest.mark.cuda
@requires_cuda
def test_cuda_events_fp16_channels_last():
    (r,) = nb.benchmark(tiny_net(), (2, 3, 16, 16), device="cuda", dtype="fp16", channels_last=True, **FAST)
    assert r.status == "ok" and r.measurement["timer"] == "cuda_events"
    assert r.env["gpu"]["name"] and r.peak_memory_bytes > 0


@pytest.mark.cuda
@requires_cuda
def test_cuda_out_of_memory_batch_is_skipped_not_fatal():
    results = nb.benchmark(tiny_net(), (1, 3, 64, 64), device="cuda", batches=[1, 10**8], **FAST)
    assert [r.status for r in results] == ["ok", "oom"]
    assert "Out of memory" in results[1].error


@pytest.mark.cuda
@requires_cuda
def test_cuda_roofline():
    roof = nb.measure_roofline("cuda", "fp16", min_time=0.05, max_time=0.2)
    assert roof.peak_flops_per_s > 1e12 and roof.bandwidth_bytes_per_s > 1e11
