"""Training cost (issue 15): one step traced on meta -- forward, loss,
backward, optimizer -- its FLOPs against torch.utils.flop_counter, its
memory against hand arithmetic and against a real CPU step, `fit`, the JSON
block and the CLI."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn
from typer.testing import CliRunner

import netstat
from netstat.formulas import backward
from netstat.cli import app
from netstat.errors import UsageError
from netstat.formulas import bind
from netstat.spec import resolve
from netstat.training import training_profile
from netstat.training.fit import largest_batch, parse_memory
from netstat.zoo import list_models

aten = torch.ops.aten


# --------------------------------------------------------------------------- by hand


def test_two_layer_mlp_by_hand():
    # Linear(32, 64) -> ReLU -> Linear(64, 8) at batch 16, fp32, plain SGD; sizes rounded to 512 B blocks.
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 8))
    t = netstat.analyze(model, input_size=(16, 32)).training(batch=16, optimizer="sgd")
    x, h = 16 * 32 * 4, 16 * 64 * 4  # input 2048 B, hidden 4096 B
    w1, b1, w2, b2 = 64 * 32 * 4, 512, 8 * 64 * 4, 512  # 8192, 64 x 4 = 256 -> 512, 2048, 8 x 4 = 32 -> 512
    # Saved for backward: the first addmm saves x, ReLU its output r (the second addmm saves r too: once).
    assert t.totals["saved_bytes"] == x + h == 6144
    assert t.layer("0").saved_bytes == x and t.layer("1").saved_bytes == h
    # Before the step: parameters and the input.
    assert t.totals["persistent_bytes"] == w1 + b1 + w2 + b2 + x == 13312
    # The peak is the first layer's bias gradient (sum of grad_h): then the loss (4 -> 512),
    # all four gradients and grad_h (the gradient of the first layer's output) are live.
    loss = 512
    assert t.peak_bytes == 13312 + loss + w2 + b2 + w1 + b1 + h == 29184
    assert (t.peak_at.op, t.peak_at.phase, t.peak_at.layer) == ("aten.sum.dim_IntList", "backward", "0")
    # Work: forward 16 x 32 x 64 + 16 x 64 x 8 MAdds; backward twice that less grad_input of layer 0 (x needs none).
    assert t.totals["forward_madds"] == 16 * 32 * 64 + 16 * 64 * 8 == 40960
    assert t.totals["backward_madds"] == 16 * 64 * 32 + 2 * 16 * 64 * 8 == 49152
    assert t.totals["grad_bytes"] == t.totals["param_bytes"] == 4 * (64 * 32 + 64 + 8 * 64 + 8)


def test_conv_bn_relu_block_by_hand():
    # Conv2d(3, 8, 3, padding=1, no bias) -> BatchNorm2d(8) -> ReLU(inplace) on 2 x 3 x 8 x 8, fp32, SGD.
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
    t = netstat.analyze(model, input_size=(2, 3, 8, 8)).training(batch=2, optimizer="sgd")
    x, c = 2 * 3 * 8 * 8 * 4, 2 * 8 * 8 * 8 * 4  # input 1536 B, a feature map 4096 B
    stats = 8 * 4  # BN's save_mean and save_invstd, 32 B each (512 B blocks in the walk)
    # Saved: conv saves x (for grad_weight), BN its input c and both statistics, ReLU_ its output
    # (BN's output, changed in place: its own allocation).
    assert t.totals["saved_bytes"] == x + c + 2 * stats + c == 9792
    # Before the step: x (3 blocks), the conv weight 864 -> 1024, gamma, beta, running mean / var and
    # num_batches_tracked (512 each).
    assert t.totals["persistent_bytes"] == 1536 + 1024 + 5 * 512 == 5120
    # The peak is BN's backward: the loss, c and the statistics (saved), grad_y (from ReLU), and the
    # three outputs grad_c, grad_gamma, grad_beta are live at once.
    assert t.peak_bytes == 5120 + 512 + c + 2 * 512 + c + c + 2 * 512 == 19968
    assert (t.peak_at.op, t.peak_at.phase, t.peak_at.layer) == ("aten.native_batch_norm_backward.default", "backward", "1")
    # conv: 1024 outputs x 27 MAdds forward; backward only grad_weight (the input needs no gradient).
    assert t.totals["forward_madds"] == t.totals["backward_madds"] == 1024 * 27
    # backward FLOPs: 2 x 27648 (conv) + 1024 x (5 + 4) (BN) + 1024 (ReLU)
    assert t.totals["backward_flops"] == 2 * 27648 + 1024 * 9 + 1024 == 65536


# --------------------------------------------------------------------------- backward formulas


def test_convolution_backward_formula():
    # Grouped conv: input (2, 8, 5, 5), weight (16, 4, 3, 3), groups 2, output (2, 16, 3, 3):
    # the forward's F = 2*16*3*3 outputs x 4*3*3 = 288 x 36 = 10368 MAdds.
    args = dict(grad_output=(2, 16, 3, 3), input=(2, 8, 5, 5), weight=(16, 4, 3, 3), bias_sizes=[16], groups=2)
    both = backward.convolution_backward(**args, output_mask=(True, True, True))
    assert both.madds == 2 * 10368  # grad_input + grad_weight
    assert both.flops == 2 * 2 * 10368 + (288 - 16)  # + grad_bias: 288 grad_output elements into 16 sums
    assert backward.convolution_backward(**args, output_mask=(False, True, False)).madds == 10368
    # Transposed: input (1, 4, 3, 3), weight (4, 2, 2, 2) (Cin, Cout/g, k): every input element meets 2 x 4 weights.
    t = backward.convolution_backward(grad_output=(1, 2, 6, 6), input=(1, 4, 3, 3), weight=(4, 2, 2, 2), transposed=True, output_mask=(True, False, False))
    assert t.madds == 36 * 8


def test_norm_and_activation_backward_formulas():
    g = (2, 4, 3, 3)  # 72 elements
    assert backward.batch_norm_backward(g, train=True, output_mask=(True, True, True)).flops == 72 * (5 + 4)
    assert backward.batch_norm_backward(g, train=True, output_mask=(False, True, True)).flops == 72 * 5
    assert backward.batch_norm_backward(g, train=False, output_mask=(True, True, True)).flops == 72 * (1 + 4 + 1)
    # Layer norm over 10 features of (3, 10): with a weight, 10 (grad_input) + 2 (weight) + 1 (bias) per element.
    assert backward.layer_norm_backward((3, 10), weight=(10,), output_mask=(True, True, True)).flops == 30 * 13
    assert backward.layer_norm_backward((3, 10), weight=None, output_mask=(True, False, False)).flops == 30 * 9
    assert backward._per_element(1)(out=[(72,)]).flops == 72  # threshold_backward: compare-and-select
    assert backward.gelu_backward(out=[(5,)]).flops == 5 * 11
    assert backward.gelu_backward(approximate="tanh", out=[(5,)]).flops == 5 * 16


def test_pooling_backward_formulas():
    # avg 2x2 of (1, 1, 4, 4) -> 4 outputs: each divided once and added to 4 inputs.
    assert backward.avg_pool_backward((1, 1, 2, 2), (1, 1, 4, 4), [2, 2]).flops == 4 * (4 + 1)
    assert backward.max_pool_backward((1, 3, 2, 2)).flops == 12
    # adaptive avg of (1, 2, 5, 5) to 2x2: windows along an axis 3 + 3 = 6, so 2 x 6 x 6 = 72 adds + 8 divides.
    assert backward.adaptive_avg_pool_backward((1, 2, 2, 2), (1, 2, 5, 5)).flops == 72 + 8
    assert backward.index_add(source=(3, 4)).flops == 12
    # bilinear x2 of (1, 2, 3, 3): 2 x 6 x 6 = 72 grad_output elements, 4 taps x (multiply, add) each.
    bilinear = netstat.formulas.FORMULAS[aten.upsample_bilinear2d_backward]
    assert bilinear(grad_output=(1, 2, 6, 6), out=[(1, 2, 3, 3)]).flops == 72 * 8


# --------------------------------------------------------------------------- flop_counter over the zoo


def _flop_counter_group_excess(step) -> int:
    """torch.utils.flop_counter counts a grouped conv's grad_weight `groups`
    times (as if every input channel met every output channel): its extra
    (groups - 1) x 2F FLOPs, F the forward's MAdds."""
    extra = 0
    for op in step.ops:
        if op.packet is not aten.convolution_backward:
            continue
        a = bind(op.func, op.args, op.kwargs)
        if a["groups"] > 1 and a["output_mask"][1]:
            forward = backward.convolution_backward(a["grad_output"].shape, a["input"].shape, a["weight"].shape, transposed=a["transposed"], output_mask=(True, False, False)).madds
            extra += 2 * (a["groups"] - 1) * forward
    return extra


