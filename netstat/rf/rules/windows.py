"""Rules for windowed ops, which read a range of input units per output unit:
convolution, transposed convolution, pooling, adaptive pooling, upsampling,
max_unpool and pixel (un)shuffle.

Convolution and pooling (kernel k, stride s, padding p, dilation d,
``k' = d(k-1) + 1``) read ``o s - p .. o s - p + k' - 1`` (`window_reads`):
``r' = r + (k'-1) j``, ``j' = s j``, ``c' = c + ((k'-1)/2 - p) j``;
``ceil_mode`` only changes how many units exist. The stack calculator uses
the same `window_reads`.

The others read with a fractional step, so the linear model takes the mean
width and centre over one period of the exact reads (`sampled`), which are
PyTorch's sampling formulas (``align_corners=False`` maps output o to
``x = (o + 1/2)/f - 1/2``):

- nearest: ``floor(o/f)``; nearest-exact: ``floor((o + 1/2)/f)``. By an
  integer f: ``r' = r``, ``j' = j/f``, ``c' = c - (f-1)/(2f) j``, slack
  ``(f-1)/(2f) j``.
- bilinear / linear / trilinear: ``floor(x) .. ceil(x)``; with
  ``align_corners=True``, ``x = o (n_in-1)/(n_out-1)``. By 2: ``r' = r + j``,
  ``j' = j/2``, ``c' = c - j/4``, slack ``j/4``.
- bicubic: ``floor(x) - 1 .. floor(x) + 2`` (only ``x`` when x is whole).
- transposed conv: output o receives input i when ``o = i s - p + d t``:
  ``ceil((o + p - k' + 1)/s) .. floor((o + p)/s)``. Kernel 4, stride 2,
  padding 1: ``r' = r + j``, ``j' = j/2``, ``c' = c - j/4``, slack ``j/4``.
- adaptive pooling: ``floor(o n_in/n_out) .. ceil((o+1) n_in/n_out) - 1``;
  exact (a pool with kernel = stride = n_in/n_out) when n_out divides n_in;
  to size 1 it is global.
- max_unpool: where a value lands depends on the data; it is read as nearest
  upsampling to the output size (its RF is the pooled unit's).
- pixel_shuffle(f): ``floor(o/f)``, as nearest upsampling by f;
  pixel_unshuffle(f) reads ``o f .. o f + f - 1``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import partial
from typing import TYPE_CHECKING, Any

from netstat import ops
from netstat.rf.model import Reads, TensorRF, affine, sampled
from netstat.rf.rules.table import as_list, rule, spatial_count
from netstat.rf.window import window_reads

if TYPE_CHECKING:
    from netstat.rf.propagate import Propagator
    from netstat.trace import OpRecord


def transposed_reads(span: int, s: int, pad: int) -> Reads:
    """Output o of a transposed conv receives input i when o = i*s - pad + t*d
    (span = d*(k - 1))."""
    if s == 1:
        return affine(1, pad - span, pad)
    return sampled(Fraction(1, s), partial(_transposed_window, span, s, pad))


def _transposed_window(span: int, s: int, pad: int, o: int) -> tuple[int, int]:
    return -((span - o - pad) // s), (o + pad) // s


# conv, transposed conv ------------------------------------------------------------


@rule(*ops.names("conv"))
def _conv(p: Propagator, op: OpRecord) -> list:
    a = p.bound(op)
    x = a.get("input", a.get("self"))
    st = p.state(x)
    if st is None:  # e.g. the weight depends on the input (dynamic filters)
        return p.fallback(op)
    w = a["weight"]
    kernel = w.shape[2:]
    n = len(kernel)
    stride = as_list(a.get("stride"), n, 1)
    padding = as_list(a.get("padding"), n, 0)
    dilation = as_list(a.get("dilation"), n, 1)
    rank = len(x.shape)
    reads = {}
    for i in range(n):
        if a.get("transposed"):
            reads[rank - n + i] = transposed_reads(dilation[i] * (kernel[i] - 1), stride[i], padding[i])
        else:
            reads[rank - n + i] = window_reads(kernel[i], stride[i], padding[i], dilation[i])
    out = p.apply(st, reads, x.shape)
    if p.state(w) is not None:  # weights computed from the input
        out = p.combine(op, [(out, out.dims), (p.global_state([p.state(w)], rank), (None,) * rank)], rank)
    return [out]


# pooling -------------------------------------------------------------------------


@rule(
    "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
    "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d", "avg_pool3d", "_max_pool2d", "quantized_max_pool1d", "quantized_max_pool2d", "quantized_max_pool3d",
    "mkldnn_max_pool2d", "lp_pool2d",
)
def _pool(p: Propagator, op: OpRecord) -> list:
    a = p.bound(op)
    x = a.get("self", a.get("input"))
    st = p.state(x)
    kernel = a["kernel_size"]
    n = spatial_count(op.packet.__name__, len(kernel) if isinstance(kernel, (list, tuple)) else 2)
    kernel = as_list(kernel, n)
    stride = as_list(a.get("stride"), n, kernel)
    padding = as_list(a.get("padding"), n, 0)
    dilation = as_list(a.get("dilation"), n, 1)
    rank = len(x.shape)
    reads = {rank - n + i: window_reads(kernel[i], stride[i], padding[i], dilation[i]) for i in range(n)}
    out = p.apply(st, reads, x.shape)
    return [out for _ in op.outputs]


def _adaptive_window(n_in: int, n_out: int, o: int) -> tuple[int, int]:
    return (o * n_in) // n_out, -((-(o + 1) * n_in) // n_out) - 1


@rule(
    "_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "_adaptive_avg_pool1d",
)
def _adaptive_pool(p: Propagator, op: OpRecord) -> list:
    x = op.args[0]
    st = p.state(x)
    y = op.outputs[0]
    rank = len(x.shape)
    n = spatial_count(op.packet.__name__, rank - 2)
    reads, full = {}, set()
    for d in range(rank - n, rank):
        n_in, n_out = x.shape[d], y.shape[d]
        if st.dims[d] is None or n_in == n_out:
            continue
        if n_out == 1:
            full.add(st.dims[d])
        elif n_in % n_out == 0:
            k = n_in // n_out
            reads[d] = affine(k, 0, k - 1)
        else:
            reads[d] = sampled(Fraction(n_in, n_out), partial(_adaptive_window, n_in, n_out))
    out = p.apply(st, reads, x.shape)
    if full:
        out = p.make_global(out, full, tuple(None if a in full else a for a in out.dims), x.shape)
    return [out for _ in op.outputs]


# upsampling ---------------------------------------------------------------------------

_HALF = Fraction(1, 2)


def _source(s: Fraction, align: bool, o: int) -> Fraction:
    """The input coordinate output unit o samples (PyTorch's mapping)."""
    return o * s if align else (o + _HALF) * s - _HALF


def _nearest(s: Fraction, align: bool, o: int) -> tuple[int, int]:
    return (math.floor(o * s),) * 2


def _nearest_exact(s: Fraction, align: bool, o: int) -> tuple[int, int]:
    return (math.floor((o + _HALF) * s),) * 2


def _linear(s: Fraction, align: bool, o: int) -> tuple[int, int]:
    x = _source(s, align, o)
    return math.floor(x), math.ceil(x)


def _cubic(s: Fraction, align: bool, o: int) -> tuple[int, int]:
    x = _source(s, align, o)
    f = math.floor(x)
    return (f, f) if x == f else (f - 1, f + 2)


_SAMPLERS = {"nearest": _nearest, "nearest_exact": _nearest_exact, "linear": _linear, "cubic": _cubic}


def _upsample_kind(name: str) -> str:
    if "exact" in name:
        return "nearest_exact"
    if "nearest" in name:
        return "nearest"
    return "cubic" if "cubic" in name else "linear"


def _scale_for(n_in: int, n_out: int, scale: Any, align_corners: bool | None) -> Fraction:
    """Input units per output unit, as PyTorch computes it."""
    if align_corners:
        return Fraction(n_in - 1, n_out - 1) if n_out > 1 else Fraction(0)
    if scale is not None and scale > 0:
        return 1 / Fraction(scale).limit_denominator(10_000)
    return Fraction(n_in, n_out)


def _scale_factors(a: dict[str, Any], n: int) -> list:
    """The n per-dim scale factors an upsample op was given (None: from the sizes)."""
    factors = a.get("scale_factors")
    if factors is None:
        factors = [a.get(k) for k in ("scales_d", "scales_h", "scales_w", "scales")[-n - 1 :] if k in a]
        factors = [f for f in factors if f is not None] or None
        if factors is None or len(factors) != n:
            keys = {1: ["scales"], 2: ["scales_h", "scales_w"], 3: ["scales_d", "scales_h", "scales_w"]}[n]
            factors = [a.get(k) for k in keys]
    return as_list(factors, n, None) if factors is not None else [None] * n


@rule(
    "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "_upsample_nearest_exact1d",
    "_upsample_nearest_exact2d", "_upsample_nearest_exact3d", "upsample_linear1d", "upsample_bilinear2d",
    "upsample_trilinear3d", "upsample_bicubic2d",
)
def _upsample(p: Propagator, op: OpRecord) -> list:
    name = op.packet.__name__
    a = p.bound(op)
    x = a.get("self", a.get("input"))
    st = p.state(x)
    y = op.outputs[0]
    rank = len(x.shape)
    n = spatial_count(name, rank - 2)
    kind = _upsample_kind(name)
    align = bool(a.get("align_corners")) if kind in ("linear", "cubic") else False
    factors = _scale_factors(a, n)
    reads = {}
    for i in range(n):
        d = rank - n + i
        s = _scale_for(x.shape[d], y.shape[d], factors[i] if i < len(factors) else None, align)
        if s == 1 and not align:
            continue
        reads[d] = sampled(s, partial(_SAMPLERS[kind], s, align))
    return [p.apply(st, reads, x.shape)]


@rule("max_unpool2d", "max_unpool3d")
def _unpool(p: Propagator, op: OpRecord) -> list:
    x = op.args[0]
    st = p.state(x)
    y = op.outputs[0]
    rank = len(x.shape)
    n = spatial_count(op.packet.__name__, 2)
    reads = {}
    for d in range(rank - n, rank):
        s = Fraction(x.shape[d], y.shape[d])
        reads[d] = sampled(s, partial(_nearest, s, False))
    return [p.apply(st, reads, x.shape)]


@rule("pixel_shuffle")
def _pixel_shuffle(p: Propagator, op: OpRecord) -> list:
    x, f = op.args[0], op.args[1]
    st = p.state(x)
    rank = len(x.shape)
    s = Fraction(1, f)
    rd = sampled(s, partial(_nearest, s, False))
    dims = st.dims[:-3] + (None,) + st.dims[-2:]
    return [p.apply(TensorRF(dims, st.axes, st.misaligned), {rank - 2: rd, rank - 1: rd}, x.shape)]


@rule("pixel_unshuffle")
def _pixel_unshuffle(p: Propagator, op: OpRecord) -> list:
    x, f = op.args[0], op.args[1]
    st = p.state(x)
    rank = len(x.shape)
    rd = affine(f, 0, f - 1)
    dims = st.dims[:-3] + (None,) + st.dims[-2:]
    return [p.apply(TensorRF(dims, st.axes, st.misaligned), {rank - 2: rd, rank - 1: rd}, x.shape)]
