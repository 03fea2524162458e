"""netstat.bench takes every model and input form (issue 20): several
positional inputs, keyword inputs, int64 token ids, fp16 inputs, a
ModelSource or an Analysis; the model comes from ModelSource.instantiate (a
detector timed at the box counts of its MAdds); the caller's modes and RNG
are its own. Nothing here asserts a timing."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import netstat
from netstat import bench as nb
from netstat.cli import app
from netstat.errors import UsageError
from netstat.spec import InputSpec

from example_models import Tokens, TwoInputs  # the shared models of issue 20

FAST = dict(min_time=0.02, max_time=0.1, threads=1)
runner = CliRunner()
CLI_FAST = ["--threads", "1", "--min-time", "0.02", "--max-time", "0.1", "--no-progress"]


def two_inputs() -> nn.Module:
    """The factory the CLI tests name as 'tests/test_bench_inputs.py:two_inputs'."""
    return TwoInputs()


def tokens() -> nn.Module:
    return Tokens()


def built_on_meta() -> nn.Module:
    """A factory that builds its model on the meta device: nothing to time."""
    with torch.device("meta"):
        return nn.Linear(4, 2)


built_on_meta.input_shape = (1, 4)

HERE = __file__


def _tokens_inputs(batch: int = 1):
    from netstat.inputs import Inputs

    ids = InputSpec((batch, 12), "int64")
    return Inputs.of([ids], {"attention_mask": InputSpec((batch, 12), "int64")})


# --------------------------------------------------------------------------- benchmark(): every input form


def test_benchmark_times_a_two_input_model_at_each_batch():
    results = nb.benchmark(TwoInputs(), [(1, 3, 8, 8), (1, 8)], batches=[1, 3], **FAST)
    assert [r.status for r in results] == ["ok", "ok"]
    assert [r.input_shape for r in results] == [(1, 3, 8, 8), (3, 3, 8, 8)]  # the first input's
    assert results[1].inputs == [{"name": "0", "shape": [3, 3, 8, 8], "dtype": "float32"},
                                 {"name": "1", "shape": [3, 8], "dtype": "float32"}]
    assert results[1].inputs_text == "3x3x8x8, 3x8"
    # conv 3->8, 3x3 on 8x8: 8*6*6*27 = 7776 MAdds; fc 8->4: 32; per sample 7808
    assert [r.madds for r in results] == [7808, 3 * 7808]


def test_benchmark_feeds_token_ids_as_int64_and_keeps_them_int_in_bf16():
    (r,) = nb.benchmark(Tokens(), [InputSpec((2, 12), "int64")], dtype="bf16", **FAST)
    assert r.status == "ok" and r.inputs == [{"name": "0", "shape": [2, 12], "dtype": "int64"}]


def test_benchmark_takes_keyword_inputs():
    (r,) = nb.benchmark(Tokens(), _tokens_inputs(), batches=[2], **FAST)
    assert r.status == "ok" and r.input_shape == (2, 12)
    assert r.inputs_text == "2x12:int64, attention_mask=2x12:int64"
    assert nb.to_json([r])["results"][0]["inputs"][1] == {"name": "attention_mask", "shape": [2, 12], "dtype": "int64"}


def test_benchmark_takes_real_example_inputs_by_keyword():
    ids = torch.randint(0, 50, (1, 12))
    (r,) = nb.benchmark(Tokens(), inputs=ids, kwargs={"attention_mask": torch.ones(1, 12)}, **FAST)
    assert r.status == "ok" and r.inputs_text == "1x12:int64, attention_mask=1x12"


def test_benchmark_feeds_fp16_inputs_to_an_fp16_model():
    (r,) = nb.benchmark(nn.Linear(4, 2).half(), [InputSpec((1, 4), "float16")], **FAST)
    assert r.status == "ok" and r.inputs[0]["dtype"] == "float16"


def test_benchmark_passes_model_kwargs_to_the_factory(tmp_path):
    path = tmp_path / "wide.py"
    path.write_text("import torch.nn as nn\ndef build(width):\n    return nn.Linear(4, width)\nbuild.input_shape = (1, 4)\n")
    (r,) = nb.benchmark(f"{path}:build", model_kwargs={"width": 3}, **FAST)
    assert r.status == "ok" and r.madds == 12


def test_benchmark_says_in_one_sentence_which_input_is_missing():
    with pytest.raises(UsageError, match=r"takes 2 inputs \(x, y\)"):
        nb.benchmark(TwoInputs(), (1, 3, 8, 8), **FAST)


# --------------------------------------------------------------------------- ModelSource and Analysis


@pytest.fixture
def traces(monkeypatch):
    """The traced forwards (netstat.trace.run_trace) during a test, by input."""
    import netstat.trace

    seen, real = [], netstat.trace.run_trace

    def counted(model, inputs, device="meta", **options):
        seen.append(inputs.describe())
        return real(model, inputs, device, **options)

    monkeypatch.setattr(netstat.trace, "run_trace", counted)
    return seen


def test_benchmark_of_an_analysis_reuses_its_profile_and_traces_each_other_batch_once(traces):
    a = netstat.analyze(TwoInputs(), [(1, 3, 8, 8), (1, 8)])
    assert a.profile.totals["madds"] == 7808 and traces == ["1x3x8x8, 1x8"]
    results = nb.benchmark(a, batches=[1, 2], **FAST)
    assert [r.madds for r in results] == [7808, 2 * 7808]
    assert traces == ["1x3x8x8, 1x8", "2x3x8x8, 2x8"]  # batch 1: the analysis's own trace


def test_benchmark_of_a_model_source_keeps_its_builder_arguments_and_inputs(tmp_path):
    from netstat.spec import resolve

    path = tmp_path / "wide.py"
    path.write_text("import torch.nn as nn\ndef build(width):\n    return nn.Linear(4, width)\n")
    source = resolve(f"{path}:build", [(2, 4)], {"width": 5})
    (r,) = nb.benchmark(source, **FAST)
    assert r.status == "ok" and r.batch == 2 and r.madds == 2 * 4 * 5


# --------------------------------------------------------------------------- the model: instantiate


DETECTOR = "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn"


def test_a_detector_is_timed_at_the_box_counts_of_its_madds(monkeypatch):
    pytest.importorskip("torchvision")
    from netstat.bench import run
    from netstat.detection import counts_of

    timed = []
    real = run._prepare
    monkeypatch.setattr(run, "_prepare", lambda *a, **k: timed.append(real(*a, **k)) or timed[-1])
    source = netstat.analyze(DETECTOR, (1, 3, 64, 64), proposals=8, detections=4).source  # not traced: a source
    (r,) = nb.benchmark(source, **FAST)
    assert r.status == "ok"
    (model,) = timed
    counts = counts_of(model)
    assert counts is not None and (counts.proposals, counts.detections) == (8, 4)
    assert r.madds == netstat.profile(DETECTOR, (1, 3, 64, 64), proposals=8, detections=4).totals["madds"]


def test_cli_a_factory_that_builds_on_meta_is_one_sentence_exit_2():
    res = runner.invoke(app, ["bench", f"{HERE}:built_on_meta", *CLI_FAST])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("Error:") and "meta device" in lines[0], res.stderr
    assert "Traceback" not in res.output


# --------------------------------------------------------------------------- the CLI: repeated --input


def test_cli_bench_takes_every_input_and_shows_them_all():
    res = runner.invoke(app, ["bench", f"{HERE}:two_inputs", "--input", "1,3,8,8", "--input", "1,8", "--batch", "2",
                              "--format", "json", *CLI_FAST])
    assert res.exit_code == 0, res.output
    (r,) = json.loads(res.stdout)["results"]
    assert r["input_shape"] == [2, 3, 8, 8] and [i["shape"] for i in r["inputs"]] == [[2, 3, 8, 8], [2, 8]]
    assert r["env"]["input_shape"] == [2, 3, 8, 8]
    res = runner.invoke(app, ["bench", f"{HERE}:two_inputs", "--input", "1,3,8,8", "--input", "1,8", *CLI_FAST],
                        env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "1x3x8x8, 1x8" in res.stdout


def test_cli_bench_takes_keyword_token_inputs_in_bf16():
    res = runner.invoke(app, ["bench", f"{HERE}:tokens", "--input", "1,12:int64", "--input", "attention_mask=1,12:int64",
                              "--dtype", "bf16", "--format", "json", *CLI_FAST])
    assert res.exit_code == 0, res.output
    (r,) = json.loads(res.stdout)["results"]
    assert r["status"] == "ok" and [i["dtype"] for i in r["inputs"]] == ["int64", "int64"]
    assert r["inputs"][1]["name"] == "attention_mask"


# --------------------------------------------------------------------------- the caller's modes and RNG


@pytest.mark.parametrize("mode", [torch.inference_mode, torch.no_grad], ids=["inference_mode", "no_grad"])
def test_benchmark_inside_the_callers_mode_gives_the_same_costs(mode):
    (plain,) = nb.benchmark("lenet5", **FAST)
    with mode():
        (inside,) = nb.benchmark("lenet5", **FAST)
        still = torch.is_inference_mode_enabled(), torch.is_grad_enabled()
    assert inside.status == "ok"
    assert (inside.madds, inside.flops) == (plain.madds, plain.flops) == (416_520, plain.flops)
    assert still == (mode is torch.inference_mode, False)  # the caller's mode, as it was


def test_benchmark_leaves_the_callers_rng_where_it_was():
    before = torch.random.get_rng_state()
    nb.benchmark("lenet5", **FAST)
    assert torch.equal(torch.random.get_rng_state(), before)
