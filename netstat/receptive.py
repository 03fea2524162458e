"""Receptive fields, exact on the traced dataflow graph (DESIGN §4).

The model
---------
Every tensor that depends on the model input carries, for each spatial axis
of the input (H and W separately), the linear model of Araujo, Norris & Sim,
"Computing Receptive Fields of Convolutional Neural Networks" (Distill 2019):
unit ``o`` of the tensor along that axis sees the input pixels

    [c + o*j - (r-1)/2,  c + o*j + (r-1)/2]

with ``r`` the RF size, ``j`` the jump (effective stride) and ``c`` the centre
of unit 0 in input pixel indices (the effective padding is ``(r-1)/2 - c``).
Values are exact rationals (`fractions.Fraction`); they are ints when whole.

Transfer rules (the table `RULES`, keyed by aten op packet)
------------------------------------------------------------
A spatial op is described per axis by the input units that output unit ``o``
reads, ``lo(o) .. hi(o)`` (`Reads`):

* Affine reads, ``lo(o) = lo0 + o*s``, ``hi(o) = hi0 + o*s`` (exact):
  ``r' = r + (hi0 - lo0) j``, ``j' = s j``, ``c' = c + (lo0 + hi0)/2 j``.
  Convolution and pooling (kernel k, stride s, padding p, dilation d,
  ``k' = d(k-1) + 1``): ``lo0 = -p``, ``hi0 = -p + k' - 1``, so
  ``r' = r + (k'-1) j``, ``c' = c + ((k'-1)/2 - p) j``; ``ceil_mode`` only
  changes how many units exist. Padding ops (``F.pad``, reflection,
  replication) read ``o - left``: they shift the centre by ``-left j``; a
  slice ``start:end:step`` reads ``start + o*step`` (a crop shifts the centre
  by ``+start j``); ``select`` keeps one unit; ``flip`` makes ``j`` negative;
  ``pixel_unshuffle(f)`` reads ``o f .. o f + f - 1``.
* Reads that are not affine have a fractional step: upsampling by ``f``
  (step ``1/f``), transposed convolution with stride ``s`` (step ``1/s``),
  adaptive pooling with uneven windows (step ``n_in/n_out``), max_unpool and
  pixel_shuffle. The rule chosen: the linear model takes the *mean* width and
  the *mean* centre of the units' exact reads over one period of the pattern,
  so r, j and c are exact on average, and every unit's true edges lie within
  ``slack`` input pixels of the model's (reported; 0 for exact rules). The
  exact reads are PyTorch's sampling formulas (``align_corners=False`` uses
  the pixel-centre mapping ``x = (o + 1/2)/f - 1/2``):

  - nearest: ``floor(o/f)``; nearest-exact: ``floor((o + 1/2)/f)``. Upsampling
    by an integer f gives ``r' = r``, ``j' = j/f``, ``c' = c - (f-1)/(2f) j``,
    ``slack = (f-1)/(2f) j``.
  - bilinear / linear / trilinear: ``floor(x) .. ceil(x)``; with
    ``align_corners=True``, ``x = o (n_in-1)/(n_out-1)``. By 2:
    ``r' = r + j``, ``j' = j/2``, ``c' = c - j/4``, ``slack = j/4``.
  - bicubic: ``floor(x) - 1 .. floor(x) + 2`` (only ``x`` when x is whole).
  - transposed conv: output o receives input i when ``o = i s - p + d t``:
    ``ceil((o + p - k' + 1)/s) .. floor((o + p)/s)``. Kernel 4, stride 2,
    padding 1: ``r' = r + j``, ``j' = j/2``, ``c' = c - j/4``, ``slack = j/4``.
  - adaptive pooling: ``floor(o n_in/n_out) .. ceil((o+1) n_in/n_out) - 1``;
    exact (a pool with kernel = stride = n_in/n_out) when n_out divides n_in.
  - max_unpool: where a value lands depends on the data; it is read as
    nearest upsampling to the output size (its RF is the pooled unit's).
  - pixel_shuffle(f): ``floor(o/f)``, as nearest upsampling by f.
* Global (``r = None``, "covers the whole input"): reductions over a spatial
  dim (mean, sum, amax, ...), softmax / cumsum / sort along one, adaptive
  pooling to size 1, a matmul contracting a spatial dim, and views that merge
  a spatial dim with other dims (flatten before a linear layer).
* Pass through: element-wise ops, activations, normalisations (their
  statistics are treated as per-channel constants, as in eval-mode BN), and
  channel ops: cat / split / slice / index_select on channels, and views or
  permutes that leave the spatial dims whole (channel shuffle's
  ``(N, g, C/g, H, W)``); views and permutes move the spatial dims with the
  data.
* Several inputs (add, mul, where, cat, stack, matmul): per axis, the union
  of what the inputs see. When the inputs agree on the jump, the union is
  exact: equal centres keep the largest r; different centres give their hull,
  and the op is reported as *misaligned* by name. When the jumps differ the
  input with the largest r is kept and the op is reported as misaligned.
  Misalignment is inherited: every tensor downstream lists it.
* An op with no rule: treated as element-wise when its output has the
  broadcast shape of its inputs, else as global; either way it is named in
  `RFResult.notes` (known element-wise ops are not).

* A global input multiplied into a local one (a squeeze-excitation gate) makes
  the output global; the axis keeps the local path's r, j and c beside that
  (shown as "global (local 75, stride 16)").

Each axis also carries its *reach*, the hull of the input pixels any unit can
see, and the range of units whose window holds any real input: strided layers
can skip the last pixels (Inception v3 at 96x96 never reads rows 93..95, and
says so in the notes), so a unit near the border sees ``interval ∩ reach``.

`analyze(trace)` works on an existing `netstat.trace.Trace` (e.g.
`Profile.trace`); `receptive_field(model_or_name)` traces first.
`RFResult.features` is the last spatial feature map (the RF to compare models
by); `stack()` is the calculator for plain and dilated stacks (no model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from fractions import Fraction
from typing import Any, Callable, Sequence

from netstat.trace import OpRecord, TensorRef, Trace

SCHEMA_VERSION = "1.0"


def _n(x):
    """A Fraction that is whole becomes an int (cheaper, prints cleanly)."""
    if type(x) is Fraction and x.denominator == 1:
        return x.numerator
    return x


def _half(x):
    if type(x) is int and not x & 1:
        return x >> 1
    return _n(Fraction(x) / 2)


def number(x) -> int | float | None:
    """A model value for JSON: int when whole, else float."""
    if x is None:
        return None
    x = _n(x)
    return x if isinstance(x, int) else float(x)


def fmt_number(x) -> str:
    """12 -> '12', 31/2 -> '15.5', 1/3 -> '0.333'."""
    if x is None:
        return "-"
    x = _n(x)
    if isinstance(x, int):
        return str(x)
    return f"{float(x):.3f}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class AxisRF:
    """The linear RF model of one spatial axis.

    `whole` marks an axis that sees the whole input (global). A global axis
    may still have a local path (an SE block multiplies a conv path by a
    global gate): then size / jump / center describe that local path;
    `size` is None when there is none.

    `reach` is the hull of the input pixels that any unit can see. It starts
    as the whole input and shrinks where a strided layer never reads the last
    pixels (a 3x3 stride-2 unpadded conv on 96 pixels reads 0..94). `valid`
    are the units that read any real input (a unit whose window holds only
    padding sees nothing). Unit o sees exactly ``interval(o) ∩ reach`` when
    it is valid, and a global unit sees ``reach``.
    """

    def units(self, n: int) -> tuple[int, int]:
        """The valid units of a dim of n units along this axis."""
        if self.valid is None:
            return 0, n - 1
        return max(0, math.ceil(self.valid[0])), min(n - 1, math.floor(self.valid[1]))

    size: Any  # r (int | Fraction), or None
    jump: Any = 1
    center: Any = 0
    slack: Any = 0
    whole: bool = False
    reach: Any = None  # (lo, hi): the input pixels any unit of the tensor can see; None: unknown
    valid: Any = None  # (first, last) units that read any input at all; None: every unit

    @property
    def is_global(self) -> bool:
        return self.whole

    @property
    def padding(self):
        """Effective padding (r-1)/2 - c (Araujo et al.)."""
        return None if self.size is None else _n(_half(self.size - 1) - self.center)

    def interval(self, unit: int) -> tuple[Any, Any] | None:
        """Input pixels [lo, hi] that unit `unit` sees through its local path (unclipped)."""
        if self.size is None:
            return None
        mid = self.center + unit * self.jump
        half = _half(self.size - 1)
        return _n(mid - half), _n(mid + half)


GLOBAL_AXIS = AxisRF(None, None, None, 0, True)


def _hull(ax: AxisRF, n: int):
    """Input pixels that the valid units among 0..n-1 see through the local path (hull)."""
    if ax.size is None:
        return ax.reach
    lo, hi = ax.units(n)
    if lo > hi:
        return None
    half = _half(ax.size - 1)
    first, last = ax.center + lo * ax.jump, ax.center + hi * ax.jump
    if last < first:
        first, last = last, first
    return _n(first - half), _n(last + half)


def _meet(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return max(a[0], b[0]), min(a[1], b[1])


def _join(values):
    values = list(values)
    if any(v is None for v in values) or not values:
        return None
    return min(v[0] for v in values), max(v[1] for v in values)


def globalised(ax: AxisRF, n: int) -> AxisRF:
    """The axis after a reduction over its n units: every unit's pixels."""
    if ax.whole and ax.size is None:
        return ax
    reach = ax.reach if ax.whole else _meet(ax.reach, _hull(ax, n))
    return AxisRF(None, None, None, 0, True, reach)


