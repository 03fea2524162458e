"""Rules for ops that move units without mixing them: padding, slicing,
selecting, splitting, flips and rolls (each reads ``o*step + offset``), views
and permutes (the spatial dims move with the data; merging one with other
dims makes it global), normalisations (their statistics are per-channel
constants, as in eval-mode BN), identities, and values that do not depend on
the input's values.

Padding ops (``F.pad``, reflection, replication) read ``o - left``: they
shift the centre by ``-left j``; a slice ``start:end:step`` reads
``start + o*step`` (a crop shifts the centre by ``+start j``); ``select``
keeps one unit; ``flip`` makes ``j`` negative.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from netstat import ops
from netstat.rf.model import TensorRF, affine, globalised
from netstat.rf.rules.table import as_list, norm_dim, rule
from netstat.trace import TensorRef

if TYPE_CHECKING:
    from netstat.rf.propagate import Propagator
    from netstat.trace import OpRecord


# padding, slicing, selecting -------------------------------------------------------


@rule(
    "constant_pad_nd", "reflection_pad1d", "reflection_pad2d", "reflection_pad3d", "replication_pad1d",
    "replication_pad2d", "replication_pad3d", "_pad_circular", "_pad_enum", "pad", "circular_pad2d",
)
def _pad(p: Propagator, op: OpRecord) -> list:
    x, pads = op.args[0], op.args[1]
    st = p.state(x)
    rank = len(x.shape)
    reads = {}
    for i in range(0, len(pads), 2):
        d = rank - 1 - i // 2
        left = pads[i]
        if left:
            reads[d] = affine(1, -left, -left)
    return [p.apply(st, reads, x.shape)]


@rule("slice")
def _slice(p: Propagator, op: OpRecord) -> list:
    a = p.bound(op)
    x = a["self"]
    st = p.state(x)
    rank = len(x.shape)
    d = norm_dim(a.get("dim") or 0, rank)
    if st.dims[d] is None:
        return [st]
    n = x.shape[d]
    start = a.get("start")
    start = 0 if start is None else start
    if start < 0:
        start += n
    start = min(max(start, 0), n)
    step = a.get("step") or 1
    if start == 0 and step == 1:
        return [st]
    return [p.apply(st, {d: affine(step, start, start)}, x.shape)]


@rule("select")
def _select(p: Propagator, op: OpRecord) -> list:
    x, d, index = op.args[0], op.args[1], op.args[2]
    st = p.state(x)
    rank = len(x.shape)
    d = norm_dim(d, rank)
    if index < 0:
        index += x.shape[d]
    reads = {d: affine(1, index, index)} if index else {}
    return [p.apply(st, reads, x.shape, drop=(d,))]


@rule("unbind")
def _unbind(p: Propagator, op: OpRecord) -> list:
    a = p.bound(op)
    x = a["self"]
    st = p.state(x)
    d = norm_dim(a.get("dim") or 0, len(x.shape))
    return [p.apply(st, {d: affine(1, k, k)} if k else {}, x.shape, drop=(d,)) for k in range(len(op.outputs))]


@rule("split", "split_with_sizes", "unsafe_split", "unsafe_split_with_sizes", "chunk", "tensor_split", "unsafe_chunk")
def _split(p: Propagator, op: OpRecord) -> list:
    a = p.bound(op)
    x = a["self"]
    st = p.state(x)
    d = norm_dim(a.get("dim") or 0, len(x.shape))
    if st.dims[d] is None:
        return [st] * len(op.outputs)
    outs, offset = [], 0
    for ref in op.outputs:
        outs.append(p.apply(st, {d: affine(1, offset, offset)}, x.shape) if offset else st)
        offset += ref.shape[d]
    return outs


@rule("narrow")
def _narrow(p: Propagator, op: OpRecord) -> list:
    x, d, start = op.args[0], op.args[1], op.args[2]
    st = p.state(x)
    d = norm_dim(d, len(x.shape))
    if isinstance(start, TensorRef) or not start:
        return [st]
    return [p.apply(st, {d: affine(1, start, start)}, x.shape)]


@rule("flip")
def _flip(p: Propagator, op: OpRecord) -> list:
    x, dims = op.args[0], op.args[1]
    st = p.state(x)
    rank = len(x.shape)
    reads = {}
    for d in dims:
        d = norm_dim(d, rank)
        reads[d] = affine(-1, x.shape[d] - 1, x.shape[d] - 1)
    return [p.apply(st, reads, x.shape)]


@rule("roll")
def _roll(p: Propagator, op: OpRecord) -> list:
    a = p.bound(op)
    x = a["self"]
    st = p.state(x)
    rank = len(x.shape)
    shifts = as_list(a.get("shifts"), 1)
    dims = a.get("dims") or []
    if not dims:  # a roll of the flattened tensor
        return [p.global_state([st], rank)]
    reads = {}
    for shift, d in zip(shifts, dims):
        d = norm_dim(d, rank)
        if st.dims[d] is not None and shift % x.shape[d]:
            p.note(f"{p.label(op)} rolls a spatial dim: units near the border wrap around to the other side.")
            reads[d] = affine(1, -shift, -shift)
    return [p.apply(st, reads, x.shape)]


# layout: views, permutes ------------------------------------------------------------


def _matched_dims(in_shape: tuple, out_shape: tuple) -> Iterator[tuple[list, list]]:
    """The groups of non-1 input and output dims a view maps onto each other
    (equal products); what cannot be matched ends in one last group."""
    ins = [i for i, s in enumerate(in_shape) if s != 1]
    outs = [o for o, s in enumerate(out_shape) if s != 1]
    i = o = 0
    while i < len(ins) or o < len(outs):
        gi, go = [ins[i]] if i < len(ins) else [], [outs[o]] if o < len(outs) else []
        i, o = i + len(gi), o + len(go)
        pi = in_shape[gi[0]] if gi else 1
        po = out_shape[go[0]] if go else 1
        while pi != po:
            if pi < po and i < len(ins):
                gi.append(ins[i])
                pi *= in_shape[ins[i]]
                i += 1
            elif po < pi and o < len(outs):
                go.append(outs[o])
                po *= out_shape[outs[o]]
                o += 1
            else:  # cannot match: treat everything left as merged
                gi += ins[i:]
                go += outs[o:]
                i, o = len(ins), len(outs)
                break
        yield gi, go


def _reshape(st: TensorRF, in_shape: tuple, out_shape: tuple) -> TensorRF:
    """Spatial dims kept whole keep their axis; merged or split ones go global."""
    dims: list = [None] * len(out_shape)
    full: set = set()
    for gi, go in _matched_dims(in_shape, out_shape):
        mapped = [st.dims[k] for k in gi if st.dims[k] is not None]
        if not mapped:
            continue
        if len(gi) == 1 and len(go) == 1:
            dims[go[0]] = mapped[0]
        else:
            full.update(mapped)
    if not full:
        return TensorRF(tuple(dims), st.axes, st.misaligned)
    where = {a: d for d, a in enumerate(st.dims) if a is not None}
    axes = tuple(globalised(ax, in_shape[where[a]] if a in where else 1) if a in full else ax for a, ax in enumerate(st.axes))
    return TensorRF(tuple(dims), axes, st.misaligned)


@rule("view", "_unsafe_view", "reshape", "_reshape_alias", "view_copy", "_reshape_copy", "unflatten", "flatten", "_reshape_alias_copy", "unsafe_view")
def _view(p: Propagator, op: OpRecord) -> list:
    x = op.args[0]
    st = p.state(x)
    y = op.outputs[0]
    if x.shape == y.shape:
        return [st]
    return [_reshape(st, x.shape, y.shape)]


@rule("squeeze", "squeeze_copy")
def _squeeze(p: Propagator, op: OpRecord) -> list:
    x = op.args[0]
    st = p.state(x)
    rank = len(x.shape)
    if len(op.args) > 1:
        wanted = op.args[1]
        wanted = {norm_dim(d, rank) for d in (wanted if isinstance(wanted, (list, tuple)) else [wanted])}
    else:
        wanted = set(range(rank))
    drop = tuple(d for d in range(rank) if d in wanted and x.shape[d] == 1)
    return [TensorRF(tuple(a for d, a in enumerate(st.dims) if d not in drop), st.axes, st.misaligned)]


@rule("unsqueeze", "unsqueeze_copy")
def _unsqueeze(p: Propagator, op: OpRecord) -> list:
    x, d = op.args[0], op.args[1]
    st = p.state(x)
    d = d + len(x.shape) + 1 if d < 0 else d
    dims = st.dims[:d] + (None,) + st.dims[d:]
    return [TensorRF(dims, st.axes, st.misaligned)]


@rule("permute", "permute_copy")
def _permute(p: Propagator, op: OpRecord) -> list:
    x, order = op.args[0], op.args[1]
    st = p.state(x)
    rank = len(x.shape)
    return [TensorRF(tuple(st.dims[norm_dim(d, rank)] for d in order), st.axes, st.misaligned)]


@rule("transpose", "transpose_copy", "swapaxes", "swapdims")
def _transpose(p: Propagator, op: OpRecord) -> list:
    x, d0, d1 = op.args[0], op.args[1], op.args[2]
    st = p.state(x)
    rank = len(x.shape)
    dims = list(st.dims)
    d0, d1 = norm_dim(d0, rank), norm_dim(d1, rank)
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return [TensorRF(tuple(dims), st.axes, st.misaligned)]


@rule("t", "t_copy")
def _t(p: Propagator, op: OpRecord) -> list:
    st = p.state(op.args[0])
    return [TensorRF(tuple(reversed(st.dims)), st.axes, st.misaligned)]


@rule("expand", "expand_copy", "broadcast_to", "expand_as")
def _expand(p: Propagator, op: OpRecord) -> list:
    x = op.args[0]
    st = p.state(x)
    y = op.outputs[0]
    off = len(y.shape) - len(x.shape)
    dims = (None,) * off + tuple(
        None if (n == 1 and y.shape[off + i] != 1) else a for i, (a, n) in enumerate(zip(st.dims, x.shape))
    )
    return [TensorRF(dims, st.axes, st.misaligned)]


@rule(
    "alias", "detach", "clone", "contiguous", "_to_copy", "lift_fresh_copy", "lift_fresh", "_conj", "conj", "_neg_view", "positive",
    "resolve_conj", "resolve_neg", "dropout", "feature_dropout", "alpha_dropout",
)
def _identity(p: Propagator, op: OpRecord) -> list:
    st = p.state(op.args[0])
    return [st if ref.shape == op.args[0].shape else None for ref in op.outputs]


# normalisation: statistics as per-channel constants --------------------------------------


@rule(*ops.names("norm"), "native_dropout")
def _norm(p: Propagator, op: OpRecord) -> list:
    x = op.args[0]
    st = p.state(x)
    if st is None:
        return p.fallback(op)
    return [st if ref.shape == x.shape else None for ref in op.outputs]


# values that do not depend on the input's values -------------------------------------------


@rule(*ops.names("creation"))
def _constant(p: Propagator, op: OpRecord) -> list:
    return [None] * len(op.outputs)


@rule("copy")
def _copy(p: Propagator, op: OpRecord) -> list:
    dst, src = op.args[0], op.args[1]
    st = p.state(src)
    if st is None:
        return [None]
    off = len(dst.shape) - len(src.shape)
    dims = (None,) * off + tuple(a if n == dst.shape[off + i] else None for i, (a, n) in enumerate(zip(st.dims, src.shape)))
    return [TensorRF(dims, st.axes, st.misaligned)]