def test_backward_flops_equal_flop_counter_for_every_classification_model():
    """FlopCounterMode around the same traced step (it sees the same ops:
    netstat's recorder is above it, memoisation off), forward + backward, at
    batch 2 (training BN needs more than one value per channel). flop_counter
    counts conv, matmul and attention only: 2 x netstat's MAdds, exactly, once
    its grouped-conv grad_weight overcount is added."""
    from torch.utils.flop_counter import FlopCounterMode

    models = list_models(task="classification")
    assert len(models) > 70
    wrong = {}
    for name in models:
        with FlopCounterMode(display=False) as counter:
            t = training_profile(resolve(name), batch=2, optimizer="none", memoize=False)
        ours = 2 * (t.totals["forward_madds"] + t.totals["backward_madds"]) + _flop_counter_group_excess(t.step)
        if ours != counter.get_total_flops() or t.totals["backward_madds"] == 0:
            wrong[name] = (ours, counter.get_total_flops())
    assert wrong == {}


# --------------------------------------------------------------------------- memory against a real step


def test_peak_within_3_percent_of_a_real_cpu_step():
    from netstat.training.measure import measure_step

    source = resolve("resnet18")
    real = measure_step(source, batch=2, optimizer="sgdm")
    predicted = training_profile(source, batch=2, optimizer="sgdm")
    assert abs(predicted.peak_bytes - real.peak_bytes) / real.peak_bytes < 0.03, (predicted.peak_bytes, real.peak_bytes)
    assert predicted.totals["persistent_bytes"] == pytest.approx(real.baseline_bytes, rel=0.002)  # 512-byte rounding only


