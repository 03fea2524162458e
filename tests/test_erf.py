"""The gradient method (netstat.erf): analytic RF == non-zero extent of the
input gradient of a linearised copy, on hand-built nets, random graphs
(hypothesis) and every zoo model; and the effective RF.

Zoo sweep: every model at a reduced input, checking the module tree to
depth 2 (stage outputs). Checking every layer of every model takes several
minutes on 2 cores, so that sweep is marked slow (`pytest -m slow`).
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import netstat
from netstat.cli import app
from netstat.erf import effective_rf, linearised, mass_radii, verify
from netstat.errors import ModelRunError
from netstat.analysis import receptive_field

runner = CliRunner()


def assert_agree(v, border: bool = False):
    allowed = {"ok", "border"} if border else {"ok"}
    bad = [(r.name, r.status, [(a.expected, a.gradient) for a in r.axes]) for r in v.rows if r.status not in allowed]
    assert not bad, bad
    assert v.rows


# --------------------------------------------------------------------------- hand-built nets


class Branchy(nn.Module):
    """Inception-like: 1x1, 3x3, dilated 3x3 and a pool branch, concatenated, then a residual add."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(2, 4, 5, 2, 2)
        self.b1 = nn.Conv2d(4, 2, 1)
        self.b2 = nn.Sequential(nn.Conv2d(4, 2, 1), nn.ReLU(), nn.Conv2d(2, 2, 3, padding=1))
        self.b3 = nn.Conv2d(4, 2, 3, padding=2, dilation=2)
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(4, 2, 1))
        self.proj = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        x = self.stem(x)
        y = torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)
        return F.relu(self.proj(y) + x)


@pytest.mark.parametrize(
    "model,size",
    [
        (Branchy(), 40),
        (nn.Sequential(nn.Conv2d(2, 2, 3, 2), nn.Upsample(scale_factor=2), nn.Conv2d(2, 2, 3, padding=1)), 24),
        (nn.Sequential(nn.Conv2d(2, 2, 3, 2, 1), nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(2, 2, 3)), 24),
        (nn.Sequential(nn.Conv2d(2, 2, 3, 2, 1), nn.ConvTranspose2d(2, 2, 4, 2, 1), nn.Conv2d(2, 2, 3)), 24),
        (nn.Sequential(nn.Conv2d(2, 8, 3, 2, 1), nn.PixelShuffle(2), nn.Conv2d(2, 2, 3)), 24),
        (nn.Sequential(nn.Conv2d(2, 2, (1, 7), padding=(0, 3)), nn.Conv2d(2, 2, (5, 1), stride=(2, 1))), 30),
        (nn.Sequential(nn.Conv2d(2, 2, 3), nn.AdaptiveAvgPool2d(5), nn.Conv2d(2, 2, 3, padding=1)), 25),
        (nn.Sequential(nn.AvgPool2d(3, 2, 1, ceil_mode=True), nn.MaxPool2d(2, 2, ceil_mode=True), nn.Conv2d(2, 2, 3)), 27),
    ],
)
def test_hand_built_nets_agree(model, size):
    v = verify(model, (1, 2, size, size))
    assert_agree(v)


class SegNetLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.pool = nn.MaxPool2d(2, 2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, 2)
        self.out = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x):
        y, idx = self.pool(self.conv(x))
        return self.out(self.unpool(y, idx))


def test_max_unpool_reads_as_nearest_upsampling():
    assert_agree(verify(SegNetLike(), (1, 2, 20, 20)))


def test_batch_mixing_models_are_probed_one_by_one():
    class MeanShift(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)

        def forward(self, x):
            return self.conv(x) - x.mean()  # the mean runs over the batch too

    v = verify(MeanShift(), (1, 2, 16, 16))
    assert_agree(v)
    assert any("Batch elements interact" in n for n in v.notes)
    conv = next(r for r in v.rows if r.name == "conv")
    assert conv.axes[0].gradient == (6, 8)  # unit 7 of a 3x3: never the whole input


def test_one_dimensional_input():
    model = nn.Sequential(nn.Conv1d(2, 4, 5, 2, 2), nn.MaxPool1d(3, 2, 1), nn.Conv1d(4, 4, 3, dilation=2, padding=2), nn.Upsample(scale_factor=2))
    v = verify(model, (1, 2, 64))
    assert_agree(v)
    assert v.mode == "full" and len(v.rows[0].axes) == 1


def test_strips_and_full_input_agree():
    model = Branchy()
    a, b = verify(model, (1, 2, 40, 40)), verify(model, (1, 2, 40, 40), strips=False)
    assert a.mode == "strips" and b.mode == "full"
    assert [[c.gradient for c in r.axes] for r in a.rows] == [[c.gradient for c in r.axes] for r in b.rows]


