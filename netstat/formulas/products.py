"""Formulas of the products, the MAdds: convolution, matrix products,
attention and recurrent layers."""

from __future__ import annotations

from math import prod
from typing import Sequence

from netstat.formulas.pointwise import FLOPS_PER_ELEMENT, SOFTMAX_FLOPS
from netstat.formulas.registry import Cost, Shape, aten, aten_packets, formula, numel, packets

# ---------------------------------------------------------------------------
# Convolution and matrix products: the MAdds.
# ---------------------------------------------------------------------------


@formula(*packets("conv"))
def convolution(weight: Shape, out: Sequence[Shape] = (), **args) -> Cost:
    """Each output element of a (grouped, dilated) conv is a dot product of
    Cin/groups x prod(kernel) terms; weight is (Cout, Cin/groups, *k). A
    transposed conv's weight is (Cin, Cout/groups, *k) and every *input*
    element is multiplied by Cout/groups x prod(kernel) weights. The input is
    `input` or, in the backend-specific convolutions, `self`; only the
    generic ones have `transposed`, and cuDNN's has no bias."""
    per_element = weight[1] * prod(weight[2:])
    transposed, bias = args.get("transposed", False), args.get("bias")
    madds = numel(args.get("input", args.get("self")) if transposed else out[0]) * per_element
    return Cost(madds, 2 * madds + (numel(out[0]) if bias is not None else 0))


@formula(aten.mm)
def mm(self: Shape, mat2: Shape, **_) -> Cost:
    madds = self[0] * self[1] * mat2[1]  # (m, k) @ (k, n)
    return Cost(madds, 2 * madds)


@formula(aten.addmm)
def addmm(self: Shape, mat1: Shape, mat2: Shape, out: Sequence[Shape] = (), **_) -> Cost:
    madds = mat1[0] * mat1[1] * mat2[1]
    return Cost(madds, 2 * madds + numel(out[0]))  # + the bias add (beta, alpha scaling not counted)


@formula(aten.bmm)
def bmm(self: Shape, mat2: Shape, **_) -> Cost:
    madds = self[0] * self[1] * self[2] * mat2[2]  # (b, m, k) @ (b, k, n)
    return Cost(madds, 2 * madds)


@formula(*aten_packets("_addmm_activation"))
def addmm_activation(self: Shape, mat1: Shape, mat2: Shape, use_gelu: bool = False, out: Sequence[Shape] = (), **_) -> Cost:
    """addmm fused with a ReLU (or a GELU): addmm's cost + the activation's per output element."""
    base = addmm(self=self, mat1=mat1, mat2=mat2, out=out)
    return Cost(base.madds, base.flops + FLOPS_PER_ELEMENT["gelu" if use_gelu else "relu"] * numel(out[0]))


@formula(*aten_packets("addmv"))
def addmv(self: Shape, mat: Shape, vec: Shape, out: Sequence[Shape] = (), **_) -> Cost:
    madds = mat[0] * mat[1]  # (n, m) @ (m,), + the bias vector
    return Cost(madds, 2 * madds + numel(out[0]))


@formula(*aten_packets("addbmm"))
def addbmm(self: Shape, batch1: Shape, batch2: Shape, out: Sequence[Shape] = (), **_) -> Cost:
    """sum_b batch1[b] @ batch2[b] + self: the b products, then b sums into the (n, p) result."""
    madds = batch1[0] * batch1[1] * batch1[2] * batch2[2]
    return Cost(madds, 2 * madds + numel(out[0]))


@formula(aten.baddbmm)
def baddbmm(self: Shape, batch1: Shape, batch2: Shape, out: Sequence[Shape] = (), **_) -> Cost:
    madds = batch1[0] * batch1[1] * batch1[2] * batch2[2]
    return Cost(madds, 2 * madds + numel(out[0]))


@formula(*aten_packets("linear"))
def linear(input: Shape, weight: Shape, bias: Shape | None = None, out: Sequence[Shape] = (), **_) -> Cost:  # noqa: A002
    """Only seen when linear is not decomposed into addmm / mm."""
    madds = numel(out[0]) * weight[1]
    return Cost(madds, 2 * madds + (numel(out[0]) if bias is not None else 0))


@formula(*aten_packets("matmul"))
def matmul(self: Shape, other: Shape, out: Sequence[Shape] = (), **_) -> Cost:
    """Broadcast matmul: every output element is a length-k dot product."""
    k = self[-1]
    madds = max(numel(out[0]), 1) * k
    return Cost(madds, 2 * madds)


@formula(aten.mv)
def mv(self: Shape, vec: Shape, **_) -> Cost:
    madds = self[0] * self[1]  # (m, n) @ (n,)
    return Cost(madds, 2 * madds)


@formula(*aten_packets("dot", "vdot"))
def dot(self: Shape, **_) -> Cost:
    """(n,) . (n,); the second operand is `tensor` in dot, `other` in vdot."""
    madds = self[0]
    return Cost(madds, 2 * madds)


# Attention ------------------------------------------------------------------


