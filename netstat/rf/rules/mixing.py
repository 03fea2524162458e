"""Rules for ops that mix units: reductions over a spatial dim (mean, sum,
amax, ...), softmax / cumsum / sort along one, attention, matmuls contracting
one (each makes that axis global), indexing with data-dependent indices, and
the several-input ops cat and stack (the union of their inputs' RFs)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netstat import ops
from netstat.rf.model import AxisRF, TensorRF
from netstat.rf.rules.table import base_name, norm_dim, rule
from netstat.trace import TensorRef

if TYPE_CHECKING:
    from netstat.rf.propagate import Propagator
    from netstat.trace import OpRecord


# reductions and ops that mix along a dim ------------------------------------------------------


@rule(*ops.names("reduction"), "all", "any", "argmax", "argmin")
def _reduce(p: Propagator, op: OpRecord) -> list:
    a = p.bound(op)
    x = a.get("self", a.get("input"))
    st = p.state(x)
    if st is None:
        return p.fallback(op)
    rank = len(x.shape)
    if len(op.args) > 1 and isinstance(op.args[1], TensorRef):  # the binary maximum / minimum
        return [p.pointwise(op, op.outputs[0].shape)]
    dims = a.get("dim")
    if dims is None or (isinstance(dims, (list, tuple)) and not dims):  # every dim
        reduced = set(range(rank))
    else:
        reduced = {norm_dim(d, rank) for d in (dims if isinstance(dims, (list, tuple)) else [dims])}
    keep = bool(a.get("keepdim"))
    full = {st.dims[d] for d in reduced if st.dims[d] is not None}
    outs = []
    for ref in op.outputs:
        if len(ref.shape) == rank:
            new_dims = tuple(None if d in reduced else a_ for d, a_ in enumerate(st.dims))
        elif keep is False and len(ref.shape) == rank - len(reduced):
            new_dims = tuple(a_ for d, a_ in enumerate(st.dims) if d not in reduced)
        else:
            new_dims = (None,) * len(ref.shape)
        outs.append(p.make_global(st, full, new_dims, x.shape) if full else TensorRF(new_dims, st.axes, st.misaligned))
    return outs


@rule(
    "_softmax", "_log_softmax", "softmax", "log_softmax", "cumsum", "cumprod", "logcumsumexp", "cummax", "cummin",
    "sort", "argsort", "_safe_softmax", "special_softmax", "topk",
)
def _mix_along(p: Propagator, op: OpRecord) -> list:
    a = p.bound(op)
    x = a.get("self", a.get("input"))
    st = p.state(x)
    rank = len(x.shape)
    d = a.get("dim")
    d = rank - 1 if d is None else norm_dim(d, rank)
    outs = []
    for ref in op.outputs:
        if ref.shape != x.shape and op.packet.__name__ != "topk":
            outs.append(None)
            continue
        a_ = st.dims[d]
        if a_ is None:
            outs.append(st)
        else:
            dims = tuple(None if k == d else v for k, v in enumerate(st.dims))
            outs.append(p.make_global(st, {a_}, dims, x.shape))
    return outs


@rule(*ops.names("attention"))
def _attention(p: Propagator, op: OpRecord) -> list:
    """Each query attends over every key: the sequence dim goes global."""
    tensors = [r for r in op.inputs if p.state(r) is not None]
    sources = [p.state(r) for r in tensors]
    full = {st.dims[-2] for st in sources if len(st.dims) >= 2 and st.dims[-2] is not None}
    q = op.args[0]
    outs = []
    for ref in op.outputs:
        if ref.shape == q.shape and p.state(q) is not None:
            st = p.state(q)
            dims = st.dims[:-2] + (None, st.dims[-1])
            merged = p.combine(op, [(s, (None,) * len(ref.shape)) for s in sources], len(ref.shape))
            axes = tuple(
                AxisRF(None, None, None, 0, True, merged.axes[a].reach) if (a in full or merged.axes[a].whole) else ax
                for a, ax in enumerate(st.axes)
            )
            outs.append(TensorRF(dims, axes, merged.misaligned))
        else:
            outs.append(None)
    return outs


# several inputs -------------------------------------------------------------------------


@rule("cat", "concat", "concatenate", "_cat")
def _cat(p: Propagator, op: OpRecord) -> list:
    a = p.bound(op)
    tensors = a["tensors"]
    y = op.outputs[0]
    rank = len(y.shape)
    d = norm_dim(a.get("dim") or 0, rank)
    parts, flag = [], None
    for ref in tensors:
        st = p.state(ref)
        if st is None or len(ref.shape) != rank:
            continue
        if st.dims[d] is not None:
            flag = "cat along a spatial dim"
        parts.append((st, st.dims))
    return [p.combine(op, parts, rank, flag)]


@rule("stack")
def _stack(p: Propagator, op: OpRecord) -> list:
    a = p.bound(op)
    tensors = a["tensors"]
    y = op.outputs[0]
    rank = len(y.shape)
    d = norm_dim(a.get("dim") or 0, rank)
    parts = []
    for ref in tensors:
        st = p.state(ref)
        if st is not None:
            parts.append((st, st.dims[:d] + (None,) + st.dims[d:]))
    return [p.combine(op, parts, rank)]


# The two multiplied operands of each matmul op, by schema name (an in-place
# variant has its op's). Vector operands (mv, dot, addmv) take the fallback.
_MATMUL_OPERANDS = {
    "mm": ("self", "mat2"), "bmm": ("self", "mat2"), "matmul": ("self", "other"), "dot": ("self", "tensor"), "vdot": ("self", "other"),
    "mv": ("self", "vec"), "addmv": ("mat", "vec"), "addmm": ("mat1", "mat2"), "_addmm_activation": ("mat1", "mat2"),
    "baddbmm": ("batch1", "batch2"), "addbmm": ("batch1", "batch2"),
}
# Ops whose `self` is a term added to the product (their in-place forms are not listed).
_ADDED_TERM = ("addmm", "baddbmm", "addbmm", "addmv", "_addmm_activation")


@rule(*_MATMUL_OPERANDS)
def _matmul(p: Propagator, op: OpRecord) -> list:
    """out[..., n, q] = sum_m A[..., n, m] B[..., m, q]: the contracted dim goes global."""
    name = op.packet.__name__
    a = p.bound(op)
    A, B = (a.get(key) for key in _MATMUL_OPERANDS[base_name(name)])
    y = op.outputs[0]
    rank = len(y.shape)
    if not isinstance(A, TensorRef) or not isinstance(B, TensorRef) or len(A.shape) < 2 or len(B.shape) < 2:
        return p.fallback(op)
    parts = []
    for ref, contracted, kept, keep_pos in ((A, -1, -2, rank - 2), (B, -2, -1, rank - 1)):
        st = p.state(ref)
        if st is None:
            continue
        c_axis = st.dims[contracted]
        if c_axis is not None:
            st = p.make_global(st, {c_axis}, st.dims, ref.shape)
        batch = st.dims[:-2]
        dims = [None] * (rank - 2 - len(batch)) + list(batch) + [None, None]
        dims[keep_pos] = st.dims[kept]
        parts.append((st, tuple(dims)))
    extra = a.get("self") if name in _ADDED_TERM else None
    if isinstance(extra, TensorRef) and p.state(extra) is not None:
        st = p.state(extra)
        off = rank - len(extra.shape)
        parts.append((st, (None,) * off + tuple(v if n == y.shape[off + i] else None for i, (v, n) in enumerate(zip(st.dims, extra.shape)))))
    return [p.combine(op, parts, rank)]


@rule("linear")
def _linear(p: Propagator, op: OpRecord) -> list:
    """y[..., o] = sum_i x[..., i] W[o, i] + b[o]: x's last dim is contracted
    (global along it when it is spatial); the others pass through."""
    x = op.args[0]
    st = p.state(x)
    if st is None or not isinstance(x, TensorRef) or not x.shape:
        return p.fallback(op)
    if st.dims[-1] is not None:
        st = p.make_global(st, {st.dims[-1]}, st.dims, x.shape)
    return [p.combine(op, [(st, tuple(st.dims[:-1]) + (None,))], len(op.outputs[0].shape))]


@rule("index_select", "gather", "index", "take_along_dim", "embedding")
def _index(p: Propagator, op: OpRecord) -> list:
    """Indexing along channels passes through; along a spatial dim it is data-dependent: global."""
    name = op.packet.__name__
    x = op.args[0]
    st = p.state(x)
    if st is None:
        return p.fallback(op)
    rank = len(x.shape)
    if name == "index":
        indices = op.args[1]
        indexed = [d for d, idx in enumerate(indices) if idx is not None]
        if len(op.outputs[0].shape) != rank:
            return [p.global_state([st], len(op.outputs[0].shape))]
    elif name == "embedding":
        return [p.global_state([st], len(op.outputs[0].shape))]
    else:
        indexed = [norm_dim(op.args[1], rank)]
    full = {st.dims[d] for d in indexed if d < rank and st.dims[d] is not None}
    if not full:
        return [st]
    p.note(f"{p.label(op)} indexes a spatial dim with data-dependent indices; treated as global.")
    return [p.make_global(st, full, tuple(None if d in indexed else a_ for d, a_ in enumerate(st.dims)), x.shape)]