class Offset(nn.Module):
    """A 3x3 branch plus a 5x5 branch shifted one pixel down and right."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 2, 3, padding=1)
        self.b = nn.Conv2d(2, 2, 5, padding=2)

    def forward(self, x):
        return self.a(x) + F.pad(self.b(x), (1, 0, 1, 0))[:, :, :-1, :-1]


def test_misaligned_hull_matches_the_gradient():
    v = verify(Offset(), (1, 2, 20, 20))
    assert_agree(v)
    final = v.rows[0]
    assert not v.analytic.final.rf.aligned
    # unit 9: branch a sees 8..10, branch b (shifted) 6..10: the hull 6..10
    assert final.name == "(model)" and final.axes[0].gradient == (6, 10)


def test_the_users_model_is_never_modified():
    model = Branchy().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [m.training for m in model.modules()]
    verify(model, (1, 2, 24, 24))
    effective_rf(model, (1, 2, 24, 24), seeds=2)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [m.training for m in model.modules()] == flags
    assert all(p.requires_grad for p in model.parameters())
    assert not any(m._forward_hooks for m in model.modules())
    lin = linearised(model)
    assert lin is not model and all(p.dtype == torch.float64 for p in lin.parameters())


# --------------------------------------------------------------------------- random graphs


@st.composite
def graphs(draw):
    """A random small conv / pool graph with branches, dilation, strides and padding."""
    blocks = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "conv", "pool", "branch", "branch"]))
        if kind == "conv":
            k, d = draw(st.integers(1, 5)), draw(st.integers(1, 3))
            blocks.append(("conv", k, draw(st.integers(1, 2)), d, draw(st.integers(0, d * (k - 1) // 2 + 1))))
        elif kind == "pool":
            k = draw(st.integers(2, 3))
            blocks.append(("pool", draw(st.sampled_from(["max", "avg"])), k, draw(st.integers(1, 2)), draw(st.integers(0, k // 2)), draw(st.booleans())))
        else:
            k1, d1, k2, d2 = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
            span1, span2 = d1 * (k1 - 1), d2 * (k2 - 1)
            assume((span2 - span1) % 2 == 0)
            p1 = draw(st.integers(0, 2))
            p2 = p1 + (span2 - span1) // 2
            assume(p2 >= 0)
            blocks.append(("branch", (k1, d1, p1), (k2, d2, p2), draw(st.integers(1, 2)), draw(st.sampled_from(["add", "cat", "mul"]))))
    return blocks, draw(st.integers(14, 40))


class RandomNet(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.blocks = blocks
        self.layers = nn.ModuleList()
        for b in blocks:
            if b[0] == "conv":
                _, k, s, d, p = b
                self.layers.append(nn.Conv2d(2, 2, k, s, p, d))
            elif b[0] == "pool":
                _, kind, k, s, p, ceil = b
                pool = nn.MaxPool2d(k, s, p, ceil_mode=ceil) if kind == "max" else nn.AvgPool2d(k, s, p, ceil_mode=ceil)
                self.layers.append(pool)
            else:
                _, (k1, d1, p1), (k2, d2, p2), s, how = b
                self.layers.append(nn.ModuleList([nn.Conv2d(2, 2, k1, s, p1, d1), nn.Conv2d(2, 2 if how != "cat" else 2, k2, s, p2, d2)]))
        self.merge = [nn.Conv2d(4, 2, 1) for _ in blocks]
        for i, m in enumerate(self.merge):
            self.add_module(f"merge{i}", m)

    def forward(self, x):
        for i, (b, layer) in enumerate(zip(self.blocks, self.layers)):
            if b[0] == "branch":
                u, v = layer[0](x), layer[1](x)
                how = b[-1]
                x = u + v if how == "add" else u * v if how == "mul" else self.merge[i](torch.cat([u, v], 1))
            else:
                x = layer(x)
        return x


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(graphs())
def test_random_graphs_analytic_equals_gradient(case):
    blocks, size = case
    model = RandomNet(blocks)
    try:
        analytic = receptive_field(model, (1, 2, size, size))
    except ModelRunError:
        assume(False)
    v = verify(model, (1, 2, size, size), analytic=analytic)
    # exact wherever a unit's RF lies inside the input; where its window reaches into padding
    # a dilated kernel's taps may skip real pixels, and the clipped RF is an upper bound
    assert_agree(v, border=True)
    assert all(c.clipped for r in v.rows for c in r.axes if c.status == "border")


# --------------------------------------------------------------------------- the zoo


def _reduced(name: str) -> tuple[int, ...]:
    """The smallest of 32, 64, 96, ... that the model runs on (its own size at most)."""
    shape = netstat.get_spec(name).input_shape
    for size in (32, 64, 96, 128, 160, 192, 224, shape[-1]):
        size = min(size, shape[-1])
        candidate = tuple(shape[:2]) + (size,) * (len(shape) - 2)
        try:
            receptive_field(name, candidate)
            return candidate
        except Exception:  # noqa: BLE001 - too small for this model
            continue
    return tuple(shape)


# Models whose check needs their full input (a fixed-size head: DeconvNet's 7x7 'fc6'
# convolution, YOLO's linear layer over a 7x7 grid, DSOD's 300x300 extra layers): every probe
# costs a full-size forward and backward pass, 25-50 s each on 2 cores.
HEAVY = {"deconvnet", "yolo_v1", "dsod300"}


def _zoo_params():
    for name in netstat.list_models():
        marks = [pytest.mark.slow] if name in HEAVY else []
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", list(_zoo_params()))
def test_zoo_verify_stages(name):
    shape = _reduced(name)
    v = verify(name, shape, layers=2)
    assert_agree(v)
    assert not [n for n in v.analytic.notes if "no RF rule" in n], v.analytic.notes


@pytest.mark.slow
@pytest.mark.parametrize("name", netstat.list_models())
def test_zoo_verify_every_layer(name):
    v = verify(name, _reduced(name), layers="all")
    assert_agree(v)


@pytest.mark.parametrize("name,size", [("resnet18", 480), ("vgg16", 256), ("mobilenet_v1", 352)])
def test_verify_where_every_rf_fits(name, size):
    """An input larger than the RF of every non-global layer: no check is clipped."""
    v = verify(name, (1, 3, size, size))
    assert_agree(v)
    local = [c for r in v.rows for c in r.axes if c.rf is not None]
    assert local and not any(c.clipped for c in local)


def test_verify_resnet50_at_224_every_layer():
    v = verify("resnet50")
    assert_agree(v)
    assert v.mode == "strips" and len(v.rows) == len(v.analytic.layers)


# --------------------------------------------------------------------------- effective RF


def test_mass_radii_of_a_point_and_a_disc():
    import numpy as np

    point = np.zeros((9, 9))
    point[4, 4] = 1
    assert mass_radii(point, (4, 4))[:2] == (0.0, 0.0)
    flat = np.ones((9, 9))
    r50, r95, com = mass_radii(flat, (4, 4))
    assert 0 < r50 < r95 <= 4 * 2**0.5 and com == (4.0, 4.0)


def test_effective_rf_is_smaller_than_the_rf():
    e = effective_rf("resnet18", (1, 3, 96, 96), seeds=2)
    assert e.layer == "layer4" and e.seeds == 2
    assert abs(float(e.heatmap.sum()) - 1) < 1e-6
    assert 0 < e.r50 < e.r95
    assert e.r95 < 435 / 2  # Luo et al.: the effective RF is a fraction of the theoretical one
    again = effective_rf("resnet18", (1, 3, 96, 96), seeds=2)
    assert again.r50 == e.r50  # seeded
    json.dumps(e.to_dict())


def test_cli_verify_json_and_effective_plot(tmp_path):
    out = runner.invoke(app, ["rf", "resnet18", "--verify", "--input", "1,3,64,64", "--depth", "1", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["verify"]["agree"] is True and data["layers"]
    path = tmp_path / "erf.png"
    out = runner.invoke(app, ["rf", "resnet18", "--effective", "--seeds", "1", "--input", "1,3,64,64", "--plot", str(path), "--format", "json"])
    assert out.exit_code == 0, out.output
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert json.loads(out.stdout)["effective"]["r95"] > 0


def test_cli_verify_table(tmp_path):
    out = runner.invoke(app, ["rf", "mobilenet_v2", "--verify", "--input", "1,3,64,64", "--depth", "1"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "agree" in out.output and "NO" not in out.output


@pytest.mark.parametrize("mode", [torch.inference_mode, torch.no_grad], ids=["inference_mode", "no_grad"])
def test_verify_and_effective_rf_are_the_same_inside_inference_mode_and_no_grad(mode):
    check, erf = verify("lenet5"), effective_rf("lenet5", seeds=1)
    with mode():
        check_inside, erf_inside = verify("lenet5"), effective_rf("lenet5", seeds=1)
    assert check.agree and check_inside.agree
    assert [r.to_dict() for r in check_inside.rows] == [r.to_dict() for r in check.rows]
    assert (erf_inside.r50, erf_inside.r95) == (erf.r50, erf.r95) and (erf_inside.heatmap == erf.heatmap).all()
