"""`netstat rf` and the gradient methods (netstat.erf) on every input form:
several positional inputs, keyword inputs, int64 token ids; a backward that
raises or runs out of memory; the caller's RNG state (issue 20)."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch
import torch.nn as nn
from typer.testing import CliRunner

from netstat.cli import app
from netstat.erf import effective_rf, verify
from netstat.errors import ModelRunError, UsageError
from netstat.spec import InputSpec

runner = CliRunner()


class ImageAndBias(nn.Module):
    """forward(x, bias): the bias (a second positional input) is added after the first conv."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 3, stride=2)

    def forward(self, x, bias):
        return self.b(self.a(x) + bias)


class Gated(nn.Module):
    """forward(x, gate=None): a keyword input multiplies the first conv's output."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(2, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 3, stride=2)

    def forward(self, x, gate=None):
        y = self.a(x)
        return self.b(y if gate is None else y * gate)


class TokenConv(nn.Module):
    """int64 token ids (1, rows, cols) -> embedding -> conv: an RF over the ids, but no float input."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.conv = nn.Conv2d(4, 4, 3)

    def forward(self, ids):
        return self.conv(self.emb(ids).permute(0, 3, 1, 2))


def token_conv() -> nn.Module:
    """The factory the CLI test names as 'tests/test_rf_inputs.py:token_conv'."""
    return TokenConv()


def _gated_inputs():
    from netstat.inputs import Inputs

    return Inputs.of([InputSpec((1, 2, 16, 16))], {"gate": InputSpec((1, 4, 1, 1))})


def _all_ok(v) -> bool:
    return bool(v.rows) and all(r.status == "ok" for r in v.rows)


def test_verify_varies_the_first_input_and_holds_a_second_positional_one_fixed():
    v = verify(ImageAndBias(), [(1, 3, 16, 16), (1, 4, 1, 1)])
    assert _all_ok(v) and v.input_shape == (1, 3, 16, 16)
    assert [r["name"] for r in v.inputs] == ["0", "1"]
    final = next(r for r in v.rows if r.name == "b")
    assert [a.gradient for a in final.axes] == [(5, 9), (5, 9)]  # 3x3 then 3x3 stride 2: unit 3 sees 5..9


def test_verify_holds_a_keyword_gate_fixed_at_ones():
    """A gate held at zeros would hide every path from x: the check would disagree."""
    v = verify(Gated(), _gated_inputs())
    assert _all_ok(v)
    assert v.inputs[1] == {"name": "gate", "shape": [1, 4, 1, 1], "dtype": "float32"}


def test_effective_rf_of_a_model_with_a_keyword_input():
    e = effective_rf(Gated(), _gated_inputs(), seeds=2)
    assert e.heatmap.shape == (16, 16) and 0 < e.r50 <= e.r95
    assert [r["name"] for r in e.to_dict()["inputs"]] == ["0", "gate"]


@pytest.mark.parametrize("method", [verify, effective_rf], ids=["verify", "effective_rf"])
def test_gradient_methods_refuse_an_int64_first_input_in_one_sentence(method):
    with pytest.raises(UsageError) as err:
        method(TokenConv(), [InputSpec((1, 6, 6), "int64")])
    assert "(input 0, 1x6x6:int64) is not a floating-point tensor with spatial dims" in err.value.message
    assert err.value.message.count(". ") == 0


def test_effective_rf_leaves_the_callers_rng_state_as_it_was():
    torch.manual_seed(1234)
    before = torch.random.get_rng_state()
    effective_rf("lenet5", seeds=2)
    assert torch.equal(torch.random.get_rng_state(), before)


# --------------------------------------------------------------------------- a backward that fails


_BAD_MODELS = """
import torch
import torch.nn as nn

ERRORS = {"raises": lambda: RuntimeError("this layer has no backward"), "memory": MemoryError,
          "oom": lambda: torch.OutOfMemoryError("out of memory")}


def _failing(kind):
    class Fails(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            raise ERRORS[kind]()

    return Fails


class Net(nn.Module):
    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.conv = nn.Conv2d(2, 2, 3)

    def forward(self, x):
        return self.conv(_failing(self.kind).apply(x))


def raises():
    return Net("raises")


def memory():
    return Net("memory")


def oom():
    return Net("oom")


raises.input_shape = memory.input_shape = oom.input_shape = (1, 2, 12, 12)
"""