# --------------------------------------------------------------------------- parameters, optimizer, precision


def test_frozen_parameters_get_no_gradient_or_state():
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    for p in model[0].parameters():
        p.requires_grad_(False)
    t = netstat.analyze(model, input_size=(8, 16)).training(batch=8, optimizer="adamw")
    trainable = 4 * (32 * 4 + 4)
    assert t.totals["frozen_params"] == 16 * 32 + 32 and t.totals["trainable_params"] == 32 * 4 + 4
    assert t.totals["grad_bytes"] == trainable
    assert t.totals["optimizer_bytes"] == 2 * trainable  # Adam's two moments (its step counts are CPU scalars)
    assert t.layer("0").grad_bytes == t.layer("0").optimizer_bytes == 0
    assert model[0].weight.device.type == "cpu"  # the user's model is never touched


def test_optimizer_state_and_stopping_after_backward():
    source = resolve("lenet5")
    sgdm, none = training_profile(source, 4, "sgdm"), training_profile(source, 4, "none")
    assert sgdm.totals["optimizer_bytes"] == sgdm.totals["param_bytes"]  # one momentum buffer
    assert none.totals["optimizer_flops"] == 0 and none.phases["optimizer"][0] == none.phases["optimizer"][1]


def test_amp_keeps_fp32_parameters_and_casts_activations():
    source = resolve("resnet18")
    fp32, amp, bf16 = (training_profile(source, 4, "sgd", **kw) for kw in ({}, {"amp": "bf16"}, {"dtype": "bf16"}))
    assert amp.totals["param_bytes"] == amp.totals["grad_bytes"] == fp32.totals["param_bytes"]  # fp32 master weights
    assert bf16.totals["param_bytes"] == fp32.totals["param_bytes"] // 2
    conv = next(op for op in amp.step.ops if op.packet is aten.convolution)
    assert conv.outputs[0].dtype == torch.bfloat16 and all(r.dtype == torch.bfloat16 for r in conv.inputs[:2])
    # What autocast saves: the bf16 copies of the weights and of the input (2 bytes an element),
    # max pooling's int64 indices as in fp32, and every activation at half its fp32 bytes.
    made_by: dict = {}
    for op in amp.step.ops:
        for r in op.outputs:
            made_by.setdefault(r.storage, (op.name, r.dtype))
    kinds = {}
    for storage, entry in amp.step.saved.items():
        kind = made_by.get(storage, ("input", None))
        kinds[kind] = kinds.get(kind, 0) + entry.nbytes
    casts, indices = kinds.pop(("aten._to_copy.default", torch.bfloat16)), kinds.pop(("aten.max_pool2d_with_indices.default", torch.int64))
    model = netstat.get_model("resnet18", "meta")
    weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))  # saved by conv / matmul: not biases, not BN
    assert casts == 2 * weights + 2 * 4 * 3 * 224 * 224
    assert all(dtype == torch.bfloat16 for _, dtype in kinds)
    assert sum(kinds.values()) == (fp32.totals["saved_bytes"] - indices - fp32.totals["input_bytes"]) // 2
    assert amp.totals["forward_madds"] == fp32.totals["forward_madds"]
    assert any("autocast" in n.lower() for n in amp.notes)


def test_bad_training_arguments_name_the_parameter():
    a = netstat.analyze("lenet5")
    for kwargs, fragment in [({"batch": 0}, "batch"), ({"optimizer": "lion"}, "optimizer"), ({"dtype": "fp64"}, "dtype"),
                             ({"amp": "fp8"}, "amp"), ({"amp": "bf16", "dtype": "bf16"}, "amp"), ({"loss": 3}, "loss")]:
        with pytest.raises(UsageError, match=fragment):
            a.training(**kwargs)


