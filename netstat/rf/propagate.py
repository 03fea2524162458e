"""The walk over a traced dataflow graph: every op's transfer rule (or the
fallback) maps its inputs' TensorRF to its outputs'; `analyze` turns the
states into one RFLayer per module call.

Several inputs (add, mul, where, cat, stack, matmul) are combined per axis as
the union of what the inputs see (`union_axis`): exact when they agree on the
jump (different centres give their hull, and the op is reported as
*misaligned* by name); when the jumps differ the input with the largest r is
kept, also misaligned. Misalignment is inherited downstream. An op with no
rule is treated as element-wise when its output has the broadcast shape of
its inputs, else as global; either way it is named in `RFResult.notes`
(known element-wise ops are not). A global input multiplied into a local one
(a squeeze-excitation gate) makes the output global; the axis keeps the local
path's r, j and c beside that ("global (local 75, stride 16)").
"""

from __future__ import annotations

import dataclasses

import math
from typing import Any, Sequence

from netstat.rf.model import AxisRF, Reads, TensorRF, globalised, join, transfer, union_axis
from netstat.rf.result import RFLayer, RFResult
from netstat.rf.rules import POINTWISE, base_name, find_rule
from netstat.schema import label
from netstat.trace import OpRecord, TensorRef, Trace


class Propagator:
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
            if st is not None and len(st.dims) != len(x.shape):
                # written through a view of another rank (a detector's batch of images filled
                # image by image through select(0, i)): the trailing dims are the ones written
                extra = len(x.shape) - len(st.dims)
                st = dataclasses.replace(st, dims=(None,) * extra + st.dims if extra > 0 else st.dims[-extra:])
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
        return f"{label(op.module)}: {op.packet.__name__}"

    def global_state(self, sources: Sequence[TensorRF], rank: int) -> TensorRF:
        mis = tuple(dict.fromkeys(m for s in sources for m in s.misaligned))
        axes = tuple(AxisRF(None, None, None, 0, True, join(s.axes[a].reach for s in sources)) for a in range(self.naxes))
        return TensorRF((None,) * rank, axes, mis)

    # -- the walk ----------------------------------------------------------
    def run(self) -> None:
        """Propagate from the input over every op."""
        if not self.trace.inputs or not self._seed(self.trace.inputs[0]):
            return
        for op in self.trace.ops:
            if not op.outputs:
                continue
            if not any(self.state(r) is not None for r in op.inputs):
                continue
            fn = find_rule(op.packet.__name__)
            outs = fn(self, op) if fn is not None else self.fallback(op)
            for ref, st, new in zip(op.outputs, outs, op.allocates):
                if st is None:
                    continue
                self.states[ref.tid] = st
                if not new and not op.func.is_view:
                    # an in-place write: other views of this storage read it
                    self.written[ref.storage] = st

    def _seed(self, x: TensorRef) -> bool:
        """The input's state: each unit sees itself. False when there is no spatial axis."""
        self.naxes = max(0, len(x.shape) - 2)
        if self.naxes == 0:
            self.note("The input has no spatial dims, so there is no receptive field to compute.")
            return False
        axes = tuple(AxisRF(1, 1, 0, reach=(0, n - 1)) for n in x.shape[2:])
        self.states[x.tid] = TensorRF((None, None) + tuple(range(self.naxes)), axes)
        return True

    def fallback(self, op: OpRecord) -> list:
        """An op without a rule: element-wise when it keeps the broadcast shape, else global."""
        name = op.packet.__name__
        shapes = [r.shape for r in op.inputs]
        try:
            target = _broadcast_shape(shapes)
        except ValueError:
            target = None
        if target is not None and all(r.shape == target for r in op.outputs):
            if base_name(name) not in POINTWISE:
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
        dims, flag = self._combined_dims(op, parts, rank, flag)
        mis = dict.fromkeys(m for st, _ in parts for m in st.misaligned)
        bad = flag is not None
        axes = []
        for a in range(self.naxes):
            new, ok = union_axis([(st.axes[a], a in pd) for st, pd in parts])
            bad = bad or not ok
            axes.append(new)
        if bad:
            mis[self.label(op) if flag is None else f"{self.label(op)} ({flag})"] = None
        return TensorRF(tuple(dims), tuple(axes), tuple(mis))

    def _combined_dims(self, op: OpRecord, parts: list, rank: int, flag: str | None) -> tuple[list, str | None]:
        """The output's dim -> axis map; `flag` is set when inputs put different axes on one dim."""
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
        return dims, flag

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


# --------------------------------------------------------------------------- entry points


def analyze(trace: Trace, model: str = "") -> RFResult:
    """RF of every tensor of an existing trace (e.g. `Profile.trace`); one
    `RFLayer` per module call, in the trace's order."""
    prop = Propagator(trace)
    prop.run()
    states = prop.states
    layers = []
    for call in trace.modules:
        ref = call.outputs[0] if call.outputs else None
        layers.append(
            RFLayer(
                name=label(call.path),
                path=call.path,
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
