"""Analytic receptive fields (netstat.rf) and the `rf` command.

Every expected value is either written out as arithmetic here or comes from
a named published source.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from fractions import Fraction

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from typer.testing import CliRunner

from netstat.cli import app
from netstat.errors import UsageError
from netstat.analysis import receptive_field
from netstat.rf import analyze, stack

runner = CliRunner()


def rf_of(model: nn.Module, size=(1, 2, 64, 64)):
    return receptive_field(model, size).final.rf


def closed_form(layers):
    """r = 1 + sum_l (k_l - 1) prod_{i<l} s_i ; j = prod s_i (Araujo et al. 2019, eq. 2)."""
    r, j = 1, 1
    for k, s in layers:
        r += (k - 1) * j
        j *= s
    return r, j


def test_rf_propagation_follows_only_the_spatial_axes():
    """The batch-dim walk (`netstat.rf.batch_mixing`, `Propagator.run(batch=True)`)
    had no caller: `rf --verify` finds batch mixing with real forwards
    (netstat.erf.probes.batch_mixing). It is gone from the API."""
    import inspect

    import netstat.rf
    from netstat.rf import propagate

    assert "batch_mixing" not in netstat.rf.__all__ and not hasattr(propagate, "batch_mixing")
    with pytest.raises(AttributeError):
        netstat.rf.batch_mixing  # noqa: B018 - the lazy __getattr__ must not know it
    assert list(inspect.signature(propagate.Propagator.run).parameters) == ["self"]


# --------------------------------------------------------------------------- chains


@pytest.mark.parametrize(
    "layers",
    [
        [(3, 1), (3, 1)],  # 1 + 2 + 2 = 5
        [(7, 2), (3, 2), (3, 1), (3, 1)],  # 1 + 6 + 2*2 + 2*4 + 2*4 = 27
        [(11, 4), (3, 2), (5, 1), (3, 2), (3, 1)],  # 1 + 10 + 2*4 + 4*8 + 2*8 + 2*16 = 99
        [(2, 2), (2, 2), (2, 2), (3, 1)],  # 1 + 1 + 2 + 4 + 2*8 = 24
        [(5, 3), (1, 1), (4, 2), (3, 1)],  # 1 + 4 + 0 + 3*3 + 2*6 = 26
    ],
)
def test_chain_matches_closed_form(layers):
    model = nn.Sequential(*[nn.Conv2d(2, 2, k, s) for k, s in layers])
    r, j = closed_form(layers)
    st = rf_of(model, (1, 2, 128, 128))
    assert st.size == (r, r) and st.jump == (j, j)
    # no padding: the first unit's RF starts at pixel 0, so its centre is (r - 1)/2
    assert st.center == (Fraction(r - 1, 2),) * 2 and st.padding == (0, 0)


def test_padding_and_dilation_move_the_centre():
    # conv k=5 d=2 p=3: k' = 2*4 + 1 = 9, r = 9, centre = (9-1)/2 - 3 = 1
    # then conv k=3 s=2 p=1: r = 9 + 2*1 = 11, centre = 1 + (1 - 1)*1 = 1, jump 2
    model = nn.Sequential(nn.Conv2d(2, 2, 5, 1, padding=3, dilation=2), nn.Conv2d(2, 2, 3, 2, padding=1))
    st = rf_of(model)
    assert st.size == (11, 11) and st.jump == (2, 2) and st.center == (1, 1)
    assert st.padding == (4, 4)  # (11 - 1)/2 - 1


def test_dilated_3x3_sees_5():
    assert rf_of(nn.Conv2d(2, 2, 3, dilation=2)).size == (5, 5)
    assert stack(3, 1, dilation=2).layers[0].rf == (5, 5)


def test_non_square_kernels_and_strides_stay_per_axis():
    # Inception-v3 style factorisation: 1x7 then 7x1 sees 7x7
    model = nn.Sequential(nn.Conv2d(2, 2, (1, 7), padding=(0, 3)), nn.Conv2d(2, 2, (7, 1), padding=(3, 0)))
    assert rf_of(model).size == (7, 7)
    # 3x1 stride (2,1), then 3x1: H: 1 + 2 + 2*2 = 7, W: 1; jumps (2, 1)
    model = nn.Sequential(nn.Conv2d(2, 2, (3, 1), stride=(2, 1)), nn.Conv2d(2, 2, (3, 1)))
    st = rf_of(model)
    assert st.size == (7, 1) and st.jump == (2, 1)
    pool = nn.MaxPool2d((2, 3), stride=(2, 1), padding=(0, 1))
    st = rf_of(pool)
    assert st.size == (2, 3) and st.jump == (2, 1) and st.center == (Fraction(1, 2), 0)


def test_ceil_mode_pool_keeps_the_rf():
    a = rf_of(nn.MaxPool2d(3, 2, ceil_mode=True), (1, 2, 10, 10))
    b = rf_of(nn.MaxPool2d(3, 2), (1, 2, 10, 10))
    assert a.size == b.size == (3, 3) and a.jump == (2, 2)
    assert receptive_field(nn.MaxPool2d(3, 2, ceil_mode=True), (1, 2, 10, 10)).final.output_shape == (1, 2, 5, 5)


# --------------------------------------------------------------------------- the calculator


def test_vgg_stack_facts():
    """VGG paper §2.3: two 3x3 see 5x5 with 18C^2 vs 25C^2; three see 7x7 with 27C^2 vs 49C^2."""
    two, three = stack(3, 2).layers[-1], stack(3, 3).layers[-1]
    assert two.rf == (5, 5) and two.params_c2 == 2 * 9 and two.single_c2 == 25
    assert three.rf == (7, 7) and three.params_c2 == 3 * 9 and three.single_c2 == 49
    c = stack(3, 3, channels=64, bias=False).layers[-1]
    assert c.cumulative_params == 27 * 64 * 64 and c.single_params == 49 * 64 * 64
    c = stack(3, 2, channels=8, bias=True).layers[-1]
    assert c.cumulative_params == 2 * (9 * 64 + 8) and c.single_params == 25 * 64 + 8


def test_yu_koltun_context_module():
    """Yu & Koltun, ICLR 2016, Table 1: 3x3 layers dilated 1,1,2,4,8,16,1 have RF 3,5,9,17,33,65,67."""
    res = stack(3, 7, dilation=[1, 1, 2, 4, 8, 16, 1])
    assert [layer.rf[0] for layer in res.layers] == [3, 5, 9, 17, 33, 65, 67]
    assert [layer.plain_rf[0] for layer in res.layers] == [3, 5, 7, 9, 11, 13, 15]
    assert all(layer.used == layer.span for layer in res.layers)  # no gridding
    assert not res.warnings


def test_gridding_counts():
    # rates 2,2,2: offsets {0,2,4} summed three times = the even numbers 0..12: span 13, 7 used
    grid = stack(3, 3, dilation=2).layers[-1]
    assert grid.span == (13, 13) and grid.used == (7, 7)
    assert any("common factor" in w or "share the factor 2" in w for w in stack(3, 3, dilation=2).warnings)
    # rates 1,2,5 (hybrid dilated convolution): {0,1,2}+{0,2,4}+{0,5,10} covers 0..16
    hdc = stack(3, 3, dilation=[1, 2, 5])
    assert hdc.layers[-1].span == (17, 17) and hdc.layers[-1].used == (17, 17)
    assert not hdc.warnings
    # rates 1,2,9: span 1 + 2 + 4 + 18 = 25 but a hole: 9's taps jump over what 1,2 fill
    holes = stack(3, 3, dilation=[1, 2, 9]).layers[-1]
    assert holes.span == (25, 25) and holes.used[0] < 25


def test_stack_with_stride_and_non_square_kernel():
    res = stack((3, 1), 3, stride=2)
    assert [layer.rf for layer in res.layers] == [(3, 1), (7, 1), (15, 1)]  # 1+2, +2*2, +2*4
    assert [layer.jump for layer in res.layers] == [(2, 2), (4, 4), (8, 8)]
    assert res.layers[-1].single_c2 == 15 * 1


@pytest.mark.parametrize(
    "kwargs",
    [dict(kernel=0, layers=3), dict(kernel=3, layers=-1), dict(kernel=3, layers=3, dilation=[1, 2]), dict(kernel=3, layers=2, stride=0)],
)
def test_stack_rejects_bad_input(kwargs):
    with pytest.raises(UsageError):
        stack(**kwargs)


def test_stack_library_errors_name_parameters_not_flags():
    for kwargs in (dict(kernel=3, layers=-1), dict(kernel=3, layers=10_001), dict(kernel=3, layers=3, stride=[1, 2])):
        with pytest.raises(UsageError) as err:
            stack(**kwargs)
        assert "--" not in err.value.message


def test_stack_big_integers_are_exact():
    """Stride 2 doubles the jump: RF 2^(n+1) - 1 after n 3x3 layers, as ints."""
    last = stack(3, 330, stride=2).layers[-1]
    assert last.rf == (2**331 - 1,) * 2 and last.jump == (2**330,) * 2
    assert last.single_c2 == (2**331 - 1) ** 2 and last.used == last.span == (2**331 - 1,) * 2


def test_stack_520_stride_2_layers_is_exact():
    """The case that overflowed a float: 2^521 - 1 positions, and the one-kernel ratio still prints."""
    last = stack(3, 520, stride=2).layers[-1]
    assert last.rf == (2**521 - 1,) * 2 and last.params_c2 == 520 * 9


@pytest.mark.parametrize("kwargs", [dict(layers=10_000, stride=2), dict(layers=400, stride=1_000_000), dict(layers=1, dilation=10**2000)])
def test_stack_refuses_sizes_past_the_limit(kwargs):
    with pytest.raises(UsageError, match="passes 10\\^2000"):
        stack(3, **kwargs)


def _brute_positions(taps):
    """Used/span by sets: the Minkowski sum of every layer's taps {t d J}."""
    reach, jump, out = {0}, 1, []
    for k, s, d in taps:
        reach = {p + t * d * jump for p in reach for t in range(k)}
        jump *= s
        out.append((len(reach), max(reach) + 1))
    return out