@dataclass(frozen=True)
class TensorRF:
    """RF of one tensor: `dims[d]` is the input axis tensor dim d runs along
    (None for batch / channel / broadcast dims); `axes[a]` the model of axis a."""

    dims: tuple
    axes: tuple
    misaligned: tuple = ()

    @property
    def is_global(self) -> bool:
        return bool(self.axes) and all(a.whole for a in self.axes)

    @property
    def aligned(self) -> bool:
        return not self.misaligned

    @property
    def size(self) -> tuple:
        """RF size per axis; None for a global axis."""
        return tuple(None if a.whole else a.size for a in self.axes)

    @property
    def local_size(self) -> tuple:
        """RF size per axis through the local (non-global) paths."""
        return tuple(a.size for a in self.axes)

    @property
    def jump(self) -> tuple:
        return tuple(a.jump for a in self.axes)

    @property
    def center(self) -> tuple:
        return tuple(a.center for a in self.axes)

    @property
    def padding(self) -> tuple:
        return tuple(a.padding for a in self.axes)

    @property
    def slack(self) -> tuple:
        return tuple(a.slack for a in self.axes)

    def describe(self) -> str:
        """'212, stride 32' / '7x3, stride 2x1' / 'global' / 'global (local 75, stride 16)'."""
        local = any(a.size is not None for a in self.axes)
        if local:
            text = f"{_joined(self.local_size, '-')}, stride {_joined(self.jump, '-')}"
            if any(a.slack for a in self.axes):
                text += f" ±{_joined(self.slack, '0')}"
        if self.is_global:
            text = f"global (local {text})" if local else "global"
        elif any(a.whole for a in self.axes):
            text += f" (global along {', '.join(str(i) for i, a in enumerate(self.axes) if a.whole)})"
        if self.misaligned:
            text += ", misaligned"
        return text

    def to_dict(self) -> dict[str, Any]:
        local = [number(a.size) for a in self.axes]
        return {
            "rf": None if self.is_global else [None if a.whole else number(a.size) for a in self.axes],
            "stride": [number(a.jump) for a in self.axes],
            "center": [number(a.center) for a in self.axes],
            "padding": [number(a.padding) for a in self.axes],
            "slack": [number(a.slack) for a in self.axes],
            "global": self.is_global,
            "global_axes": [a.whole for a in self.axes],
            "reach": [None if a.reach is None else [number(a.reach[0]), number(a.reach[1])] for a in self.axes],
            "local_rf": local if any(a.whole for a in self.axes) and any(v is not None for v in local) else None,
            "aligned": self.aligned,
            "misaligned_ops": list(self.misaligned),
        }


def _joined(values: Sequence, none: str) -> str:
    cells = [none if v is None else fmt_number(abs(v) if none == "-" else v) for v in values]
    return cells[0] if len(set(cells)) == 1 else "x".join(cells)


@dataclass
class RFLayer:
    """The RF of one module call's (first) output."""

    name: str
    type: str
    depth: int
    is_leaf: bool
    call: int
    output_shape: tuple | None
    rf: TensorRF | None
    end_op: int = -1  # the trace op index after which the output exists

    def describe(self) -> str:
        return self.rf.describe() if self.rf is not None else "-"

    def to_dict(self) -> dict[str, Any]:
        base = {"name": self.name, "type": self.type, "depth": self.depth, "is_leaf": self.is_leaf, "call": self.call}
        base["output_shape"] = list(self.output_shape) if self.output_shape is not None else None
        if self.rf is None:
            base.update(rf=None, stride=None, center=None, padding=None, slack=None, aligned=True, misaligned_ops=[])
            base["global"] = False
            base["depends_on_input"] = False
        else:
            base.update(self.rf.to_dict())
            base["depends_on_input"] = True
        return base


@dataclass
class RFResult:
    """Per module call RF (`layers`, in trace order), the model output's
    (`final`), and notes on ops without an exact rule."""

    model: str
    input_shape: tuple
    layers: list[RFLayer]
    final: RFLayer | None
    notes: list[str] = field(default_factory=list)
    states: dict[int, TensorRF] = field(default_factory=dict, repr=False)
    trace: Trace | None = field(default=None, repr=False)

    @property
    def axis_names(self) -> list[str]:
        n = max(0, len(self.input_shape) - 2)
        return ["H", "W"] if n == 2 else ["D", "H", "W"] if n == 3 else ["L"] if n == 1 else [f"axis{i}" for i in range(n)]

    @property
    def aligned(self) -> bool:
        return all(layer.rf is None or layer.rf.aligned for layer in self.layers)

    @property
    def features(self) -> RFLayer | None:
        """The last spatial feature map: the module call finishing last whose
        output still runs along a spatial axis with a local RF (an SE gate's
        global path aside; ties: the shallowest name, `layer4` rather than
        `layer4.2.relu`). For a classifier, the RF before global pooling
        (VGG-16: 212, ResNet-50: 427); for a dense-prediction net, its output
        (the model itself is a candidate)."""
        best = None
        for layer in self.layers:
            st = layer.rf
            if st is None or not any(a is not None for a in st.dims):
                continue
            if any(a.size is None for a in st.axes):  # no local path left
                continue
            key = (layer.end_op, -layer.depth)
            if best is None or key > best[0]:
                best = (key, layer)
        return best[1] if best else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "input_shape": list(self.input_shape),
            "axes": self.axis_names,
            "units": {
                "rf": "input pixels per axis; null when the layer sees the whole input (global)",
                "stride": "input pixels between neighbouring units (effective stride, jump)",
                "center": "input pixel index of the centre of the first unit's RF",
                "padding": "effective padding (rf - 1)/2 - center",
                "slack": "largest distance, in input pixels, between a unit's true RF edge and the model's (0 = exact)",
            },
            "layers": [layer.to_dict() for layer in self.layers],
            "final": self.final.to_dict() if self.final is not None else None,
            "features": self.features.to_dict() if self.features is not None else None,
            "aligned": self.aligned,
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------- reads


@dataclass(frozen=True)
class Reads:
    """Output unit o reads input units lo0 + o*step .. hi0 + o*step (the
    linear model); the exact reads are within `slack` units of it."""

    step: Any
    lo0: Any
    hi0: Any
    slack: Any = 0


def affine(step, lo0, hi0) -> Reads:
    return Reads(step, lo0, hi0)