def _attention_cost(q: Shape, k: Shape, v: Shape, masked: bool = False) -> Cost:
    """Q (..., L, E), K (..., S, E), V (..., S, Ev): scores Q K^T take L S E
    MAdds per batch-head, the weighted sum of V takes L S Ev. FLOPs add what
    PyTorch's reference (math) kernel -- the one every fused kernel is checked
    against, and the one traced on meta -- does besides: q and k each scaled
    by sqrt(scale) (L E + S E per batch-head), the mask added to the scores
    (1 per score, also for is_causal), the softmax (5 per score)."""
    batch = prod(q[:-2])
    length, emb, source, emb_v = q[-2], q[-1], k[-2], v[-1]
    madds = batch * length * source * (emb + emb_v)
    scores = batch * length * source
    scaling = batch * (length + source) * emb
    return Cost(madds, 2 * madds + scaling + scores * (SOFTMAX_FLOPS + (1 if masked else 0)))


@formula(
    *aten_packets(
        "scaled_dot_product_attention",
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_attention_math",
        "_scaled_dot_product_fused_attention_overrideable",
    )
)
def scaled_dot_product_attention(query: Shape, key: Shape, value: Shape, **args) -> Cost:
    """The mask is `attn_mask` or `attn_bias` depending on the kernel."""
    masked = bool(args.get("is_causal")) or args.get("attn_mask") is not None or args.get("attn_bias") is not None
    return _attention_cost(query, key, value, masked)


MHA_WEIGHTS_SCALING = 1  # need_weights: nn.MultiheadAttention scales q alone, 1 per q element


@formula(*aten_packets("_native_multi_head_attention"))
def native_multi_head_attention(
    query: Shape,
    key: Shape,
    value: Shape,
    embed_dim: int,
    num_head: int,
    qkv_bias: Shape | None = None,
    proj_bias: Shape | None = None,
    mask: Shape | None = None,
    need_weights: bool = True,
    average_attn_weights: bool = True,
    **_,
) -> Cost:
    """nn.MultiheadAttention's fused inference path: Q, K, V projections,
    attention over `num_head` heads of embed_dim / num_head, output projection.
    Inputs are (batch, length, embed_dim). Counted as the module's own
    (unfused) path: without weights that is scaled_dot_product_attention;
    with them q alone is scaled (L E), the mask is added, and averaging the
    weights over the heads is a mean (1 per score)."""
    batch, length, source = query[0], query[-2], key[-2]
    proj = batch * (length + 2 * source) * embed_dim * embed_dim + batch * length * embed_dim * embed_dim
    head = embed_dim // num_head
    heads = (batch, num_head)
    attn = _attention_cost((*heads, length, head), (*heads, source, head), (*heads, source, head), masked=mask is not None)
    extra = 0
    if need_weights:  # replace the sdpa scaling of q and k by that of q alone, add the mean over heads
        scores = batch * num_head * length * source
        extra = MHA_WEIGHTS_SCALING * batch * length * embed_dim - batch * (length + source) * embed_dim
        extra += scores if average_attn_weights else 0
    bias_adds = (batch * (length + 2 * source) * embed_dim if qkv_bias is not None else 0) + (batch * length * embed_dim if proj_bias is not None else 0)
    return Cost(proj + attn.madds, 2 * proj + attn.flops + extra + bias_adds)


# Recurrent layers ----------------------------------------------------------------

# Per hidden unit and time step of PyTorch's reference LSTM cell (what meta
# traces, op by op): add the two gate pre-activations (4), three sigmoids
# (3 x 4), tanh of the cell gate (1), f * c, i * g and their sum (3), tanh(c)
# and o * tanh(c) (2).
LSTM_CELL_FLOPS = 22
LSTM_BIAS_FLOPS = 8  # b_ih and b_hh, 4 gates each (the bias adds of the two addmm)
_MKLDNN_LSTM = 2  # mkldnn_rnn_layer's `mode` for LSTM (ideep's lstm)


@formula(*aten_packets("mkldnn_rnn_layer"))
def mkldnn_rnn_layer(input: Shape, weight0: Shape, weight1: Shape, mode: int, hidden_size: int, has_biases: bool, **_) -> Cost | None:  # noqa: A002
    """oneDNN's LSTM layer (one direction, all time steps) on CPU, counted as
    the reference cell meta records per step: every row of the input (time
    step x batch) takes x W_ih^T and h W_hh^T, 4H x (I + H) MAdds (weight0 is
    W_ih (4H, I), weight1 W_hh (4H, H)), then the gate arithmetic. Only LSTM
    runs on this kernel; another mode is left uncounted."""
    if mode != _MKLDNN_LSTM:
        return None
    rows = numel(input) // weight0[1]
    madds = rows * weight0[0] * (weight0[1] + weight1[1])
    per_unit = LSTM_CELL_FLOPS + (LSTM_BIAS_FLOPS if has_biases else 0)
    return Cost(madds, 2 * madds + rows * hidden_size * per_unit)
