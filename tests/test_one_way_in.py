"""Issue 20, one way in: one model source, one description of inputs, one
recorder, one memory walk -- and the caller's modes, RNG and objects kept.
Each test of a numbered defect failed on the code before the issue."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import netstat
from netstat.cli import app
from netstat.inputs import Inputs, InputSpec
from netstat.spec import resolve

from example_models import Tokens

RESNET18_MADDS = 1_814_073_344  # torchvision's resnet18 at 224: 1.81 GMACs (its weights' meta: 1.814 GFLOPS, counted as MACs)




MODES = {"inference_mode": torch.inference_mode, "no_grad": torch.no_grad}


# --- 1. the caller's grad / inference mode ---------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_profile_inside_a_global_mode_counts_every_conv(mode):
    with MODES[mode]():
        inside = netstat.profile("resnet18")
    assert inside.totals["madds"] == RESNET18_MADDS
    assert not inside.totals["partial"]


@pytest.mark.parametrize("mode", MODES)
def test_a_users_conv_model_inside_inference_mode_is_counted(mode):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    with MODES[mode]():
        p = netstat.profile(model, input_size=(1, 3, 8, 8))
    assert p.totals["madds"] == 4 * 6 * 6 * 3 * 3 * 3  # out channels x out pixels x (in channels x k x k)


@pytest.mark.parametrize("mode", MODES)
def test_receptive_field_inside_a_global_mode_is_not_global(mode):
    outside = netstat.receptive_field("resnet18").features.describe()
    with MODES[mode]():
        inside = netstat.receptive_field("resnet18").features.describe()
    assert inside == outside == "435, stride 32"


@pytest.mark.parametrize("mode", MODES)
def test_training_inside_a_global_mode_gives_the_same_step(mode):
    outside = netstat.analyze("lenet5").training(batch=4).totals
    with MODES[mode]():
        inside = netstat.analyze("lenet5").training(batch=4).totals
    assert inside == outside
    assert torch.is_grad_enabled() is True and not torch.is_inference_mode_enabled()


@pytest.mark.parametrize("mode", MODES)
def test_fit_and_compare_inside_a_global_mode_give_the_same_numbers(mode):
    from netstat.training.fit import fit

    outside = (fit("lenet5", "64MiB").batch, [p.totals for p in netstat.compare(["lenet5", "alexnet"]).profiles])
    with MODES[mode]():
        inside = (fit("lenet5", "64MiB").batch, [p.totals for p in netstat.compare(["lenet5", "alexnet"]).profiles])
    assert inside == outside


def test_a_profile_restores_the_callers_modes_even_when_the_forward_raises():
    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("broken on purpose")

    with torch.inference_mode():
        with pytest.raises(netstat.errors.ModelRunError):
            netstat.profile(Broken(), input_size=(1, 3))
        assert torch.is_inference_mode_enabled()
    with torch.no_grad():
        with pytest.raises(netstat.errors.ModelRunError):
            netstat.profile(Broken(), input_size=(1, 3))
        assert not torch.is_grad_enabled()


def test_a_profile_ignores_the_callers_autocast_and_default_dtype():
    plain = netstat.profile("lenet5").totals
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            inside = netstat.profile("lenet5").totals
    finally:
        torch.set_default_dtype(old)
    assert inside == plain


# --- 2. every input form ---------------------------------------------------------------


def test_inputs_set_the_batch_of_every_tensor_input_once():
    inputs = Inputs.of([InputSpec((1, 3, 8, 8)), InputSpec((1, 8), "int64")], {"mask": InputSpec((1, 8), "bool")})
    batched = inputs.with_batch(4)
    assert [spec.shape for _, spec in batched.specs()] == [(4, 3, 8, 8), (4, 8), (4, 8)]
    assert [spec.dtype for _, spec in batched.specs()] == ["float32", "int64", "bool"]
    assert batched.describe() == "4x3x8x8, 4x8:int64, mask=4x8:bool"


def test_inputs_round_trip_through_their_json_rows():
    inputs = Inputs.of([InputSpec((2, 5), "int64")], {"attention_mask": InputSpec((2, 5), "int64")})
    again = Inputs.from_dict(inputs.to_dict())
    assert again.to_dict() == inputs.to_dict() == [
        {"name": "0", "shape": [2, 5], "dtype": "int64"},
        {"name": "attention_mask", "shape": [2, 5], "dtype": "int64"},
    ]


def test_a_real_example_cycles_its_rows_to_a_larger_batch():
    x = torch.tensor([[1, 2], [3, 4]])
    (out,), _ = Inputs.of([x]).with_batch(3).materialise("cpu")
    assert out.tolist() == [[1, 2], [3, 4], [1, 2]]


def test_real_example_inputs_and_keywords_are_profiled_by_their_shapes():
    ids = torch.randint(0, 100, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.int64)
    p = netstat.profile(Tokens(), inputs=(ids,), kwargs={"attention_mask": mask})
    assert p.totals["madds"] == 2 * 16 * 2  # the classifier: batch x in x out; the embedding is a lookup
    assert [row["name"] for row in p.inputs] == ["0", "attention_mask"]
    assert p.inputs[0] == {"name": "0", "shape": [2, 7], "dtype": "int64"}


def test_real_example_inputs_keep_their_values_on_cpu_and_are_not_changed():
    class Picks(nn.Module):
        def forward(self, x, index):
            x.add_(1)  # a forward that writes into its input: the caller's tensor must not change
            return x[index.item()]

    x, index = torch.zeros(3, 4), torch.tensor(2)
    p = netstat.profile(Picks(), inputs=(x, index), device="cpu")
    assert p.totals["output_shape"] == [[4]]
    assert torch.equal(x, torch.zeros(3, 4))


def test_nested_example_inputs_reach_the_forward_in_their_structure():
    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, pair, extra):
            return self.fc(pair[0] + pair[1] + extra["bias"])

    p = netstat.profile(Pair(), inputs=((torch.ones(1, 4), torch.ones(1, 4)),), kwargs={"extra": {"bias": torch.ones(1, 4)}})
    assert p.totals["madds"] == 8
    assert [row["name"] for row in p.inputs] == ["0.0", "0.1", "extra.bias"]


def test_shapes_and_example_inputs_together_are_refused():
    with pytest.raises(netstat.errors.UsageError, match="not both"):
        netstat.profile(Tokens(), input_size=(1, 7), inputs=torch.zeros(1, 7, dtype=torch.int64))


def test_an_unknown_keyword_input_gets_one_sentence():
    result = CliRunner().invoke(app, ["profile", "lenet5", "--input", "1,1,32,32", "--input", "mask=1,32"])
    assert result.exit_code == 2
    assert "takes no input named mask" in result.output


def test_a_two_input_profile_title_shows_both_inputs(tmp_path):
    path = tmp_path / "two.py"
    path.write_text(_TWO_SOURCE)
    result = CliRunner().invoke(app, ["profile", f"{path}:build", "--input", "1,3,8,8", "--input", "1,8", "-d", "1"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "input 1x3x8x8, 1x8" in result.output


def test_profile_train_takes_the_batch_of_the_given_input(tmp_path):
    result = CliRunner().invoke(app, ["profile", "lenet5", "--train", "--input", "4,1,32,32", "--format", "json"])
    assert result.exit_code == 0, result.output
    import json

    doc = json.loads(result.stdout)
    assert doc["training"]["batch"] == 4
    assert doc["training"]["input_shape"] == [4, 1, 32, 32]


def test_the_cli_reads_keyword_and_integer_inputs():
    inputs = _parse(["1,12:int64", "attention_mask=1,12:int64"])
    assert inputs.describe() == "1x12:int64, attention_mask=1x12:int64"


@pytest.mark.parametrize("text", ["1,2,x", "1,,2", "1,2,", "x", "mask=", "=1,2", "1 2"])
def test_the_cli_refuses_a_malformed_input(text):
    from netstat.errors import UsageError

    with pytest.raises(UsageError):
        _parse([text])


def _parse(texts):
    from netstat.cli._app import parse_inputs

    return parse_inputs(texts)


_TWO_SOURCE = f"""
import sys
sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parent)!r})
from example_models import instance, build_two_inputs as build
"""


# --- 4. the caller's objects and RNG -------------------------------------------------------


def test_a_hook_closing_over_the_users_state_never_runs_on_the_copy():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    features: dict = {}
    model[0].register_forward_hook(lambda module, args, out: features.__setitem__("conv", out))
    p = netstat.profile(model, input_size=(1, 3, 8, 8))
    netstat.analyze(model, input_size=(1, 3, 8, 8)).training(batch=2)
    assert features == {}
    assert len(model[0]._forward_hooks) == 1  # the user's hook is still registered on the user's model
    assert any("hook" in note and "did not run" in note for note in p.notes)


@pytest.mark.parametrize("call", [
    lambda: netstat.profile("lenet5", device="cpu"),
    lambda: netstat.profile("lenet5"),
    lambda: netstat.analyze("lenet5").training(batch=2),
    lambda: netstat.analyze("lenet5").cpu_model(),
], ids=["profile-cpu", "profile-meta", "training", "cpu_model"])
def test_netstat_never_advances_the_callers_rng(call):
    torch.manual_seed(1234)
    before = torch.random.get_rng_state()
    call()
    assert torch.equal(torch.random.get_rng_state(), before)


def test_netstats_own_models_are_initialised_the_same_way_every_time():
    a = netstat.analyze("lenet5").fresh_cpu_model()
    b = netstat.analyze("lenet5").fresh_cpu_model()
    c = netstat.analyze("lenet5").fresh_cpu_model(seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


# --- 7. specs: a file without a factory, a module-level instance --------------------------


def test_a_file_without_a_factory_is_named_as_such(tmp_path):
    path = tmp_path / "two.py"
    path.write_text(_TWO_SOURCE)
    with pytest.raises(netstat.errors.UsageError, match="names a file but no factory"):
        resolve(str(path))


def test_a_module_level_instance_is_profiled_as_a_copy(tmp_path):
    path = tmp_path / "two.py"
    path.write_text(_TWO_SOURCE)
    source = resolve(f"{path}:instance", [(1, 3, 8, 8), (1, 8)])
    assert not source.owned
    p = netstat.analyze(source).profile
    assert p.totals["params"] == 8 * 3 * 3 * 3 + 8 + 8 * 4 + 4


# --- one source: instantiate ---------------------------------------------------------------


def test_instantiate_fixes_a_detectors_box_counts_for_every_command():
    from netstat.detection import counts_of

    source = resolve("torchvision:fasterrcnn_mobilenet_v3_large_320_fpn", model_kwargs={"weights_backbone": None})
    source.proposals, source.detections = 7, 3
    for device in ("meta", "cpu"):
        counts = counts_of(source.instantiate(device))
        assert (counts.proposals, counts.detections) == (7, 3)


def test_instantiate_never_returns_the_users_module():
    users = nn.Linear(4, 2)
    source = resolve(users, (1, 4))
    for device in ("meta", "cpu"):
        copy = source.instantiate(device)
        assert copy is not users and copy.weight is not users.weight


def test_a_factory_that_builds_on_meta_cannot_give_a_cpu_model(tmp_path):
    path = tmp_path / "meta.py"
    path.write_text("import torch.nn as nn\ndef build():\n    return nn.Linear(4, 2, device='meta')\nbuild.input_shape = (1, 4)\n")
    source = resolve(f"{path}:build")
    assert source.instantiate("meta") is not None
    with pytest.raises(netstat.errors.UsageError, match="meta device"):
        source.instantiate("cpu")


# --- one recorder, one memory walk -----------------------------------------------------------


def test_one_trace_type_and_one_walk_serve_inference_training_and_fit():
    from netstat.memory import walk
    from netstat.metrics import activation_bytes
    from netstat.trace import Trace

    a = netstat.analyze("lenet5", input_size=(2, 1, 32, 32))
    step = a.training(batch=2).step
    assert isinstance(a.trace, Trace) and isinstance(step, Trace)
    assert step.phase_ends["forward"] < step.phase_ends["backward"] <= len(step.ops)
    activations = walk(a.trace, activation_bytes(a.trace)).peak_bytes
    assert activations == a.profile.totals["peak_activation_bytes"]
    weights = sum(p.numel() * 4 for p in a.model.parameters())
    assert walk(a.trace, {**activation_bytes(a.trace), **a.trace.storage_bytes}).peak_bytes == activations + weights


def test_the_memory_walk_frees_each_allocation_after_its_last_reader():
    """Three ops by hand: a (8 B) -> b (16 B) -> c (4 B), the input 4 B read by the first only."""
    from netstat.memory import walk
    from netstat.trace import OpRecord, TensorRef, Trace

    def ref(i, n):
        return TensorRef(tid=i, storage=i, shape=(n,), dtype=torch.int8)

    x, a, b, c = ref(0, 4), ref(1, 8), ref(2, 16), ref(3, 4)
    ops = [OpRecord(i, None, (), {}, [src], [dst], "", [True]) for i, (src, dst) in enumerate([(x, a), (a, b), (b, c)])]
    trace = Trace(ops=ops, modules=[], inputs=[x], outputs=[c], weights={}, device="meta")
    result = walk(trace, {0: 4, 1: 8, 2: 16, 3: 4})
    # before: 4; op 0: 4 + 8 = 12, x freed -> 8; op 1: 8 + 16 = 24, a freed -> 16; op 2: 16 + 4 = 20
    assert result.timeline == [12, 24, 20]
    assert (result.peak_bytes, result.peak_index, result.persistent_bytes) == (24, 1, 4)


def test_pytorchs_own_hooks_still_run_on_the_copy():
    """Pruning's mask is applied by a forward pre-hook PyTorch registers: it
    is part of the model and runs (a weight-sized multiply); a user's hook
    beside it does not."""
    from torch.nn.utils import prune

    model = nn.Sequential(nn.Conv2d(3, 4, 3))
    prune.l1_unstructured(model[0], "weight", amount=0.5)
    seen: list = []
    model[0].register_forward_hook(lambda module, args, out: seen.append(out))
    p = netstat.profile(model, input_size=(1, 3, 8, 8))
    assert p.by_operator()["aten.mul.Tensor"]["flops"] == 4 * 3 * 3 * 3  # weight_orig x mask, one multiply per weight
    assert seen == []
    assert any(note.startswith("1 forward / backward hook of yours") for note in p.notes)