def sampled(step: Fraction, exact: Callable[[int], tuple[int, int]]) -> Reads:
    """The mean model of a periodic read pattern (period = step's denominator).
    Units that read nothing (lo > hi) are left out."""
    step = Fraction(step)
    if step.denominator == 1:
        lo, hi = exact(0)
        return Reads(step.numerator, lo, hi)
    los, his = [], []
    for o in range(step.denominator):
        lo, hi = exact(o)
        if lo <= hi:
            los.append(lo - o * step)
            his.append(hi - o * step)
    if not los:
        return Reads(_n(step), 0, 0)
    lo0, hi0 = sum(los) / len(los), sum(his) / len(his)
    slack = max(max(abs(v - lo0) for v in los), max(abs(v - hi0) for v in his))
    return Reads(_n(step), _n(lo0), _n(hi0), _n(slack))


def transfer(axis: AxisRF, reads: Reads, n_in: int | None = None) -> AxisRF:
    """Apply one op's reads to an axis model (the local path of a global
    one); `n_in` units along the axis are read, which bounds `reach`."""
    if axis.size is None:
        return axis
    j = axis.jump
    reach, valid = axis.reach, None
    if n_in is not None and not axis.whole:
        reach = _meet(axis.reach, _hull(axis, n_in))
        valid = _valid_after(axis.units(n_in), reads)
    return AxisRF(
        size=_n(axis.size + (reads.hi0 - reads.lo0) * abs(j)),
        jump=_n(reads.step * j),
        center=_n(axis.center + _half(reads.lo0 + reads.hi0) * j),
        slack=_n(axis.slack + reads.slack * abs(j)) if reads.slack else axis.slack,
        whole=axis.whole,
        reach=reach,
        valid=valid,
    )


def _valid_after(units: tuple[int, int], reads: Reads):
    """Output units whose reads [lo0 + o s, hi0 + o s] meet the valid input units
    (within the slack for fractional reads)."""
    lo, hi = units
    if lo > hi:
        return (1, 0)
    s, a, b = reads.step, reads.lo0 - reads.slack, reads.hi0 + reads.slack
    if s == 0:
        return None if (a <= hi and b >= lo) else (1, 0)
    first, last = (lo - b) / Fraction(s), (hi - a) / Fraction(s)
    if s < 0:
        first, last = last, first
    return math.ceil(first), math.floor(last)


# --------------------------------------------------------------------------- rules

RULES: dict[str, Callable[["_Propagator", OpRecord], list]] = {}


def rule(*names: str):
    """Register a transfer rule for the aten op packets `names`."""

    def deco(fn):
        for name in names:
            RULES[name] = fn
        return fn

    return deco


# Element-wise ops handled by the broadcast rule without a note.
POINTWISE = set(
    """
    abs absolute add addcdiv addcmul alias bitwise_and bitwise_not bitwise_or ceil clamp clamp_max clamp_min clip
    clone contiguous copy cos detach div elu eq erf exp expm1 fill floor fmod frac ge gelu gt hardsigmoid
    hardswish hardtanh isinf isnan le leaky_relu lift_fresh lift_fresh_copy log log1p log2 log_sigmoid logical_and
    logical_not logical_or lt masked_fill maximum minimum mish mul native_dropout ne neg pow prelu _prelu_kernel
    reciprocal relu relu6 remainder round rrelu_with_noise rsqrt rsub selu sgn sigmoid sign silu sin softplus softshrink
    sqrt square sub tanh threshold trunc where xlogy _to_copy to_copy celu dropout hardshrink
    """.split()
)


def _base_name(name: str) -> str:
    return name[:-1] if name.endswith("_") and not name.startswith("_") else name


class _Propagator:
    """Walks the trace's ops in order, mapping tid -> TensorRF."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.states: dict[int, TensorRF] = {}
        self.written: dict[int, TensorRF] = {}  # storage -> state written in place through a view
        self.notes: dict[str, None] = {}
        self.naxes = 0
        self._bound_cache: dict[Any, list] = {}

    # -- helpers -----------------------------------------------------------
    def note(self, text: str) -> None:
        self.notes.setdefault(text, None)

    def state(self, x: Any) -> TensorRF | None:
        if not isinstance(x, TensorRef):
            return None
        st = self.states.get(x.tid)
        if st is None and self.written:
            st = self.written.get(x.storage)
        return st

    def bound(self, op: OpRecord) -> dict[str, Any]:
        """Arguments by schema name, defaults filled in."""
        spec = self._bound_cache.get(op.func)
        if spec is None:
            spec = [(a.name, a.has_default_value(), a.default_value if a.has_default_value() else None) for a in op.func._schema.arguments]
            self._bound_cache[op.func] = spec
        out = {}
        for i, (name, has_default, default) in enumerate(spec):
            if i < len(op.args):
                out[name] = op.args[i]
            elif name in op.kwargs:
                out[name] = op.kwargs[name]
            else:
                out[name] = default if has_default else None
        return out

    @staticmethod
    def label(op: OpRecord) -> str:
        return f"{op.module or '(model)'}: {op.packet.__name__}"

    def global_state(self, sources: Sequence[TensorRF], rank: int) -> TensorRF:
        mis = tuple(dict.fromkeys(m for s in sources for m in s.misaligned))
        axes = tuple(AxisRF(None, None, None, 0, True, _join(s.axes[a].reach for s in sources)) for a in range(self.naxes))
        return TensorRF((None,) * rank, axes, mis)

    # -- the walk ----------------------------------------------------------
    def run(self, batch: bool = False) -> None:
        """Propagate from the input; `batch` follows the batch dim instead
        of the spatial ones (which ops let batch elements see each other)."""
        trace = self.trace
        if not trace.inputs:
            return
        x = trace.inputs[0]
        if batch:
            self.naxes = 1
            self.states[x.tid] = TensorRF((0,) + (None,) * (len(x.shape) - 1), (AxisRF(1, 1, 0, reach=(0, x.shape[0] - 1)),))
        else:
            self.naxes = max(0, len(x.shape) - 2)
            if self.naxes == 0:
                self.note("The input has no spatial dims, so there is no receptive field to compute.")
                return
            axes = tuple(AxisRF(1, 1, 0, reach=(0, n - 1)) for n in x.shape[2:])
            self.states[x.tid] = TensorRF((None, None) + tuple(range(self.naxes)), axes)
        for op in trace.ops:
            if not op.outputs:
                continue
            if not any(self.state(r) is not None for r in op.inputs):
                continue
            name = op.packet.__name__
            fn = RULES.get(name) or RULES.get(_base_name(name))
            outs = fn(self, op) if fn is not None else self.fallback(op)
            for ref, st, new in zip(op.outputs, outs, op.allocates):
                if st is None:
                    continue
                self.states[ref.tid] = st
                if not new and not op.func.is_view:
                    # an in-place write: other views of this storage read it
                    self.written[ref.storage] = st

    def fallback(self, op: OpRecord) -> list:
        name = op.packet.__name__
        shapes = [r.shape for r in op.inputs]
        try:
            target = _broadcast_shape(shapes)
        except ValueError:
            target = None
        if target is not None and all(r.shape == target for r in op.outputs):
            if _base_name(name) not in POINTWISE:
                self.note(f"aten.{name} has no RF rule; it keeps its input's shape and is treated as element-wise.")
            st = self.pointwise(op, target)
            return [st] * len(op.outputs)
        self.note(f"aten.{name} has no RF rule and changes the shape; its outputs are treated as global.")
        sources = [s for s in (self.state(r) for r in op.inputs) if s is not None]
        return [self.global_state(sources, len(r.shape)) for r in op.outputs]

    # -- combining several inputs -------------------------------------------
    def pointwise(self, op: OpRecord, out_shape: tuple) -> TensorRF | None:
        """Broadcasting element-wise op over all tensor inputs."""
        parts = []
        rank = len(out_shape)
        for ref in op.inputs:
            st = self.state(ref)
            if st is None:
                continue
            off = rank - len(ref.shape)
            dims = [None] * off + [
                d if (s == out_shape[off + i]) else None for i, (d, s) in enumerate(zip(st.dims, ref.shape))
            ]
            parts.append((st, tuple(dims)))
        return self.combine(op, parts, rank)

    def combine(self, op: OpRecord, parts: list, rank: int, flag: str | None = None) -> TensorRF | None:
        """Union of several inputs' RFs; `parts` are (state, dims aligned to the output)."""
        if not parts:
            return None
        first, first_dims = parts[0]
        if len(parts) == 1 or all(st is first and dims == first_dims for st, dims in parts[1:]):
            if first.dims == first_dims:
                return first
            return TensorRF(first_dims, first.axes, first.misaligned)
        dims: list = [None] * rank
        for _, pd in parts:
            for d, a in enumerate(pd):
                if a is None:
                    continue
                if dims[d] is None:
                    dims[d] = a
                elif dims[d] != a:
                    self.note(f"{self.label(op)} combines different spatial axes along one dim; its RF is approximate.")
                    flag = flag or "mixes spatial axes"
        mis = dict.fromkeys(m for st, _ in parts for m in st.misaligned)
        bad = flag is not None
        axes = []
        for a in range(self.naxes):
            cands = [(st.axes[a], a in pd) for st, pd in parts]
            new, ok = _union_axis(cands)
            bad = bad or not ok
            axes.append(new)
        if bad:
            mis[self.label(op) if flag is None else f"{self.label(op)} ({flag})"] = None
        return TensorRF(tuple(dims), tuple(axes), tuple(mis))

    # -- one-input spatial ops ------------------------------------------------
    def apply(self, st: TensorRF, reads: dict[int, Reads], shape: tuple, drop: Sequence[int] = ()) -> TensorRF:
        """Apply per-dim reads to `st` (the state of a tensor of `shape`);
        `drop` removes dims (select / squeeze)."""
        axes = list(st.axes)
        done: dict[tuple, AxisRF] = {}
        for d, rd in reads.items():
            a = st.dims[d]
            if a is None:
                continue
            key = (id(axes[a]), rd, shape[d])
            if key not in done:
                done[key] = transfer(axes[a], rd, shape[d])
            axes[a] = done[key]
        dims = st.dims if not drop else tuple(a for d, a in enumerate(st.dims) if d not in set(drop))
        return TensorRF(dims, tuple(axes), st.misaligned)

    @staticmethod
    def make_global(st: TensorRF, axes_idx, dims: tuple, shape: tuple) -> TensorRF:
        """Axes `axes_idx` of `st` (a tensor of `shape`) become global."""
        axes = list(st.axes)
        for a in axes_idx:
            where = [d for d, v in enumerate(st.dims) if v == a]
            axes[a] = globalised(axes[a], shape[where[0]] if where else 1)
        return TensorRF(dims, tuple(axes), st.misaligned)