@pytest.fixture
def bad_models(tmp_path):
    path = tmp_path / "bad_models.py"
    path.write_text(textwrap.dedent(_BAD_MODELS))
    return path


@pytest.mark.parametrize("flag", ["--verify", "--effective"])
@pytest.mark.parametrize("kind,says", [("raises", "failed in the model's backward pass: RuntimeError: this layer has no backward."),
                                       ("memory", "ran out of memory in the backward pass. Try a smaller input size."),
                                       ("oom", "ran out of memory in the backward pass. Try a smaller input size.")], ids=["raises", "memory", "oom"])
def test_cli_rf_gradient_flags_report_a_failing_backward_in_one_sentence(bad_models, flag, kind, says):
    out = runner.invoke(app, ["rf", f"{bad_models}:{kind}", flag])
    assert out.exit_code == 1, out.output
    assert "Traceback" not in out.output and "Internal error" not in out.output
    first = out.output.strip().splitlines()[0]
    assert first.startswith("Error: The ") and first.endswith(says), out.output


def test_verify_raises_model_run_error_when_the_backward_fails(bad_models):
    with pytest.raises(ModelRunError, match="backward pass"):
        verify(f"{bad_models}:raises")


# --------------------------------------------------------------------------- the CLI's --input


_MULTI = """
import torch.nn as nn


class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 3, stride=2)

    def forward(self, x, gate=None):
        y = self.a(x)
        return self.b(y if gate is None else y * gate)


def gated():
    return Gated()


def wide(width):
    return nn.Conv2d(2, width, 3)


wide.input_shape = (1, 2, 8, 8)
"""


@pytest.fixture
def gated_file(tmp_path):
    path = tmp_path / "multi.py"
    path.write_text(textwrap.dedent(_MULTI))
    return f"{path}:gated"


def test_cli_rf_takes_a_keyword_input_and_titles_show_every_input(gated_file):
    args = ["rf", gated_file, "--input", "1,2,16,16", "--input", "gate=1,4,1,1"]
    out = runner.invoke(app, args + ["--format", "md"])
    assert out.exit_code == 0, out.output
    assert "receptive fields, input 1x2x16x16, gate=1x4x1x1" in out.stdout
    out = runner.invoke(app, args + ["--verify", "--format", "md"])
    assert out.exit_code == 0, out.output
    assert "checked by gradients, input 1x2x16x16, gate=1x4x1x1" in out.stdout


def test_cli_rf_verify_and_effective_json_with_a_keyword_input(gated_file):
    out = runner.invoke(app, ["rf", gated_file, "--input", "1,2,16,16", "--input", "gate=1,4,1,1", "--verify", "--effective", "--seeds", "1", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    names = ["0", "gate"]
    assert [r["name"] for r in data["inputs"]] == names and data["verify"]["agree"] is True
    assert [r["name"] for r in data["verify"]["inputs"]] == [r["name"] for r in data["effective"]["inputs"]] == names


def test_cli_rf_passes_model_kwargs_to_the_builder(gated_file):
    wide = gated_file.replace(":gated", ":wide")
    out = runner.invoke(app, ["rf", wide, "--model-kwargs", "width=5", "--verify", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["layers"][0]["output_shape"] == [1, 5, 6, 6] and data["verify"]["agree"] is True
    out = runner.invoke(app, ["rf", "--model-kwargs", "width=5"])
    assert out.exit_code == 2 and "--model-kwargs needs a model" in out.output


def test_cli_rf_verify_refuses_an_int64_first_input():
    path = __file__  # its token_conv factory
    out = runner.invoke(app, ["rf", f"{path}:token_conv", "--input", "1,6,6:int64", "--verify"])
    assert out.exit_code == 2, out.output
    assert "is not a floating-point tensor with spatial dims" in out.output and "Traceback" not in out.output