def test_gridding_positions_match_sets():
    import random

    from netstat.rf.calculator import _positions

    rng = random.Random(0)
    for _ in range(500):
        taps = [(rng.randint(1, 5), rng.choice([1, 1, 2, 3]), rng.choice([1, 2, 3, 4, 6, 9])) for _ in range(rng.randint(1, 5))]
        assert _positions(taps) == _brute_positions(taps), taps


def test_gridding_of_huge_kernels_and_rates_is_arithmetic():
    assert stack(4_000_000, 1).layers[0].used == (4_000_000,) * 2
    last = stack(3, 3, dilation=1_000_000).layers[-1]
    assert last.used == (7, 7) and last.span == (6_000_001,) * 2
    last = stack(3, 10_000, dilation=2).layers[-1]
    assert last.used == (20_001,) * 2 and last.span == (40_001,) * 2


# --------------------------------------------------------------------------- published values


# google-research/receptive_field README (Araujo, Norris & Sim, "Computing Receptive Fields of
# Convolutional Neural Networks", Distill 2019), table of (RF, effective stride, effective padding).
# The TF-Slim models pad 'SAME' (asymmetric at stride 2) where the PyTorch ones pad symmetrically,
# so the effective padding is compared only where the padding conventions coincide.
PUBLISHED = [
    ("vgg16", "features", 212, 32, 90),  # vgg_16
    ("inception_v3", "Mixed_7c", 1311, 32, 618),  # inception_v3
    ("inception_v4", "features", 2071, 32, 998),  # inception_v4
    ("alexnet", "features", 195, 32, None),  # alexnet_v2 (TF: 64; here conv1 pads 2: 66)
    ("mobilenet_v1", "features", 315, 32, None),  # mobilenet_v1 (TF: 126, SAME padding)
    ("mobilenet_v1_075", "features", 315, 32, None),  # mobilenet_v1_075
]