def _broadcast_shape(shapes: Sequence[tuple]) -> tuple:
    rank = max((len(s) for s in shapes), default=0)
    out = [1] * rank
    for s in shapes:
        off = rank - len(s)
        for i, n in enumerate(s):
            m = out[off + i]
            if m == 1:
                out[off + i] = n
            elif n != 1 and n != m:
                raise ValueError("shapes do not broadcast")
    return tuple(out)


def _union_axis(cands: list) -> tuple[AxisRF, bool]:
    """Union of axis models; False when the inputs are misaligned.
    `cands` are (axis, moves): moves says the input varies along the axis."""
    first = cands[0][0]
    if all(ax == first and m == cands[0][1] for ax, m in cands[1:]):
        return first, True
    whole = any(ax.whole for ax, _ in cands)
    reach = _join(ax.reach for ax, _ in cands)
    local = [(ax, m) for ax, m in cands if ax.size is not None]
    if not local:
        return AxisRF(None, None, None, 0, True, reach), True
    movers = [ax for ax, m in local if m]
    fixed = [ax for ax, m in local if not m]
    group = movers or fixed
    ok = not (movers and fixed)
    if len({ax.jump for ax in group}) > 1:
        best = max(group, key=lambda ax: ax.size)
        return AxisRF(best.size, best.jump, best.center, best.slack, whole, reach, best.valid), False
    lo = min(ax.center - _half(ax.size - 1) for ax in group)
    hi = max(ax.center + _half(ax.size - 1) for ax in group)
    ok = ok and len({ax.center for ax in group}) == 1
    valid = _join(ax.valid for ax in group)
    return AxisRF(_n(hi - lo + 1), group[0].jump, _n(_half(lo + hi)), max(ax.slack for ax in group), whole, reach, valid), ok


def _as_list(value, n: int, default=None) -> list:
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        value = default
    if not isinstance(value, (list, tuple)):
        value = [value]
    value = list(value)
    return value * n if len(value) == 1 else value[-n:]


def _spatial_count(name: str, default: int) -> int:
    for n in (1, 2, 3):
        if f"{n}d" in name:
            return n
    return default


def _dim(d: int, rank: int) -> int:
    return d + rank if d < 0 else d


# conv, transposed conv ------------------------------------------------------------


@rule("convolution", "_convolution", "convolution_overrideable", "mkldnn_convolution", "_slow_conv2d_forward", "thnn_conv2d")
def _conv(p: _Propagator, op: OpRecord) -> list:
    a = p.bound(op)
    x = a.get("input", a.get("self"))
    st = p.state(x)
    if st is None:  # e.g. the weight depends on the input (dynamic filters)
        return p.fallback(op)
    w = a["weight"]
    kernel = w.shape[2:]
    n = len(kernel)
    stride = _as_list(a.get("stride"), n, 1)
    padding = _as_list(a.get("padding"), n, 0)
    dilation = _as_list(a.get("dilation"), n, 1)
    rank = len(x.shape)
    reads = {}
    for i in range(n):
        k, s, pad, d = kernel[i], stride[i], padding[i], dilation[i]
        span = d * (k - 1)
        if a.get("transposed"):
            reads[rank - n + i] = _transposed_reads(span, s, pad)
        else:
            reads[rank - n + i] = affine(s, -pad, -pad + span)
    out = p.apply(st, reads, x.shape)
    if p.state(w) is not None:  # weights computed from the input
        out = p.combine(op, [(out, out.dims), (p.global_state([p.state(w)], rank), (None,) * rank)], rank)
    return [out]


