"""Cross-check against fvcore, thop and torch.utils.flop_counter: the
explanation of every difference adds up, and each peer follows its rule."""

from __future__ import annotations

import importlib.util
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from netstat import crosscheck as cc
from netstat.render import to_markdown
from netstat.render.check import crosscheck_compact_table, crosscheck_summary_table, crosscheck_tables


class Mixed(nn.Module):
    """Every op class the explanation knows: convs with and without bias,
    BN, functional ops hook-based tools miss, pooling, upsampling, layer
    norm, softmax and a matmul in forward code."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.act = nn.Hardswish()
        self.pool = nn.AvgPool2d(2)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.up_nearest = nn.Upsample(scale_factor=2, mode="nearest")
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.norm = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 5)
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x):
        y = self.act(self.bn(self.conv(x)))
        y = y + F.relu(self.dw(y))  # functional: unseen by thop
        y = self.up(self.pool(y)) + self.up_nearest(F.max_pool2d(y, 2))
        tokens = y.flatten(2).transpose(1, 2)  # (N, HW, C)
        attn = torch.softmax(tokens @ tokens.transpose(1, 2), dim=-1) @ tokens  # functional matmuls
        z = self.norm(attn.mean(1)) + self.gap(y).flatten(1) + y.mean((2, 3))
        return self.softmax(self.fc(z))


def _check_adds_up(result: cc.CrossCheck) -> None:
    for peer in result.peers:
        assert peer.ok, peer.message
        assert sum(t.difference for t in peer.terms) == result.flops - peer.total, peer.name
        assert sum(peer.by_class.values()) == peer.total
        assert sum(t.netstat_flops for t in peer.terms) == result.flops


@pytest.mark.parametrize("name", ["lenet5", "resnet20_cifar", "squeezenet1_1", "mobilenet_v3_small", "shufflenet_v2_x0_5", "densenet_bc_100_12"])
def test_zoo_explanations_add_up_and_are_fully_explained(name):
    result = cc.crosscheck(name)
    _check_adds_up(result)
    for peer in result.peers:
        assert peer.unexplained == 0, [t.to_dict() for t in peer.terms if not t.explained]
    assert result.peer("fvcore").params == result.params
    thop = result.peer("thop")
    assert thop.params == thop.predicted_params


def test_mixed_module_adds_up_and_every_rule_holds():
    model = Mixed()
    result = cc.crosscheck(model, (2, 3, 16, 16))
    _check_adds_up(result)
    for peer in result.peers:
        assert peer.unexplained == 0, (peer.name, [t.to_dict() for t in peer.terms if not t.explained])
    fvcore, thop, fc = (result.peer(n) for n in cc.PEERS)
    conv = result.classes["conv"]
    # flop_counter: exactly 2 per multiply-add of conv and matmul, nothing else
    assert fc.total == 2 * (conv.madds + result.classes["matmul"].madds)
    # fvcore: one per multiply-add; inference BN 2 per element (affine)
    assert fvcore.by_class["conv"] == conv.madds
    assert fvcore.by_class["norm"] >= 2 * 2 * 8 * 16 * 16
    # thop misses the functional matmuls (tokens @ tokens^T, @ tokens) but sees nn.Linear
    assert thop.by_class["matmul"] == 8 * 5 * 2
    assert fvcore.by_class["matmul"] > thop.by_class["matmul"]
    # the explanation rows name the reasons
    rows = {t.op_class: cc.why(t) for t in thop.terms}
    assert "invisible" in rows["elementwise"] and "nn.Upsample" in rows["interp"]


def test_the_users_module_is_left_as_it_was():
    model = Mixed().train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    buffers = [n for n, _ in model.named_buffers()]
    cc.crosscheck(model, (1, 3, 16, 16))
    assert model.training and all(m.training for m in model.modules())
    assert [n for n, _ in model.named_buffers()] == buffers  # thop adds total_ops / total_params
    assert not any(hasattr(m, "total_ops") for m in model.modules())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_a_missing_peer_is_reported_in_its_column(monkeypatch):
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name in ("thop", "fvcore") else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    result = cc.crosscheck("lenet5")
    fvcore, thop, fc = (result.peer(n) for n in cc.PEERS)
    assert fvcore.status == thop.status == "missing"
    assert "not installed" in thop.message and "pip install thop" in thop.message
    assert fc.ok and sum(t.difference for t in fc.terms) == result.flops - fc.total
    md = "".join(to_markdown(t) for t in crosscheck_tables(result))
    assert "thop is not installed" in md and "fvcore is not installed" in md
    assert "netstat FLOPs − thop" not in md


def test_a_crashing_peer_is_reported_in_its_column(monkeypatch):
    def boom(model, args, kwargs):
        raise RuntimeError("tracer exploded\nsecond line")

    monkeypatch.setitem(cc._RUNNERS, "fvcore", boom)
    result = cc.crosscheck("lenet5", peers=("fvcore", "flop_counter"))
    assert result.peer("fvcore").status == "crashed"
    assert result.peer("fvcore").message == "fvcore crashed: RuntimeError: tracer exploded"
    assert result.peer("flop_counter").ok
    table = crosscheck_summary_table([result])
    assert "crashed" in table.rows[0]


def test_tables_show_totals_and_the_explanation():
    result = cc.crosscheck("lenet5")
    tables = crosscheck_tables(result)
    assert [r[0] for r in tables[0].rows] == ["netstat MAdds", "netstat FLOPs", "fvcore", "thop", "flop_counter"]
    assert len(tables) == 3  # totals, op classes, reasons
    by_class, reasons = tables[1], tables[2]
    assert by_class.raw_rows[-1][3:] == [result.flops - p.total for p in result.peers]
    for peer in result.peers:
        assert sum(r[2] for r in reasons.raw_rows if r[1] == peer.name) == result.flops - peer.total
    compact = to_markdown(crosscheck_compact_table(result))
    assert "| convolution |" in compact and "| FLOPs − tool |" in compact


def test_op_classes_of_reductions():
    from netstat.trace import OpRecord

    def record(name):
        packet = getattr(torch.ops.aten, name)
        return OpRecord(0, packet.default, (), {}, [], [], "", [])

    assert cc.op_class(record("mean"), {"self": (1, 8, 7, 7), "dim": [-1, -2]}, True) == "gap"
    assert cc.op_class(record("mean"), {"self": (1, 8, 7, 7), "dim": [2, 3]}, True) == "gap"
    assert cc.op_class(record("mean"), {"self": (3, 1, 8, 7, 7), "dim": [0]}, True) == "reduction"
    assert cc.op_class(record("amax"), {"self": (1, 8, 7, 7), "dim": [2, 3]}, True) == "maxpool"
    assert cc.op_class(record("add"), {}, True) == "elementwise"
    assert cc.op_class(record("cat"), {}, True) == "movement"


def test_the_peers_are_required_so_no_test_here_skips_without_them():
    """fvcore and thop are dependencies of netstat (pyproject.toml), so every
    test of them runs: none is marked to skip when one is missing."""
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    required = {re.split(r"[<>=!~ ]", d, maxsplit=1)[0] for d in pyproject["project"]["dependencies"]}
    assert {"fvcore", "thop"} <= required
    tests = [f for name, f in globals().items() if name.startswith("test_") and callable(f)]
    assert [(f.__name__, m.name) for f in tests for m in getattr(f, "pytestmark", []) if m.name in ("skip", "skipif")] == []


# --------------------------------------------------------------------------- the model's whole inputs (issue 20)


from example_models import Tokens, TwoInputs  # noqa: E402 - the shared models of issue 20


def test_crosscheck_runs_every_peer_on_a_two_input_model():
    result = cc.crosscheck(TwoInputs(), [(1, 3, 16, 16), (1, 8)])
    _check_adds_up(result)
    assert all(peer.unexplained == 0 for peer in result.peers)
    assert result.peer("flop_counter").total == 2 * (result.classes["conv"].madds + result.classes["matmul"].madds)
    assert result.inputs == [{"name": "0", "shape": [1, 3, 16, 16], "dtype": "float32"}, {"name": "1", "shape": [1, 8], "dtype": "float32"}]
    assert "1x3x16x16, 1x8" in crosscheck_tables(result)[0].title


def test_crosscheck_keeps_int64_token_ids():
    from netstat.spec import InputSpec

    result = cc.crosscheck(Tokens(), [InputSpec((1, 12), "int64")])
    _check_adds_up(result)
    assert result.peer("fvcore").total == result.peer("thop").total == 16 * 2  # nn.Linear(16, 2): one per multiply-add
    assert "1x12:int64" in crosscheck_tables(result)[0].title


def test_crosscheck_skips_positional_only_peers_for_keyword_inputs():
    from netstat.inputs import Inputs, InputSpec

    inputs = Inputs.of([InputSpec((1, 12), "int64")], {"attention_mask": InputSpec((1, 12), "int64")})
    result = cc.crosscheck(Tokens(), inputs)
    for name in ("fvcore", "thop"):
        peer = result.peer(name)
        assert peer.status == "skipped" and peer.total is None
        assert peer.message == f"{name} passes only positional inputs to the model, and this model also takes keyword inputs (attention_mask)."
    fc = result.peer("flop_counter")
    assert fc.ok and fc.total == 2 * 16 * 2 and sum(t.difference for t in fc.terms) == result.flops - fc.total
    md = "".join(to_markdown(t) for t in crosscheck_tables(result))
    assert "keyword inputs (attention_mask)" in md and "attention_mask=1x12:int64" in md


@pytest.mark.parametrize("mode", [torch.inference_mode, torch.no_grad], ids=["inference_mode", "no_grad"])
def test_crosscheck_gives_the_same_numbers_inside_inference_mode_and_no_grad(mode):
    outside = cc.crosscheck(TwoInputs(), [(1, 3, 16, 16), (1, 8)]).to_dict()
    with mode():
        inside = cc.crosscheck(TwoInputs(), [(1, 3, 16, 16), (1, 8)]).to_dict()
    assert all(p["status"] == "ok" for p in inside["peers"])
    assert inside == outside
