"""Each formula with its arithmetic written out by hand, and a property test
against torch.utils.flop_counter."""

from __future__ import annotations

import contextlib
import inspect

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from netstat import formulas
from netstat.formulas import Cost
from netstat.analysis import profile


def totals(module: nn.Module, shape) -> dict:
    return profile(module, input_size=shape).totals


class Lambda(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def test_standard_conv():
    # 8 -> 16, 3x3, pad 1 on 1x8x32x32: every output (16*32*32) sums 8*3*3 products.
    t = totals(nn.Conv2d(8, 16, 3, padding=1), (1, 8, 32, 32))
    assert t["madds"] == 16 * 32 * 32 * 8 * 3 * 3
    assert t["flops"] == 2 * 16 * 32 * 32 * 8 * 3 * 3 + 16 * 32 * 32  # + one bias add per output
    assert t["params"] == (8 * 3 * 3 + 1) * 16 == 1168


def test_depthwise_and_grouped_conv():
    dw = totals(nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), (1, 8, 32, 32))
    assert dw["madds"] == 8 * 32 * 32 * 1 * 3 * 3
    grouped = totals(nn.Conv2d(8, 16, 3, padding=1, groups=4, bias=False), (2, 8, 10, 10))
    assert grouped["madds"] == 2 * 16 * 10 * 10 * (8 // 4) * 3 * 3


def test_dilated_strided_conv():
    # 3x3 dilation 2 on 17x17, no pad: span 5, output 13x13; stride 2 -> 7x7.
    t = totals(nn.Conv2d(4, 6, 3, dilation=2, stride=2, bias=False), (1, 4, 17, 17))
    assert t["output_shape"] == [[1, 6, 7, 7]]
    assert t["madds"] == 6 * 7 * 7 * 4 * 3 * 3


def test_transposed_conv():
    # Each of the 1*8*5*5 input elements is multiplied into 4 (Cout/g) x 2x2 taps.
    t = totals(nn.ConvTranspose2d(8, 4, 2, stride=2), (1, 8, 5, 5))
    assert t["output_shape"] == [[1, 4, 10, 10]]
    assert t["madds"] == 8 * 5 * 5 * 4 * 2 * 2
    assert t["flops"] == 2 * 8 * 5 * 5 * 4 * 2 * 2 + 4 * 10 * 10


def test_conv1d_and_conv3d():
    assert totals(nn.Conv1d(3, 5, 7, bias=False), (1, 3, 20))["madds"] == 5 * 14 * 3 * 7
    assert totals(nn.Conv3d(2, 3, 3, bias=False), (1, 2, 5, 5, 5))["madds"] == 3 * 3 * 3 * 3 * 2 * 27


def test_linear_and_matmuls():
    t = totals(nn.Linear(10, 7), (4, 10))
    assert t["madds"] == 4 * 10 * 7
    assert t["flops"] == 2 * 4 * 10 * 7 + 4 * 7
    bmm = totals(Lambda(lambda x: torch.bmm(x, x.transpose(1, 2))), (3, 5, 6))
    assert bmm["madds"] == 3 * 5 * 6 * 5
    ein = totals(Lambda(lambda x: torch.einsum("bij,bkj->bik", x, x)), (3, 5, 6))
    assert ein["madds"] == 3 * 5 * 6 * 5
    mm = totals(Lambda(lambda x: x @ x.T), (5, 6))
    assert mm["madds"] == 5 * 6 * 5


def test_attention():
    # q, k, v of (B=2, H=4, L=S=16, E=8): QK^T takes 2*4*16*16*8, AV the same.
    q = (2, 4, 16, 8)
    t = totals(Lambda(lambda x: F.scaled_dot_product_attention(x, x, x)), q)
    assert t["madds"] == 2 * 4 * 16 * 16 * 8 * 2
    direct = formulas.scaled_dot_product_attention(query=q, key=q, value=q)
    assert direct.madds == 2 * 4 * 16 * 16 * 8 * 2
    # + q and k scaled by sqrt(scale) (16*8 each per batch-head), softmax 5 per score.
    assert direct.flops == 2 * direct.madds + 2 * 4 * (16 * 8 + 16 * 8) + 2 * 4 * 16 * 16 * formulas.SOFTMAX_FLOPS
    assert t["flops"] == direct.flops  # the meta trace records the math kernel op by op


def test_multi_head_attention_fused_formula():
    # embed 16, 4 heads, batch 2, length 5: projections 4 * (2*5*16*16), attention 2*(2*5*5*16).
    cost = formulas.native_multi_head_attention(query=(2, 5, 16), key=(2, 5, 16), value=(2, 5, 16), embed_dim=16, num_head=4, qkv_bias=(48,), proj_bias=(16,))
    assert cost.madds == 4 * 2 * 5 * 16 * 16 + 2 * 2 * 5 * 5 * 16


def test_multi_head_attention_module_counts_projections():
    mha = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    t = totals(Lambda(lambda x: mha(x, x, x, need_weights=False)[0]), (2, 5, 16))
    assert t["madds"] == 4 * 2 * 5 * 16 * 16 + 2 * 2 * 5 * 5 * 16


def test_norms_and_activations_flops():
    n = 1 * 4 * 6 * 6
    assert totals(nn.BatchNorm2d(4), (1, 4, 6, 6))["flops"] == 2 * n  # folded x * scale + shift
    assert totals(nn.ReLU(), (1, 4, 6, 6))["flops"] == 1 * n
    assert totals(nn.ReLU6(), (1, 4, 6, 6))["flops"] == 2 * n
    assert totals(nn.Hardswish(), (1, 4, 6, 6))["flops"] == 5 * n
    assert totals(nn.Sigmoid(), (1, 4, 6, 6))["flops"] == 4 * n
    assert totals(nn.SiLU(), (1, 4, 6, 6))["flops"] == 5 * n
    assert totals(nn.GELU(approximate="tanh"), (1, 4, 6, 6))["flops"] == 9 * n
    assert totals(nn.LayerNorm(6), (1, 4, 6, 6))["flops"] == (6 + 2) * n
    assert totals(nn.GroupNorm(2, 4), (1, 4, 6, 6))["flops"] == (6 + 2) * n
    assert totals(nn.Softmax(dim=1), (1, 4, 6, 6))["flops"] == 5 * n
    for module in (nn.BatchNorm2d(4), nn.ReLU(), nn.Softmax(dim=1)):
        assert totals(module, (1, 4, 6, 6))["madds"] == 0


def test_pooling():
    # 3x3 max pool stride 2 on 1x2x9x9 -> 4x4: 8 comparisons per output.
    assert totals(nn.MaxPool2d(3, 2), (1, 2, 9, 9))["flops"] == 2 * 4 * 4 * 8
    # 2x2 average: 3 adds + 1 divide per output.
    assert totals(nn.AvgPool2d(2), (1, 2, 8, 8))["flops"] == 2 * 4 * 4 * 4
    # Adaptive 7 -> 3 windows along one axis: [0,3), [2,5), [4,7) -> 3 + 3 + 3 = 9 per axis.
    assert formulas.adaptive_windows(7, 3) == [3, 3, 3]
    assert totals(nn.AdaptiveAvgPool2d(3), (1, 2, 7, 7))["flops"] == 2 * 9 * 9
    assert totals(nn.AdaptiveMaxPool2d(3), (1, 2, 7, 7))["flops"] == 2 * (9 * 9 - 9)


def test_elementwise_reductions_and_data_movement():
    n = 2 * 3 * 4
    assert totals(Lambda(lambda x: x + x), (2, 3, 4))["flops"] == n
    assert totals(Lambda(lambda x: x * 2 - 1), (2, 3, 4))["flops"] == 2 * n
    assert totals(Lambda(lambda x: x.mean(dim=(1, 2))), (2, 3, 4))["flops"] == n
    assert totals(Lambda(lambda x: x.sum(dim=2)), (2, 3, 4))["flops"] == n - 2 * 3
    moved = totals(Lambda(lambda x: torch.cat([x, x.flip(1)], 1).transpose(1, 2).contiguous().view(2, -1)), (2, 3, 4))
    assert moved["flops"] == 0 and moved["madds"] == 0


def test_interpolation():
    out = 1 * 2 * 8 * 8
    assert totals(nn.Upsample(scale_factor=2, mode="nearest"), (1, 2, 4, 4))["flops"] == 0
    assert totals(nn.Upsample(scale_factor=2, mode="bilinear"), (1, 2, 4, 4))["flops"] == 7 * out


def test_dropout_is_free_at_inference():
    t = totals(nn.Dropout(0.5), (2, 8))
    assert t["flops"] == 0


def test_max_unpool():
    class Unpool(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = nn.MaxPool2d(2, return_indices=True)
            self.unpool = nn.MaxUnpool2d(2)

        def forward(self, x):
            y, idx = self.pool(x)
            return self.unpool(y, idx)

    p = profile(Unpool(), input_size=(1, 2, 4, 4))
    assert p.uncounted_ops == {}
    assert p.totals["flops"] == 2 * 2 * 2 * 3  # only the pool's comparisons


class AddmmActivation(nn.Module):
    """aten._addmm_activation, the fused linear + ReLU (or GELU) a traced or compiled model can call."""

    def __init__(self, fin: int, fout: int, use_gelu: bool):
        super().__init__()
        self.weight, self.bias, self.use_gelu = nn.Parameter(torch.ones(fin, fout)), nn.Parameter(torch.ones(fout)), use_gelu

    def forward(self, x):
        return torch.ops.aten._addmm_activation(self.bias, x, self.weight, use_gelu=self.use_gelu)


def test_addmm_activation_is_addmm_plus_its_activation():
    # bias (5,) + (3, 4) @ (4, 5): 3*4*5 = 60 MAdds; FLOPs 2*60 + 15 bias adds (one per output of
    # 3 x 5), then the activation on each of the 15 outputs at netstat's per-element constant:
    # ReLU 1 (max(x, 0)), GELU 5 (the erf form, which the CPU kernel and the meta trace run).
    relu, gelu = formulas.FLOPS_PER_ELEMENT["relu"], formulas.FLOPS_PER_ELEMENT["gelu"]
    assert (relu, gelu) == (1, 5)
    for use_gelu, per_element in ((False, relu), (True, gelu)):
        direct = formulas.FORMULAS[torch.ops.aten._addmm_activation](self=(5,), mat1=(3, 4), mat2=(4, 5), use_gelu=use_gelu, out=[(3, 5)])
        assert direct == Cost(60, 2 * 60 + 15 + per_element * 15)
        p = profile(AddmmActivation(4, 5, use_gelu), input_size=(3, 4))
        assert p.by_operator()["aten._addmm_activation.default"]["flops"] == direct.flops
        assert (p.totals["madds"], p.totals["flops"], p.uncounted_ops) == (60, direct.flops, {})


def test_formula_is_a_pure_function_of_shapes():
    # Called directly, without any tensor.
    assert formulas.convolution(input=(1, 8, 32, 32), weight=(16, 8, 3, 3), bias=(16,), out=[(1, 16, 32, 32)]) == Cost(
        16 * 32 * 32 * 72, 2 * 16 * 32 * 32 * 72 + 16 * 32 * 32
    )
    assert formulas.mm(self=(3, 4), mat2=(4, 5)) == Cost(60, 120)


def test_unknown_op_is_reported_uncounted():
    p = profile(Lambda(lambda x: torch.lgamma(x) + 1), input_size=(2, 5))
    assert p.uncounted_ops == {"aten.lgamma.default": 1}


def flop_counter_madds(module, shape) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(torch.empty(shape, device="meta"))
    return counter.get_total_flops() // 2


@settings(max_examples=40, deadline=None)
@given(
    cin_g=st.integers(1, 4),
    cout_g=st.integers(1, 4),
    groups=st.integers(1, 3),
    k=st.integers(1, 5),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    size=st.integers(8, 20),
    bias=st.booleans(),
    transposed=st.booleans(),
)
def test_conv_property(cin_g, cout_g, groups, k, stride, dilation, size, bias, transposed):
    cin, cout = cin_g * groups, cout_g * groups
    assume(transposed or size >= dilation * (k - 1) + 1)  # the kernel must fit the input
    cls = nn.ConvTranspose2d if transposed else nn.Conv2d
    with torch.device("meta"):
        conv = cls(cin, cout, k, stride=stride, dilation=dilation, groups=groups, bias=bias)
    t = totals(conv, (1, cin, size, size))
    out_h = t["output_shape"][0][2]
    if transposed:
        hand = cin * size * size * (cout // groups) * k * k
    else:
        hand = cout * out_h * out_h * (cin // groups) * k * k
    assert t["madds"] == hand == flop_counter_madds(conv, (1, cin, size, size))
    assert t["flops"] == 2 * hand + (cout * out_h * out_h if bias else 0)


@settings(max_examples=30, deadline=None)
@given(batch=st.integers(1, 4), fin=st.integers(1, 64), fout=st.integers(1, 64), lead=st.integers(0, 3), bias=st.booleans())
def test_linear_property(batch, fin, fout, lead, bias):
    with torch.device("meta"):
        fc = nn.Linear(fin, fout, bias=bias)
    shape = (batch,) + (3,) * lead + (fin,)
    t = totals(fc, shape)
    rows = batch * 3**lead
    assert t["madds"] == rows * fin * fout == flop_counter_madds(fc, shape)
    assert t["flops"] == 2 * rows * fin * fout + (rows * fout if bias else 0)


class MatVec(nn.Module):
    def __init__(self, m: int, n: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(m, n))

    def forward(self, v):
        return torch.mv(self.weight, v)


class Dot(nn.Module):
    def __init__(self, n: int, fn=torch.dot):
        super().__init__()
        self.other, self.fn = nn.Parameter(torch.ones(n)), fn

    def forward(self, a):
        return self.fn(a, self.other)


def test_mv_dot_vdot_and_spectral_norm():
    # aten.mv names its operands (self, vec) and aten.dot (self, tensor): issue 11.
    assert totals(MatVec(5, 7), (7,))["madds"] == 5 * 7
    assert totals(MatVec(5, 7), (7,))["flops"] == 2 * 5 * 7
    assert totals(Dot(7), (7,))["madds"] == 7
    assert totals(Dot(7, torch.vdot), (7,))["flops"] == 2 * 7
    # Conv 3 -> 8, 3x3 on 16x16 (14x14 out), plus sigma = vdot(u, mv(W, v)) with W 8 x 27.
    sn = nn.Sequential(nn.utils.parametrizations.spectral_norm(nn.Conv2d(3, 8, 3)))
    assert totals(sn, (1, 3, 16, 16))["madds"] == 8 * 14 * 14 * 27 + 8 * 27 + 8


def registered_ops():
    """(op packet, formula) for every op the registry knows, named ones too."""
    with contextlib.suppress(ImportError):
        import torchvision  # noqa: F401 - registers torch.ops.torchvision
    yield from formulas.FORMULAS.items()
    for qualified, fn in formulas.NAMED_FORMULAS.items():
        namespace, name = qualified.split("::")
        with contextlib.suppress(AttributeError, RuntimeError):
            yield getattr(getattr(torch.ops, namespace), name), fn


def schema_calls(op):
    """(args, kwargs) of the fewest and of all arguments a call of `op` can
    carry: the dispatcher drops trailing defaulted arguments."""
    arguments = op._schema.arguments
    positional = [a for a in arguments if not a.kwarg_only]
    required = max((i + 1 for i, a in enumerate(positional) if not a.has_default_value()), default=0)
    keywords = [a for a in arguments if a.kwarg_only]
    fewest = [a for a in keywords if not a.has_default_value()]
    for count, kw_only in ((required, fewest), (len(positional), keywords)):
        yield tuple(() for _ in positional[:count]), {a.name: () for a in kw_only}


def test_every_formula_binds_every_overload_schema():
    checked, failures = 0, []
    for packet, fn in registered_ops():
        signature = inspect.signature(fn)
        named = [p.name for p in signature.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "out"]
        for overload in packet.overloads():
            op = getattr(packet, overload)
            schema_names = {a.name for a in op._schema.arguments}
            # A parameter the schema never has would silently keep its default.
            failures += [f"{op}: no argument {p!r}" for p in named if p not in schema_names]
            for args, kwargs in schema_calls(op):
                checked += 1
                try:
                    signature.bind(**formulas.bind(op, args, kwargs), out=[()])
                except TypeError as error:
                    failures.append(f"{op}: {error}")
    assert failures == []
    assert checked > 1000  # every overload of ~250 packets, twice


# ---------------------------------------------------------------------------
# Issue 12: formulas that were missing (softmax of SDPA's math kernel, trig,
# cumulative sums, oneDNN's LSTM layer, views the schema does not mark).
# ---------------------------------------------------------------------------


def test_safe_softmax_counts_as_softmax():
    # (2, 3, 4): 24 elements, 5 FLOPs each (max, subtract, exp, sum, divide).
    t = totals(Lambda(lambda x: torch.ops.aten._safe_softmax(x, -1)), (2, 3, 4))
    assert t["flops"] == 5 * 24 and t["madds"] == 0


def test_attention_flops_agree_on_meta_and_cpu():
    # (B=1, H=2, L=S=4, E=8): QK^T and AV take 2 * 4*4*8 MAdds per head; q and k
    # scaled by sqrt(scale) take 4*8 + 4*8 per head; softmax 5 per score; the
    # mask (is_causal or attn_mask) adds 1 per score. Meta records the math
    # kernel op by op, CPU the fused flash kernel: the same count.
    heads, scores = 2, 2 * 4 * 4
    madds = heads * 4 * 4 * (8 + 8)
    plain = 2 * madds + heads * (4 * 8 + 4 * 8) + 5 * scores
    calls = {
        "plain": (lambda x: F.scaled_dot_product_attention(x, x, x), plain),
        "causal": (lambda x: F.scaled_dot_product_attention(x, x, x, is_causal=True), plain + scores),
        "float mask": (lambda x: F.scaled_dot_product_attention(x, x, x, attn_mask=torch.zeros(4, 4, device=x.device)), plain + scores),
    }
    for name, (fn, flops) in calls.items():
        for device in ("meta", "cpu"):
            p = profile(Lambda(fn), input_size=(1, 2, 4, 8), device=device)
            assert (p.totals["madds"], p.totals["flops"], p.uncounted_ops) == (madds, flops, {}), (name, device)


def test_trigonometric_and_error_functions_are_one_flop():
    # Transcendental ops count 1 FLOP per element, as exp and tanh do: sin + cos
    # on (2, 5) is 10 + 10, and the add 10 more.
    assert totals(Lambda(lambda x: torch.sin(x) + torch.cos(x)), (2, 5))["flops"] == 10 + 10 + 10
    for fn in (torch.tan, torch.asin, torch.acos, torch.atan, torch.sinh, torch.cosh, torch.erf, torch.erfc):
        p = profile(Lambda(fn), input_size=(3, 7))
        assert (p.totals["flops"], p.uncounted_ops) == (21, {}), fn.__name__


def test_cumulative_sum_and_product():
    # (3, 4) along dim 1: 3 rows of 4, each 3 adds; along dim 0: 4 rows of 3, each 2.
    assert totals(Lambda(lambda x: torch.cumsum(x, 1)), (3, 4))["flops"] == 3 * 3
    assert totals(Lambda(lambda x: torch.cumsum(x, 0, dtype=torch.float64)), (3, 4))["flops"] == 4 * 2
    assert totals(Lambda(lambda x: torch.cumprod(x, -1)), (2, 3, 5))["flops"] == 6 * 4
    assert formulas.cumulative(self=(), dim=0) == Cost(0, 0)  # a 0-d tensor: a copy


class RawMkldnnLSTM(nn.Module):
    """One LSTM layer through the CPU oneDNN kernel, called directly."""

    def __init__(self, inputs: int, hidden: int, bias: bool = True):
        super().__init__()
        self.hidden, self.bias = hidden, bias
        self.w_ih = nn.Parameter(torch.randn(4 * hidden, inputs))
        self.w_hh = nn.Parameter(torch.randn(4 * hidden, hidden))
        self.b_ih = nn.Parameter(torch.randn(4 * hidden))
        self.b_hh = nn.Parameter(torch.randn(4 * hidden))

    def forward(self, x):
        h = x.new_zeros(x.shape[1], self.hidden)
        args = (x, self.w_ih, self.w_hh, self.b_ih, self.b_hh, h, h, False, [], 2, self.hidden, 1, self.bias, False, False, False)
        return torch.ops.aten.mkldnn_rnn_layer(*args)[0]


def test_mkldnn_rnn_layer_matches_the_reference_lstm_cell():
    # 5 steps x batch 2 = 10 rows; I = 8, H = 4: 10 x 4H x (I + H) = 1920 MAdds.
    # Per hidden unit and step: 22 gate FLOPs + 8 bias adds.
    cost = formulas.mkldnn_rnn_layer(input=(5, 2, 8), weight0=(16, 8), weight1=(16, 4), mode=2, hidden_size=4, has_biases=True)
    assert cost == Cost(10 * 16 * 12, 2 * 10 * 16 * 12 + 10 * 4 * (22 + 8))
    assert formulas.mkldnn_rnn_layer(input=(5, 2, 8), weight0=(16, 8), weight1=(16, 4), mode=2, hidden_size=4, has_biases=False).flops == 3840 + 10 * 4 * 22
    assert formulas.mkldnn_rnn_layer(input=(5, 2, 8), weight0=(12, 8), weight1=(12, 4), mode=3, hidden_size=4, has_biases=True) is None
    for bias in (True, False):
        cpu = profile(RawMkldnnLSTM(8, 4, bias), input_size=(5, 2, 8), device="cpu")
        meta = profile(nn.LSTM(8, 4, bias=bias), input_size=(5, 2, 8))  # the reference cell, op by op
        assert "aten.mkldnn_rnn_layer.default" in {op.name for op in cpu.trace.ops}
        assert (cpu.totals["madds"], cpu.totals["flops"]) == (meta.totals["madds"], meta.totals["flops"])
        assert cpu.uncounted_ops == meta.uncounted_ops == {}


def test_two_layer_lstm_same_on_cpu_and_meta():
    # nn.LSTM(64, 64, 2) on 27 steps: 27 x 2 layers x 4*64*(64 + 64) = 1,769,472 MAdds
    # (0 on CPU before the oneDNN kernel had a formula); FLOPs add 30 per unit and step.
    madds = 27 * 2 * 4 * 64 * (64 + 64)
    assert madds == 1_769_472
    for device in ("meta", "cpu"):
        t = profile(nn.LSTM(64, 64, 2), input_size=(27, 1, 64), device=device)
        assert (t.totals["madds"], t.totals["flops"], t.uncounted_ops) == (madds, 2 * madds + 27 * 2 * 64 * 30, {}), device


def test_views_the_schema_does_not_mark_are_data_movement():
    def pieces(x):
        a = x.unsafe_split(2, 1)
        b = torch.ops.aten.unsafe_split_with_sizes(x, [1, 3], 1)
        c = x.unsafe_chunk(2, 0)
        d = x.clone().as_strided_((4, 2), (1, 4))
        e = torch.tensor_split(x, 2, 1)
        return (*a, *b, *c, d, *e, x.swapaxes(0, 1), torch.tril(x))

    p = profile(Lambda(pieces), input_size=(2, 4))
    assert p.uncounted_ops == {}
    assert p.totals["flops"] == 0


class _GridSample(nn.Module):
    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def forward(self, x):
        grid = torch.zeros(1, 5, 6, 2, device=x.device)
        return F.grid_sample(x, grid, mode=self.mode, align_corners=False) + torch.linspace(0, 1, 6, device=x.device)


@pytest.mark.parametrize("mode, per_element", [("bilinear", 7), ("nearest", 0), ("bicubic", 31)])
def test_grid_sample_counts_its_interpolation_taps(mode, per_element):
    """Output 1 x 3 x 5 x 6 = 90 elements; the taps as for upsampling; linspace is creation (0)."""
    p = profile(_GridSample(mode), input_size=(1, 3, 8, 8))
    assert p.uncounted_ops == {}
    assert p.by_operator()["aten.grid_sampler_2d.default"]["flops"] == per_element * 90