@pytest.mark.parametrize("model,layer,r,j,p", PUBLISHED)
def test_published_araujo(model, layer, r, j, p):
    res = receptive_field(model)
    st = next(x for x in res.layers if x.name == layer).rf
    assert st.size == (r, r) and st.jump == (j, j)
    if p is not None:
        assert st.padding == (p, p)


def test_vgg16_pool5():
    """VGG-16 after pool5: RF 212, stride 32, effective padding 90 (Araujo et al., Distill 2019)."""
    res = receptive_field("vgg16")
    pool5 = next(x for x in res.layers if x.name == "features.30")
    assert pool5.type == "MaxPool2d"
    assert pool5.rf.size == (212, 212) and pool5.rf.jump == (32, 32) and pool5.rf.padding == (90, 90)
    assert pool5.rf.center == (Fraction(31, 2),) * 2  # 105.5 - 90: units at 15.5, 47.5, ..., 207.5


# samson-wang, "ResNet Receptive Field Size" (GitHub gist a6073c18f2adf16e0ab5fb95b53db3e6),
# torchvision ResNets (stride on the 3x3 conv): RF after layer1..layer4.
RESNET_GIST = {
    "resnet18": [43, 99, 211, 435],
    "resnet34": [59, 179, 547, 899],
    "resnet50": [35, 91, 267, 427],
    "resnet101": [35, 91, 811, 971],
}