def _transposed_reads(span: int, s: int, pad: int) -> Reads:
    """Output o of a transposed conv receives input i when o = i*s - pad + t*d."""
    if s == 1:
        return affine(1, pad - span, pad)
    return sampled(Fraction(1, s), lambda o: (-((span - o - pad) // s), (o + pad) // s))


# pooling -------------------------------------------------------------------------


@rule(
    "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
    "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d", "avg_pool3d", "_max_pool2d", "quantized_max_pool2d",
    "mkldnn_max_pool2d", "lp_pool2d",
)
def _pool(p: _Propagator, op: OpRecord) -> list:
    a = p.bound(op)
    x = a.get("self", a.get("input"))
    st = p.state(x)
    kernel = a["kernel_size"]
    n = _spatial_count(op.packet.__name__, len(kernel) if isinstance(kernel, (list, tuple)) else 2)
    kernel = _as_list(kernel, n)
    stride = _as_list(a.get("stride"), n, kernel)
    padding = _as_list(a.get("padding"), n, 0)
    dilation = _as_list(a.get("dilation"), n, 1)
    rank = len(x.shape)
    reads = {rank - n + i: affine(stride[i], -padding[i], -padding[i] + dilation[i] * (kernel[i] - 1)) for i in range(n)}
    out = p.apply(st, reads, x.shape)
    return [out for _ in op.outputs]


@rule(
    "_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "_adaptive_avg_pool1d",
)
def _adaptive_pool(p: _Propagator, op: OpRecord) -> list:
    x = op.args[0]
    st = p.state(x)
    y = op.outputs[0]
    rank = len(x.shape)
    n = _spatial_count(op.packet.__name__, rank - 2)
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
            reads[d] = sampled(
                Fraction(n_in, n_out), lambda o, a=n_in, b=n_out: ((o * a) // b, -((-(o + 1) * a) // b) - 1)
            )
    out = p.apply(st, reads, x.shape)
    if full:
        out = p.make_global(out, full, tuple(None if a in full else a for a in out.dims), x.shape)
    return [out for _ in op.outputs]


# upsampling ---------------------------------------------------------------------------


def _scale_for(n_in: int, n_out: int, scale: Any, align_corners: bool | None) -> Fraction:
    """Input units per output unit, as PyTorch computes it."""
    if align_corners:
        return Fraction(n_in - 1, n_out - 1) if n_out > 1 else Fraction(0)
    if scale is not None and scale > 0:
        return 1 / Fraction(scale).limit_denominator(10_000)
    return Fraction(n_in, n_out)


def _floor(x: Fraction) -> int:
    return math.floor(x)


def _upsample_reads(kind: str, s: Fraction, align_corners: bool) -> Reads:
    half = Fraction(1, 2)

    def source(o: int) -> Fraction:
        return o * s if align_corners else (o + half) * s - half

    if kind == "nearest":
        return sampled(s, lambda o: (_floor(o * s),) * 2)
    if kind == "nearest_exact":
        return sampled(s, lambda o: (_floor((o + half) * s),) * 2)
    if kind == "cubic":
        def cubic(o):
            x = source(o)
            f = _floor(x)
            return (f, f) if x == f else (f - 1, f + 2)

        return sampled(s, cubic)

    def linear(o):
        x = source(o)
        return _floor(x), math.ceil(x)

    return sampled(s, linear)


@rule(
    "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "_upsample_nearest_exact1d",
    "_upsample_nearest_exact2d", "_upsample_nearest_exact3d", "upsample_linear1d", "upsample_bilinear2d",
    "upsample_trilinear3d", "upsample_bicubic2d",
)
def _upsample(p: _Propagator, op: OpRecord) -> list:
    name = op.packet.__name__
    a = p.bound(op)
    x = a.get("self", a.get("input"))
    st = p.state(x)
    y = op.outputs[0]
    rank = len(x.shape)
    n = _spatial_count(name, rank - 2)
    kind = "nearest_exact" if "exact" in name else "nearest" if "nearest" in name else "cubic" if "cubic" in name else "linear"
    align = bool(a.get("align_corners")) if kind in ("linear", "cubic") else False
    factors = a.get("scale_factors")
    if factors is None:
        factors = [a.get(k) for k in ("scales_d", "scales_h", "scales_w", "scales")[-n - 1 :] if k in a]
        factors = [f for f in factors if f is not None] or None
        if factors is None or len(factors) != n:
            keys = {1: ["scales"], 2: ["scales_h", "scales_w"], 3: ["scales_d", "scales_h", "scales_w"]}[n]
            factors = [a.get(k) for k in keys]
    factors = _as_list(factors, n, None) if factors is not None else [None] * n
    reads = {}
    for i in range(n):
        d = rank - n + i
        n_in, n_out = x.shape[d], y.shape[d]
        s = _scale_for(n_in, n_out, factors[i] if i < len(factors) else None, align)
        if s == 1 and not align:
            continue
        reads[d] = _upsample_reads(kind, s, align)
    return [p.apply(st, reads, x.shape)]


@rule("max_unpool2d", "max_unpool3d")
def _unpool(p: _Propagator, op: OpRecord) -> list:
    x = op.args[0]
    st = p.state(x)
    y = op.outputs[0]
    rank = len(x.shape)
    n = _spatial_count(op.packet.__name__, 2)
    reads = {}
    for d in range(rank - n, rank):
        s = Fraction(x.shape[d], y.shape[d])
        reads[d] = sampled(s, lambda o, s=s: (_floor(o * s),) * 2)
    return [p.apply(st, reads, x.shape)]


@rule("pixel_shuffle")
def _pixel_shuffle(p: _Propagator, op: OpRecord) -> list:
    x, f = op.args[0], op.args[1]
    st = p.state(x)
    rank = len(x.shape)
    s = Fraction(1, f)
    rd = sampled(s, lambda o: (_floor(o * s),) * 2)
    dims = st.dims[:-3] + (None,) + st.dims[-2:]
    return [p.apply(TensorRF(dims, st.axes, st.misaligned), {rank - 2: rd, rank - 1: rd}, x.shape)]


@rule("pixel_unshuffle")
def _pixel_unshuffle(p: _Propagator, op: OpRecord) -> list:
    x, f = op.args[0], op.args[1]
    st = p.state(x)
    rank = len(x.shape)
    rd = affine(f, 0, f - 1)
    dims = st.dims[:-3] + (None,) + st.dims[-2:]
    return [p.apply(TensorRF(dims, st.axes, st.misaligned), {rank - 2: rd, rank - 1: rd}, x.shape)]


# padding, slicing, selecting -------------------------------------------------------


@rule(
    "constant_pad_nd", "reflection_pad1d", "reflection_pad2d", "reflection_pad3d", "replication_pad1d",
    "replication_pad2d", "replication_pad3d", "_pad_circular", "_pad_enum", "pad", "circular_pad2d",
)
def _pad(p: _Propagator, op: OpRecord) -> list:
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
def _slice(p: _Propagator, op: OpRecord) -> list:
    a = p.bound(op)
    x = a["self"]
    st = p.state(x)
    rank = len(x.shape)
    d = _dim(a.get("dim") or 0, rank)
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
def _select(p: _Propagator, op: OpRecord) -> list:
    x, d, index = op.args[0], op.args[1], op.args[2]
    st = p.state(x)
    rank = len(x.shape)
    d = _dim(d, rank)
    if index < 0:
        index += x.shape[d]
    reads = {d: affine(1, index, index)} if index else {}
    return [p.apply(st, reads, x.shape, drop=(d,))]


@rule("unbind")
def _unbind(p: _Propagator, op: OpRecord) -> list:
    a = p.bound(op)
    x = a["self"]
    st = p.state(x)
    d = _dim(a.get("dim") or 0, len(x.shape))
    return [p.apply(st, {d: affine(1, k, k)} if k else {}, x.shape, drop=(d,)) for k in range(len(op.outputs))]


@rule("split", "split_with_sizes", "unsafe_split", "unsafe_split_with_sizes", "chunk", "tensor_split", "unsafe_chunk")
def _split(p: _Propagator, op: OpRecord) -> list:
    a = p.bound(op)
    x = a["self"]
    st = p.state(x)
    d = _dim(a.get("dim") or 0, len(x.shape))
    if st.dims[d] is None:
        return [st] * len(op.outputs)
    outs, offset = [], 0
    for ref in op.outputs:
        outs.append(p.apply(st, {d: affine(1, offset, offset)}, x.shape) if offset else st)
        offset += ref.shape[d]
    return outs


@rule("narrow")
def _narrow(p: _Propagator, op: OpRecord) -> list:
    x, d, start = op.args[0], op.args[1], op.args[2]
    st = p.state(x)
    d = _dim(d, len(x.shape))
    if isinstance(start, TensorRef) or not start:
        return [st]
    return [p.apply(st, {d: affine(1, start, start)}, x.shape)]


@rule("flip")
def _flip(p: _Propagator, op: OpRecord) -> list:
    x, dims = op.args[0], op.args[1]
    st = p.state(x)
    rank = len(x.shape)
    reads = {}
    for d in dims:
        d = _dim(d, rank)
        reads[d] = affine(-1, x.shape[d] - 1, x.shape[d] - 1)
    return [p.apply(st, reads, x.shape)]


@rule("roll")
def _roll(p: _Propagator, op: OpRecord) -> list:
    a = p.bound(op)
    x = a["self"]
    st = p.state(x)
    rank = len(x.shape)
    shifts = _as_list(a.get("shifts"), 1)
    dims = a.get("dims") or []
    if not dims:  # a roll of the flattened tensor
        return [p.global_state([st], rank)]
    reads = {}
    for shift, d in zip(shifts, dims):
        d = _dim(d, rank)
        if st.dims[d] is not None and shift % x.shape[d]:
            p.note(f"{p.label(op)} rolls a spatial dim: units near the border wrap around to the other side.")
            reads[d] = affine(1, -shift, -shift)
    return [p.apply(st, reads, x.shape)]


# layout: views, permutes ------------------------------------------------------------


def _reshape(st: TensorRF, in_shape: tuple, out_shape: tuple) -> TensorRF:
    """Spatial dims kept whole keep their axis; merged or split ones go global."""
    ins = [i for i, s in enumerate(in_shape) if s != 1]
    outs = [o for o, s in enumerate(out_shape) if s != 1]
    dims: list = [None] * len(out_shape)
    full: set = set()
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
def _view(p: _Propagator, op: OpRecord) -> list:
    x = op.args[0]
    st = p.state(x)
    y = op.outputs[0]
    if x.shape == y.shape:
        return [st]
    return [_reshape(st, x.shape, y.shape)]


@rule("squeeze", "squeeze_copy")
def _squeeze(p: _Propagator, op: OpRecord) -> list:
    x = op.args[0]
    st = p.state(x)
    rank = len(x.shape)
    if len(op.args) > 1:
        wanted = op.args[1]
        wanted = {_dim(d, rank) for d in (wanted if isinstance(wanted, (list, tuple)) else [wanted])}
    else:
        wanted = set(range(rank))
    drop = tuple(d for d in range(rank) if d in wanted and x.shape[d] == 1)
    return [TensorRF(tuple(a for d, a in enumerate(st.dims) if d not in drop), st.axes, st.misaligned)]


@rule("unsqueeze", "unsqueeze_copy")
def _unsqueeze(p: _Propagator, op: OpRecord) -> list:
    x, d = op.args[0], op.args[1]
    st = p.state(x)
    d = d + len(x.shape) + 1 if d < 0 else d
    dims = st.dims[:d] + (None,) + st.dims[d:]
    return [TensorRF(dims, st.axes, st.misaligned)]


@rule("permute", "permute_copy")
def _permute(p: _Propagator, op: OpRecord) -> list:
    x, order = op.args[0], op.args[1]
    st = p.state(x)
    rank = len(x.shape)
    return [TensorRF(tuple(st.dims[_dim(d, rank)] for d in order), st.axes, st.misaligned)]


@rule("transpose", "transpose_copy", "swapaxes", "swapdims")
def _transpose(p: _Propagator, op: OpRecord) -> list:
    x, d0, d1 = op.args[0], op.args[1], op.args[2]
    st = p.state(x)
    rank = len(x.shape)
    dims = list(st.dims)
    d0, d1 = _dim(d0, rank), _dim(d1, rank)
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return [TensorRF(tuple(dims), st.axes, st.misaligned)]


@rule("t", "t_copy")
def _t(p: _Propagator, op: OpRecord) -> list:
    st = p.state(op.args[0])
    return [TensorRF(tuple(reversed(st.dims)), st.axes, st.misaligned)]


@rule("expand", "expand_copy", "broadcast_to", "expand_as")
def _expand(p: _Propagator, op: OpRecord) -> list:
    x = op.args[0]
    st = p.state(x)
    y = op.outputs[0]
    off = len(y.shape) - len(x.shape)
    dims = (None,) * off + tuple(
        None if (n == 1 and y.shape[off + i] != 1) else a for i, (a, n) in enumerate(zip(st.dims, x.shape))
    )
    return [TensorRF(dims, st.axes, st.misaligned)]


@rule("alias", "detach", "clone", "contiguous", "_to_copy", "lift_fresh_copy", "lift_fresh", "_conj", "resolve_conj", "resolve_neg", "dropout", "feature_dropout", "alpha_dropout")
def _identity(p: _Propagator, op: OpRecord) -> list:
    st = p.state(op.args[0])
    return [st if ref.shape == op.args[0].shape else None for ref in op.outputs]


# normalisation: statistics as per-channel constants --------------------------------------


@rule(
    "native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
    "_native_batch_norm_legit_functional", "native_group_norm", "native_layer_norm", "batch_norm", "_batch_norm_impl_index",
    "cudnn_batch_norm", "miopen_batch_norm", "_batch_norm_with_update", "_batch_norm_no_update", "rms_norm", "_fused_rms_norm",
    "native_dropout",
)
def _norm(p: _Propagator, op: OpRecord) -> list:
    x = op.args[0]
    st = p.state(x)
    if st is None:
        return p.fallback(op)
    return [st if ref.shape == x.shape else None for ref in op.outputs]


# values that do not depend on the input's values -------------------------------------------


@rule(
    "empty_like", "zeros_like", "ones_like", "full_like", "rand_like", "randn_like", "randint_like", "new_empty",
    "new_zeros", "new_ones", "new_full", "new_empty_strided", "fill", "zero", "sym_size", "sym_numel", "_shape_as_tensor",
    "bernoulli", "uniform", "normal", "argmax", "argmin",
)
def _constant(p: _Propagator, op: OpRecord) -> list:
    if op.packet.__name__ in ("argmax", "argmin"):
        return _reduce(p, op)
    return [None] * len(op.outputs)


@rule("copy")
def _copy(p: _Propagator, op: OpRecord) -> list:
    dst, src = op.args[0], op.args[1]
    st = p.state(src)
    if st is None:
        return [None]
    off = len(dst.shape) - len(src.shape)
    dims = (None,) * off + tuple(a if n == dst.shape[off + i] else None for i, (a, n) in enumerate(zip(st.dims, src.shape)))
    return [TensorRF(dims, st.axes, st.misaligned)]


# reductions and ops that mix along a dim ------------------------------------------------------


@rule(
    "mean", "sum", "amax", "amin", "max", "min", "var", "std", "var_mean", "std_mean", "prod", "logsumexp", "norm",
    "linalg_vector_norm", "median", "nanmedian", "mode", "all", "any", "nansum", "nanmean", "count_nonzero", "aminmax",
    "kthvalue",
)
def _reduce(p: _Propagator, op: OpRecord) -> list:
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
        reduced = {_dim(d, rank) for d in (dims if isinstance(dims, (list, tuple)) else [dims])}
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
def _mix_along(p: _Propagator, op: OpRecord) -> list:
    a = p.bound(op)
    x = a.get("self", a.get("input"))
    st = p.state(x)
    rank = len(x.shape)
    d = a.get("dim")
    d = rank - 1 if d is None else _dim(d, rank)
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


@rule(
    "_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention", "scaled_dot_product_attention",
    "_scaled_dot_product_attention_math", "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_cudnn_attention",
    "_native_multi_head_attention",
)
def _attention(p: _Propagator, op: OpRecord) -> list:
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
def _cat(p: _Propagator, op: OpRecord) -> list:
    a = p.bound(op)
    tensors = a["tensors"]
    y = op.outputs[0]
    rank = len(y.shape)
    d = _dim(a.get("dim") or 0, rank)
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
def _stack(p: _Propagator, op: OpRecord) -> list:
    a = p.bound(op)
    tensors = a["tensors"]
    y = op.outputs[0]
    rank = len(y.shape)
    d = _dim(a.get("dim") or 0, rank)
    parts = []
    for ref in tensors:
        st = p.state(ref)
        if st is not None:
            parts.append((st, st.dims[:d] + (None,) + st.dims[d:]))
    return [p.combine(op, parts, rank)]


@rule("mm", "bmm", "addmm", "baddbmm", "addbmm", "matmul", "_addmm_activation", "mv", "dot", "addmv")
def _matmul(p: _Propagator, op: OpRecord) -> list:
    """out[..., n, q] = sum_m A[..., n, m] B[..., m, q]: the contracted dim goes global."""
    name = op.packet.__name__
    a = p.bound(op)
    A, B = a.get("mat1", a.get("batch1", a.get("self"))), a.get("mat2", a.get("batch2", a.get("vec", a.get("tensor"))))
    if name in ("mm", "bmm", "matmul", "dot"):
        A, B = a.get("self"), a.get("mat2", a.get("other", a.get("tensor")))
    if name == "mv":
        A, B = a.get("self"), a.get("vec")
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
    extra = a.get("self") if name in ("addmm", "baddbmm", "addbmm", "addmv", "_addmm_activation") else None
    if isinstance(extra, TensorRef) and p.state(extra) is not None:
        st = p.state(extra)
        off = rank - len(extra.shape)
        parts.append((st, (None,) * off + tuple(v if n == y.shape[off + i] else None for i, (v, n) in enumerate(zip(st.dims, extra.shape)))))
    return [p.combine(op, parts, rank)]


@rule("index_select", "gather", "index", "take_along_dim", "embedding")
def _index(p: _Propagator, op: OpRecord) -> list:
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
        indexed = [_dim(op.args[1], rank)]
    full = {st.dims[d] for d in indexed if d < rank and st.dims[d] is not None}
    if not full:
        return [st]
    p.note(f"{p.label(op)} indexes a spatial dim with data-dependent indices; treated as global.")
    return [p.make_global(st, full, tuple(None if d in indexed else a_ for d, a_ in enumerate(st.dims)), x.shape)]


# --------------------------------------------------------------------------- public API


def analyze(trace: Trace, model: str = "") -> RFResult:
    """RF of every tensor of an existing trace (e.g. `Profile.trace`); one
    `RFLayer` per module call, in the trace's order."""
    prop = _Propagator(trace)
    prop.run()
    states = prop.states
    layers = []
    for call in trace.modules:
        ref = call.outputs[0] if call.outputs else None
        layers.append(
            RFLayer(
                name=call.path or "(model)",
                type=call.type,
                depth=call.depth,
                is_leaf=call.is_leaf,
                call=call.call,
                output_shape=ref.shape if ref is not None else None,
                rf=states.get(ref.tid) if ref is not None else None,
                end_op=call.end_op,
            )
        )
    final = None
    if trace.outputs:
        out = trace.outputs[0]
        final = RFLayer("(output)", "output", 0, False, 0, out.shape, states.get(out.tid))
    input_shape = trace.inputs[0].shape if trace.inputs else ()
    notes = list(prop.notes)
    if final is not None and final.rf is not None:
        unread = _unread(final.rf, input_shape)
        if unread:
            notes.append(f"The output never depends on input pixels {unread}: strided layers skip them at this input size.")
    return RFResult(model=model, input_shape=tuple(input_shape), layers=layers, final=final, notes=notes, states=states, trace=trace)


def _unread(st: TensorRF, input_shape: tuple) -> str:
    """'H 93..95, W 93..95': border pixels outside every unit's reach."""
    names = ["H", "W"] if len(st.axes) == 2 else [f"axis {i}" for i in range(len(st.axes))]
    parts = []
    for name, ax, n in zip(names, st.axes, input_shape[2:]):
        if ax.reach is None:
            continue
        lo, hi = math.ceil(ax.reach[0]), math.floor(ax.reach[1])
        gaps = ([f"0..{lo - 1}"] if lo > 0 else []) + ([f"{hi + 1}..{n - 1}"] if hi < n - 1 else [])
        if gaps:
            parts.append(f"{name} {' and '.join(gaps)}")
    return ", ".join(parts)


def batch_mixing(trace: Trace) -> list[str]:
    """The ops through which one batch element's output depends on another's
    input (a mean over the batch, a view merging it into other dims), found
    by following the batch dim like a spatial axis. Trace with batch >= 2."""
    prop = _Propagator(trace)
    prop.run(batch=True)
    mixed = []
    for op in trace.ops:
        for ref in op.outputs:
            st = prop.states.get(ref.tid)
            if st is not None and (st.axes[0].whole or st.axes[0].size != 1 or st.misaligned):
                mixed.append(prop.label(op))
                break
        if mixed:
            break
    return mixed


def receptive_field(model_or_name: Any, input_size: tuple[int, ...] | None = None, device: str = "meta") -> RFResult:
    """Receptive field, effective stride and centre of every layer of a zoo
    name, a spec string or an nn.Module (traced once; the module is left as it was)."""
    from netstat.spec import resolve
    from netstat.trace import trace_model

    source = resolve(model_or_name, input_size)
    trace, _ = trace_model(source, device)
    result = analyze(trace, source.name)
    result.notes = list(trace.notes) + result.notes
    return result


# --------------------------------------------------------------------------- the calculator


@dataclass
class StackLayer:
    """Layer `index` of a stack (1-based), with cumulative figures up to it."""

    index: int
    kernel: tuple
    stride: int
    dilation: int
    rf: tuple  # per axis (h, w)
    jump: tuple
    params: int | None  # this layer, for C channels (None without C)
    cumulative_params: int | None
    params_c2: int  # weights per C^2 (kh*kw summed over the layers so far)
    single_kernel: tuple  # the one kernel with the same RF
    single_params: int | None
    single_c2: int
    plain_rf: tuple  # the same stack without dilation
    used: tuple  # input positions per axis that reach the centre output
    span: tuple

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": str(self.index),
            "type": "Conv",
            "kernel": list(self.kernel),
            "stride": list(self.jump),
            "layer_stride": self.stride,
            "dilation": self.dilation,
            "rf": list(self.rf),
            "center": [_half(r - 1) for r in self.rf],
            "global": False,
            "aligned": True,
            "params": self.params,
            "cumulative_params": self.cumulative_params,
            "weights_per_c2": self.params_c2,
            "single_kernel": list(self.single_kernel),
            "single_kernel_params": self.single_params,
            "single_kernel_weights_per_c2": self.single_c2,
            "plain_rf": list(self.plain_rf),
            "used_positions": list(self.used),
            "span": list(self.span),
        }


@dataclass
class StackResult:
    kernel: tuple
    strides: list[int]
    dilations: list[int]
    channels: int | None
    bias: bool
    layers: list[StackLayer]
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def dilated(self) -> bool:
        return any(d != 1 for d in self.dilations)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "model": None,
            "calculator": {
                "kernel": list(self.kernel),
                "layers": len(self.layers),
                "stride": self.strides,
                "dilation": self.dilations,
                "channels": self.channels,
                "bias": self.bias,
            },
            "units": {
                "rf": "input positions per axis",
                "params": "weights (+ biases) of C-to-C convolutions; null without --channels",
                "weights_per_c2": "weights in units of C^2 (bias excluded)",
                "used_positions": "input positions per axis with a path to the centre output (gridding)",
            },
            "layers": [layer.to_dict() for layer in self.layers],
            "warnings": self.warnings,
        }


MAX_LAYERS = 10_000
_MAX_DIGITS = 2000
MAX_SIZE = 10**_MAX_DIGITS  # the largest RF or stride per axis the calculator reports (a one-kernel RF² must print: Python prints ints up to 4,300 digits)
MAX_CHANNELS = 10**12
GRID_BITS = 1 << 24  # the widest set of positions with holes that the gridding count keeps
GRID_WORK = 1 << 30  # bit operations the gridding count may spend on such sets in all (well under a second)


def _spread(bits: int, k: int, step: int) -> int:
    """The Minkowski sum of the bitset `bits` and {0, step, ..., (k-1) step},
    by doubling: about 2 log2(k) shifts instead of k."""
    out, offset, block, width = 0, 0, bits, 1
    while k:
        if k & 1:
            out |= block << offset
            offset += width * step
        k >>= 1
        if k:
            block |= block << (width * step)
            width *= 2
    return out


def _positions(taps: Sequence[tuple[int, int, int]], limit: int = GRID_BITS, budget: int = GRID_WORK) -> list[tuple[int | None, int | None]]:
    """For each prefix of a 1-D stack of (kernel, stride, dilation) layers:
    (input positions that reach the output unit, span). The set is the
    Minkowski sum of each layer's taps {t*d*J : 0 <= t < k} (J = jump before
    the layer), on the lattice gZ (g the gcd of the steps d*J). A set that is
    one interval is kept as its length (exact at any size); one with holes as
    a bitset, given up (None, None) past `limit` bits or `budget` bit operations."""
    steps, jump = [], 1
    for k, s, d in taps:
        steps.append(d * jump if k > 1 else 0)
        jump *= s
    g = math.gcd(*steps) or 1
    length, bits, out = 1, None, []  # the set is {0 .. length-1} while bits is None
    for (k, _, _), step in zip(taps, steps):
        step //= g
        if bits is None and step <= length:
            length += (k - 1) * step
        else:
            top = length if bits is None else bits.bit_length()
            budget -= ((k - 1) * step + top) * k.bit_length()
            if (k - 1) * step + top > limit or budget < 0:
                break
            bits = _spread((1 << length) - 1 if bits is None else bits, k, step)
            if not bits & (bits + 1):
                length, bits = bits.bit_length(), None
        count, top = (length, length) if bits is None else (bits.bit_count(), bits.bit_length())
        out.append((count, (top - 1) * g + 1))
    return out + [(None, None)] * (len(taps) - len(out))


def stack(
    kernel: int | Sequence[int],
    layers: int,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    channels: int | None = None,
    bias: bool = True,
) -> StackResult:
    """A stack of `layers` C-to-C convolutions of one `kernel` (int or
    (kh, kw)), per layer: RF, jump, cumulative params, the single kernel with
    the same RF and its params, the plain (undilated) stack's RF, and the
    gridding (input positions per axis that reach the centre output).

    `stride` and `dilation` are one int for every layer or one per layer.
    Limits: `layers` up to MAX_LAYERS, RF and stride up to MAX_SIZE per axis,
    `channels` up to MAX_CHANNELS. Raises UsageError on impossible values or
    values past the limits, before any other work.
    """
    kernel, strides, dilations = _stack_args(kernel, layers, stride, dilation, channels)
    by_size = {k: _positions([(k, s, d) for s, d in zip(strides, dilations)]) for k in set(kernel)}
    grid = [by_size[k] for k in kernel]
    out = _stack_layers(kernel, strides, dilations, channels, bias, grid)
    result = StackResult(kernel=kernel, strides=strides, dilations=dilations, channels=channels, bias=bias, layers=out)
    result.warnings = _gridding_warnings(result)
    return result


def _stack_args(kernel, layers, stride, dilation, channels) -> tuple[tuple, list[int], list[int]]:
    """The kernel as a tuple and the per-layer strides and dilations, checked."""
    from netstat.errors import UsageError

    kernel = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    if len(kernel) not in (1, 2, 3) or any((not isinstance(k, int)) or k < 1 for k in kernel):
        raise UsageError(f"The kernel must be a positive size, not {kernel if len(kernel) > 1 else kernel[0]}.")
    if not isinstance(layers, int) or layers < 1:
        raise UsageError(f"layers must be 1 or more, not {layers}.")
    if layers > MAX_LAYERS:
        raise UsageError(f"layers={layers} is more than this calculator handles ({MAX_LAYERS:,}).")
    strides = _per_layer(stride, layers, "stride")
    dilations = _per_layer(dilation, layers, "dilation")
    if channels is not None and channels < 1:
        raise UsageError(f"channels must be 1 or more, not {channels}.")
    if channels is not None and channels > MAX_CHANNELS:
        raise UsageError("channels must be at most 10^12.")
    rf, jump = 1, 1
    for i, (s, d) in enumerate(zip(strides, dilations), 1):
        rf += d * (max(kernel) - 1) * jump
        jump *= s
        if rf > MAX_SIZE or jump > MAX_SIZE:
            raise UsageError(f"At layer {i} the receptive field or stride of this stack passes 10^{_MAX_DIGITS} input positions, more than this calculator handles.")
    return kernel, strides, dilations


def _stack_layers(kernel, strides, dilations, channels, bias, grid) -> list[StackLayer]:
    """The cumulative figures of `stack`, layer by layer."""
    n = len(kernel)
    rf, jump, plain = [1] * n, [1] * n, [1] * n
    kk = math.prod(kernel)
    per = None if channels is None else channels * channels * kk + (channels if bias else 0)
    out, cum = [], 0
    for i, (s, d) in enumerate(zip(strides, dilations)):
        for a in range(n):
            rf[a] += d * (kernel[a] - 1) * jump[a]
            plain[a] += (kernel[a] - 1) * jump[a]
            jump[a] *= s
        cum = None if per is None else cum + per
        single_c2 = math.prod(rf)
        out.append(
            StackLayer(
                index=i + 1,
                kernel=kernel,
                stride=s,
                dilation=d,
                rf=tuple(rf),
                jump=tuple(jump),
                params=per,
                cumulative_params=cum,
                params_c2=kk * (i + 1),
                single_kernel=tuple(rf),
                single_params=None if channels is None else channels * channels * single_c2 + (channels if bias else 0),
                single_c2=single_c2,
                plain_rf=tuple(plain),
                used=tuple(grid[a][i][0] for a in range(n)),
                span=tuple(grid[a][i][1] for a in range(n)),
            )
        )
    return out


def _per_layer(value: int | Sequence[int], layers: int, name: str) -> list[int]:
    from netstat.errors import UsageError

    values = [value] * layers if isinstance(value, int) else list(value)
    if len(values) == 1 and layers > 1:
        values = values * layers
    if len(values) != layers:
        raise UsageError(f"{name} lists {len(values)} values for {layers} layers; give one value or one per layer.")
    if any((not isinstance(v, int)) or v < 1 for v in values):
        raise UsageError(f"{name} values must be positive integers, not {','.join(map(str, values))}.")
    return values


def hdc_max_distance(rates: Sequence[int]) -> int:
    """M_2 of the hybrid dilated convolution rule (Wang et al., "Understanding
    Convolution for Semantic Segmentation", WACV 2018): M_n = r_n,
    M_i = max(M_{i+1} - 2 r_i, M_{i+1} - 2 (M_{i+1} - r_i), r_i); the largest
    gap between non-zero taps after the layers; no holes needs M_2 <= K."""
    m = rates[-1]
    for r in reversed(rates[1:-1]):
        m = max(m - 2 * r, m - 2 * (m - r), r)
    return m


def rates_text(rates: Sequence[int]) -> str:
    """'1,2,5'; a long list by its ends: '1,2,5,1,2,...,5 (10,000 layers)'."""
    if len(rates) <= 12:
        return ",".join(map(str, rates))
    if len(set(rates)) == 1:
        return f"{rates[0]} (all {len(rates):,} layers)"
    return f"{','.join(map(str, rates[:5]))},...,{','.join(map(str, rates[-5:]))} ({len(rates):,} layers)"


def _gridding_warnings(result: StackResult) -> list[str]:
    rates = [d for d in result.dilations]
    warnings = []
    spatial = [d for d, k in zip(rates, [max(result.kernel)] * len(rates)) if k > 1]
    g = math.gcd(*spatial) if spatial else 1
    if g > 1 and result.dilated:
        warnings.append(
            f"The dilation rates {rates_text(rates)} share the factor {g}: only 1 in {g} input positions per axis "
            "reaches an output unit (gridding). The hybrid dilated convolution rule asks for rates without a common factor, "
            "e.g. 1,2,5 (Wang et al. 2018)."
        )
    last = result.layers[-1]
    gaps = [(u, sp) for u, sp in zip(last.used, last.span) if u is not None and u < sp]
    if gaps and g == 1 and result.dilated:
        u, sp = gaps[0]
        warnings.append(f"Only {u} of the {sp} input positions per axis in the RF reach the centre output: the stack has holes (gridding).")
    if len(rates) >= 2 and result.dilated and max(result.kernel) > 1:
        m2 = hdc_max_distance(rates)
        k = min(result.kernel)
        if m2 > k and g == 1 and not gaps:
            pass
        elif m2 > k and g == 1:
            warnings.append(f"Hybrid dilated convolution rule: M_2 = {m2} > K = {k} (Wang et al. 2018).")
    return warnings