# --------------------------------------------------------------------------- fit


def test_largest_batch_search_is_exact_on_monotone_peaks():
    for base, per, budget in [(100, 7, 10_000), (5_000, 1, 5_000), (10, 3, 9), (0, 1000, 1_000_000)]:
        def peak(b, base=base, per=per):
            return base + per * b + (b * b) // 50  # convex, as a peak that moves to a later op can be
        batch, probes = largest_batch(peak, budget)
        expected = max((b for b in range(0, 3000) if b == 0 or peak(b) <= budget), default=0)
        assert batch == expected and len(probes) < 25


def test_fit_agrees_with_a_direct_probe():
    a = netstat.analyze("lenet5")
    budget = training_profile(a.source, 100, "adam").peak_bytes + 1
    result = netstat.training.fit.fit(a, budget, train=True, optimizer="adam")
    usable = int(budget / 1.02)  # 2% kept free: above the largest under-prediction on held-out models (1.86%)
    assert result.margin == 0.02 and result.usable_bytes == usable and result.batch >= 90
    assert a.training(result.batch, "adam").peak_bytes <= usable < a.training(result.batch + 1, "adam").peak_bytes
    assert a.training(result.batch, "adam").peak_bytes * 1.02 <= budget
    assert set(result.to_dict()) >= {"model", "memory_bytes", "train", "optimizer", "batch", "peak_bytes"}


def test_memory_sizes_parse():
    assert parse_memory("24GiB") == 24 * 2**30 and parse_memory("24GB") == 24 * 10**9
    assert parse_memory("1.5TiB") == int(1.5 * 2**40) and parse_memory("4096") == 4096 and parse_memory(512) == 512
    for bad in ("24XB", "-1GiB", "", "0"):
        with pytest.raises(UsageError, match="memory"):
            parse_memory(bad)


# --------------------------------------------------------------------------- JSON and the CLI


REQUIRED = {"batch", "optimizer", "dtype", "forward_madds", "backward_madds", "forward_flops", "backward_flops", "param_bytes",
            "grad_bytes", "optimizer_bytes", "saved_bytes", "peak_bytes", "peak_at"}


def test_profile_train_as_a_new_user_sees_it(monkeypatch):
    import netstat.training.trace as step_trace

    calls = []
    real = step_trace.run_step
    monkeypatch.setattr(step_trace, "run_step", lambda setup: calls.append(1) or real(setup))
    runner = CliRunner()
    table = runner.invoke(app, ["profile", "resnet18", "--train"], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "batch 32" in table.stdout and "Peak memory of the step" in table.stdout and "Backward FLOPs" in table.stdout
    assert "512-byte blocks" in table.stderr  # the allocator assumptions are said
    doc = json.loads(runner.invoke(app, ["profile", "resnet18", "--train", "--format", "json"]).stdout)
    block = doc["training"]
    assert REQUIRED <= set(block) and set(block["peak_at"]) >= {"op", "phase", "layer"}
    assert block["batch"] == 32 and block["optimizer"] == "sgd" and block["dtype"] == "fp32"
    layer = next(r for r in block["layers"] if r["path"] == "layer1")
    assert {"forward_madds", "backward_madds", "forward_flops", "backward_flops", "saved_bytes", "grad_bytes", "optimizer_bytes"} <= set(layer)
    assert len(calls) == 2  # one traced step per command


def test_compare_and_fit_from_the_cli(tmp_path):
    runner = CliRunner()
    out = runner.invoke(app, ["compare", "lenet5", "alexnet", "--train", "--batch", "8", "--optimizer", "adamw", "--format", "json"])
    assert out.exit_code == 0, out.output
    models = json.loads(out.stdout)["models"]
    assert [m["model"] for m in models] == ["lenet5", "alexnet"] and all(m["training"]["optimizer"] == "adamw" for m in models)
    fit = runner.invoke(app, ["fit", "lenet5", "--memory", "64MiB", "--train", "--format", "json"])
    assert fit.exit_code == 0, fit.output
    doc = json.loads(fit.stdout)
    assert doc["memory_bytes"] == 64 * 2**20 and doc["train"] is True and doc["batch"] > 0 and doc["peak_bytes"] <= doc["memory_bytes"]
    inference = json.loads(runner.invoke(app, ["fit", "lenet5", "--memory", "64MiB", "--format", "json"]).stdout)
    assert inference["train"] is False and inference["optimizer"] is None and inference["batch"] > doc["batch"]
    plot = tmp_path / "step.png"
    drawn = runner.invoke(app, ["profile", "lenet5", "--train", "--batch", "4", "--plot", str(plot)])
    assert drawn.exit_code == 0, drawn.output
    assert plot.stat().st_size > 10_000