@pytest.mark.parametrize("model", sorted(RESNET_GIST))
def test_resnet_stages(model):
    res = receptive_field(model)
    got = [next(x for x in res.layers if x.name == f"layer{i}").rf.size[0] for i in (1, 2, 3, 4)]
    assert got == RESNET_GIST[model]
    assert res.aligned  # the shortcut branches never disagree on the centre


# --------------------------------------------------------------------------- branches


class TwoBranch(nn.Module):
    def __init__(self, offset: int = 0):
        super().__init__()
        self.a = nn.Conv2d(2, 2, 3, padding=1)
        self.b = nn.Conv2d(2, 2, 5, padding=2)
        self.offset = offset

    def forward(self, x):
        a, b = self.a(x), self.b(x)
        if self.offset:  # shift branch b by one pixel down and right, keeping the shape
            b = F.pad(b, (1, 0, 1, 0))[:, :, :-1, :-1]
        return a + b


def test_aligned_branches_give_the_larger_rf():
    st = rf_of(TwoBranch())
    assert st.size == (5, 5) and st.center == (0, 0) and st.aligned


def test_offset_branch_is_reported_misaligned():
    st = rf_of(TwoBranch(offset=1))
    assert not st.aligned and st.misaligned == ("(model): add",)
    # the union of [-1, 1] (branch a) and [-3, 1] (branch b shifted by one): 5 wide, centred at -1
    assert st.size == (5, 5) and st.center == (-1, -1)


def test_cat_on_channels_and_channel_shuffle_pass_through():
    class Shuffle(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)
            self.pool = nn.MaxPool2d(3, 1, 1)

        def forward(self, x):
            y = torch.cat([self.conv(x), self.pool(x)], 1)
            n, c, h, w = y.shape
            return y.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)

    st = rf_of(Shuffle(), (1, 4, 16, 16))
    assert st.size == (3, 3) and st.aligned and st.dims == (None, None, 0, 1)


def test_global_ops():
    head = nn.Sequential(nn.Conv2d(2, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    assert rf_of(head).is_global
    flat = nn.Sequential(nn.Conv2d(2, 2, 3), nn.Flatten(), nn.Linear(2 * 62 * 62, 3))
    assert rf_of(flat).is_global

    class Mean(nn.Module):
        def forward(self, x):
            return x.mean((2, 3))

    assert rf_of(Mean()).is_global


def test_squeeze_excitation_is_global_with_a_local_path():
    class SE(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)
            self.fc = nn.Conv2d(2, 2, 1)

        def forward(self, x):
            y = self.conv(x)
            return y * torch.sigmoid(self.fc(y.mean((2, 3), keepdim=True)))

    st = rf_of(SE())
    assert st.is_global and st.local_size == (3, 3)
    assert st.to_dict()["rf"] is None and st.to_dict()["local_rf"] == [3, 3]


def test_adaptive_pool_exact_when_divisible():
    # 64 -> 8: windows of 8, stride 8, exactly a pool k=8 s=8
    st = rf_of(nn.AdaptiveAvgPool2d(8))
    assert st.size == (8, 8) and st.jump == (8, 8) and st.slack == (0, 0)
    # 64 -> 6 (windows of 10 or 11 at fractional stride 32/3): a mean model with slack
    st = rf_of(nn.AdaptiveAvgPool2d(6))
    assert st.jump == (Fraction(32, 3),) * 2 and st.slack[0] > 0


def test_padding_and_cropping_shift_the_centre():
    class PadCrop(nn.Module):
        def forward(self, x):
            return F.pad(x, (2, 0, 3, 0))[:, :, :, 1:]

    st = rf_of(PadCrop(), (1, 2, 8, 8))
    # unit 0 of the output: H reads padded row 0 = input row -3; W reads padded col 1 = input col -1
    assert st.size == (1, 1) and st.center == (-3, -1)


def test_upsampling_rules():
    # nearest x2: r unchanged, j = 1/2, centre -(f-1)/(2f) = -1/4, slack 1/4
    st = rf_of(nn.Upsample(scale_factor=2, mode="nearest"))
    assert st.size == (1, 1) and st.jump == (Fraction(1, 2),) * 2 and st.center == (Fraction(-1, 4),) * 2
    assert st.slack == (Fraction(1, 4),) * 2
    # bilinear x2 (align_corners=False): reads floor(x)..ceil(x), x = o/2 - 1/4: r = 1 + 1, same centre
    st = rf_of(nn.Upsample(scale_factor=2, mode="bilinear"))
    assert st.size == (2, 2) and st.center == (Fraction(-1, 4),) * 2 and st.slack == (Fraction(1, 4),) * 2
    # transposed conv k=4 s=2 p=1: every output reads 2 inputs -> r = 2, j = 1/2, centre -1/4
    st = rf_of(nn.ConvTranspose2d(2, 2, 4, 2, 1))
    assert st.size == (2, 2) and st.jump == (Fraction(1, 2),) * 2 and st.center == (Fraction(-1, 4),) * 2
    # a stride-2 conv undone by x2 upsampling: the jump returns to 1
    st = rf_of(nn.Sequential(nn.Conv2d(2, 2, 3, 2, 1), nn.Upsample(scale_factor=2)))
    assert st.jump == (1, 1) and st.size == (3, 3)


def test_reach_names_the_pixels_no_unit_reads():
    # Inception v3's stem: 3x3 stride-2 unpadded convs on 96 pixels read 0..94, then fewer
    res = receptive_field("inception_v3", (1, 3, 96, 96))
    assert any("H 93..95, W 93..95" in n for n in res.notes)
    assert res.final.rf.axes[0].reach == (0, 92)
    assert not [n for n in receptive_field("inception_v3").notes if "never depends" in n]  # 299 is read whole


def test_one_dimensional_input():
    model = nn.Sequential(nn.Conv1d(2, 2, 5, 2, 2), nn.MaxPool1d(3, 2, 1))
    st = rf_of(model, (1, 2, 64))
    assert st.size == (9,) and st.jump == (4,)  # 5 + 2*2


def test_analyze_reuses_a_profile_trace():
    from netstat.analysis import profile

    p = profile("resnet18")
    res = analyze(p.trace, "resnet18")
    assert len(res.layers) == len(p.layers)
    assert [x.describe() for x in res.layers] == [x.describe() for x in receptive_field("resnet18").layers]
    assert res.final.rf.is_global


def test_final_feature_map():
    assert receptive_field("vgg16").features.rf.size == (212, 212)
    resnet = receptive_field("resnet50").features
    assert resnet.name == "layer4" and resnet.rf.size == (427, 427)


def test_json_schema():
    d = receptive_field("resnet18").to_dict()
    assert {"schema_version", "model", "input_shape", "layers"} <= set(d)
    layer = next(x for x in d["layers"] if x["name"] == "layer4")
    assert layer["rf"] == [435, 435] and layer["stride"] == [32, 32] and layer["global"] is False and layer["aligned"] is True
    assert {"name", "type", "rf", "stride", "center", "global", "aligned"} <= set(layer)
    json.dumps(d)


def test_user_module_untouched():
    model = TwoBranch().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    receptive_field(model, (1, 2, 16, 16))
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not model._forward_hooks and not model._forward_pre_hooks


# --------------------------------------------------------------------------- CLI


def test_cli_calculator_vgg():
    out = runner.invoke(app, ["rf", "--kernel", "3", "--layers", "3"], env={"COLUMNS": "160"})
    assert out.exit_code == 0, out.output
    assert "49C²" in out.output and "27C²" in out.output


def test_cli_calculator_json_yu_koltun():
    out = runner.invoke(app, ["rf", "--kernel", "3", "--layers", "7", "--dilation", "1,1,2,4,8,16,1", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert [x["rf"][0] for x in data["layers"]] == [3, 5, 9, 17, 33, 65, 67]
    assert data["layers"][0]["name"] == "1"


def test_cli_dilation_shows_gridding():
    out = runner.invoke(app, ["rf", "--dilation", "2", "--format", "json"])
    data = json.loads(out.stdout)
    last = data["layers"][-1]
    assert last["rf"] == [13, 13] and last["plain_rf"] == [7, 7] and last["used_positions"] == [7, 7]
    assert data["warnings"]


def test_cli_model_table_and_depth():
    out = runner.invoke(app, ["rf", "resnet50", "--depth", "1"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "layer4" in out.output and "427" in out.output and "layer4.0" not in out.output


def test_cli_model_json_and_csv():
    out = runner.invoke(app, ["rf", "vgg16", "--format", "json"])
    data = json.loads(out.stdout)
    pool5 = next(x for x in data["layers"] if x["name"] == "features.30")
    assert pool5["rf"] == [212, 212] and pool5["stride"] == [32, 32] and pool5["center"] == [15.5, 15.5]
    out = runner.invoke(app, ["rf", "vgg16", "--format", "csv"])
    assert out.exit_code == 0 and out.stdout.splitlines()[0].startswith("Layer,Type,Output")


@pytest.mark.parametrize(
    "args",
    [
        ["rf", "--kernel", "0"],
        ["rf", "--layers", "-1"],
        ["rf", "--layers", "3", "--dilation", "1,2"],
        ["rf", "nosuchmodel"],
        ["rf", "--verify"],
        ["rf", "vgg16", "--kernel", "3"],
        ["rf", "vgg16", "--plot", "rf.txt"],
        ["rf", "--format", "yaml"],
        ["rf", "--input", "1,3,0,0", "vgg16"],
    ],
)
def test_cli_bad_usage_exits_2(args):
    out = runner.invoke(app, args)
    assert out.exit_code == 2, out.output
    assert "Traceback" not in out.output


def _one_sentence(stderr: str) -> str:
    text = " ".join(stderr.split())
    assert "Traceback" not in stderr and "Internal error" not in stderr, stderr
    assert text.startswith("Error: ") and text.endswith(".") and len(re.findall(r"[.!?](?:\s|$)", text)) == 1, stderr
    return text


def test_cli_calculator_answers_520_stride_2_layers():
    out = runner.invoke(app, ["rf", "--layers", "520", "--stride", "2"])
    assert out.exit_code == 0, out.output
    assert "520 layers see 6.86e156x6.86e156 with 4680C² weights" in " ".join(out.stdout.split())


def test_cli_calculator_refuses_sizes_past_the_limit():
    out = runner.invoke(app, ["rf", "--layers", "10000", "--stride", "2"])
    assert out.exit_code == 2, out.output
    assert "10^2000" in _one_sentence(out.stderr)


@pytest.mark.parametrize(
    "args, code",
    [
        (["--layers", "520", "--stride", "2"], 0),
        (["--layers", "10000", "--stride", "2"], 2),
        (["--kernel", "4000000", "--layers", "1"], 0),
        (["--kernel", "100000", "--layers", "10000"], 0),
        (["--dilation", "1000000"], 0),
        (["--kernel", "3", "--layers", "10000", "--dilation", "2"], 0),
        (["--stride", "1000000", "--layers", "200"], 0),
        (["--stride", "1000000", "--layers", "400"], 2),
        (["--channels", str(10**12)], 0),
        (["--channels", str(10**12 + 1)], 2),
        (["--kernel", "1", "--stride", "1000000", "--layers", "10000", "--format", "json"], 2),
    ],
)
def test_cli_calculator_answers_huge_values_in_seconds(args, code):
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "netstat", "rf", *args], capture_output=True, text=True, timeout=30)
    assert time.perf_counter() - start < 30
    assert proc.returncode == code, proc.stderr
    if code:
        _one_sentence(proc.stderr)
    else:
        assert "Traceback" not in proc.stderr and "Error" not in proc.stderr, proc.stderr


def test_cli_plot_growth(tmp_path):
    path = tmp_path / "rf.png"
    out = runner.invoke(app, ["rf", "vgg11", "resnet18", "--plot", str(path), "--format", "json"])
    assert out.exit_code == 0, out.output
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [m["model"] for m in json.loads(out.stdout)["models"]] == ["vgg11", "resnet18"]
    assert not [p for p in tmp_path.iterdir() if p.name != "rf.png"]  # no temporary file left


@pytest.mark.parametrize("mode", [torch.inference_mode, torch.no_grad], ids=["inference_mode", "no_grad"])
def test_receptive_field_is_the_same_inside_inference_mode_and_no_grad(mode):
    import netstat

    outside = netstat.receptive_field("resnet18")
    with mode():
        inside = netstat.receptive_field("resnet18")
    layer4 = next(layer for layer in inside.layers if layer.name == "layer4")
    assert not layer4.rf.is_global and layer4.describe() == "435, stride 32"
    assert inside.to_dict() == outside.to_dict()



def test_a_batch_filled_image_by_image_keeps_its_spatial_axes():
    """A detector's transform fills a new batch tensor through select(0, i)
    views; the conv reading the batch must see the written images' axes (it
    raised IndexError: the state written through the 3-d view was 3-d)."""
    import torch.nn as nn

    class Batcher(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)

        def forward(self, x):
            batch = x.new_zeros((1, 3, 16, 16))
            batch[0].copy_(x[0] * 2)
            return self.conv(batch)

    result = receptive_field(Batcher(), input_size=(1, 3, 16, 16))
    conv = next(layer for layer in result.layers if layer.path == "conv")
    assert conv.describe().startswith("3, stride 2")
