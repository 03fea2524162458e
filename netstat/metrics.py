"""Trace -> Profile: totals, per layer, per type and per stage.

Everything comes from one traced forward (netstat.trace). Definitions
(DESIGN §3):

- params: every nn.Parameter element, shared tensors once; trainable /
  non-trainable split; buffers (BN running stats) apart.
- MAdds / FLOPs: the per-op formulas of netstat.formulas.
- activation bytes: bytes of every allocation the forward makes (views and
  in-place results allocate nothing); the model input is not included.
- peak activation bytes: the most bytes held at once by live allocations
  during an inference pass, the input included, from a liveness walk (an
  allocation lives from the op that makes it to the last op that reads it;
  the model's outputs live to the end). Weights are not activations.
- memory access (MAC, ShuffleNet V2 §2): bytes read (distinct input tensors,
  weights included) + bytes written (outputs) per op; views cost 0.
- arithmetic intensity: FLOPs / MAC bytes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import torch

from netstat import formulas
from netstat.display import Displayed, data_frame
from netstat.detection import DetectorCost, breakdown, published_gmacs_note
from netstat.quantized import float_difference, iter_packed, packed_params
from netstat.schema import SCHEMA_VERSION, label
from netstat.trace import OpRecord, Trace, TensorRef, module_paths


UNITS = {
    "params": "elements of nn.Parameter tensors (shared tensors once)",
    "buffers": "elements of registered buffers",
    "madds": "multiply-accumulates of conv, matmul / linear and attention only",
    "flops": "floating-point operations: 2 x MAdds + bias, norm, activation, pooling, element-wise, softmax, interpolation",
    "activation_bytes": "bytes of every tensor the forward allocates",
    "peak_activation_bytes": "most bytes held at once by live activations (input included)",
    "memory_access_bytes": "bytes read (inputs and weights) + bytes written (outputs) per op, summed; views cost 0",
    "arithmetic_intensity": "FLOPs per byte of memory access",
}

_NO_WRITE = {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided"}


@dataclass
class OpCost:
    """The cost of one recorded op."""

    madds: int
    flops: int
    read_bytes: int
    write_bytes: int
    alloc_bytes: int
    counted: bool

    @property
    def mac_bytes(self) -> int:
        return self.read_bytes + self.write_bytes


@dataclass
class Row:
    """One line of a breakdown (a module call, a type, or a stage)."""

    name: str
    type: str = ""
    depth: int = 0
    output_shape: list[list[int]] = field(default_factory=list)
    params: int = 0
    madds: int = 0
    flops: int = 0
    activation_bytes: int = 0
    memory_access_bytes: int = 0
    calls: int = 0
    is_leaf: bool = True
    call: int = 0  # a module row: which call of that module (0 for the first)
    path: str | None = None  # a module row: the module's path ("" for the root module); None for a type or stage row

    @property
    def key(self) -> tuple[str, int]:
        """(module path, call index) -- the name for a type or stage row: what
        joins this row to other views of the trace (RFLayer.key)."""
        return (self.name if self.path is None else self.path, self.call)

    @property
    def arithmetic_intensity(self) -> float | None:
        return self.flops / self.memory_access_bytes if self.memory_access_bytes else None

    def add(self, cost: OpCost) -> None:
        self.madds += cost.madds
        self.flops += cost.flops
        self.activation_bytes += cost.alloc_bytes
        self.memory_access_bytes += cost.mac_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "depth": self.depth,
            "output_shape": self.output_shape,
            "params": self.params,
            "madds": self.madds,
            "flops": self.flops,
            "activation_bytes": self.activation_bytes,
            "memory_access_bytes": self.memory_access_bytes,
            "arithmetic_intensity": self.arithmetic_intensity,
            "calls": self.calls,
            "is_leaf": self.is_leaf,
            "call": self.call,
            **({"path": self.path} if self.path is not None else {}),
        }


@dataclass
class Profile(Displayed):
    model: str
    input_shape: tuple[int, ...]
    device: str
    totals: dict[str, Any]
    layers: list[Row]
    by_type: list[Row]
    by_stage: list[Row]
    uncounted_ops: dict[str, int]
    notes: list[str]
    trace: Trace = field(repr=False)
    op_costs: list[OpCost] = field(repr=False, default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)  # {"shape", "dtype"} per forward argument
    detector: DetectorCost | None = None  # a torchvision detector's fixed / per-proposal / per-detection split
    published: dict[str, Any] | None = None  # what the model's source publishes (torchvision weights meta)

    def total(self, module: str | None = None) -> dict[str, Any]:
        """The model's totals, or one module's (a path such as "layer1.0"):
        its params and the cost of every call of it."""
        if module is None:
            return dict(self.totals)
        calls = [r for r in self.layers if r.path == module]
        if not calls:
            raise KeyError(f"no module '{module}' ran in this trace")
        merged = _merged(calls, module)
        return {"params": merged.params, "madds": merged.madds, "flops": merged.flops,
                "activation_bytes": merged.activation_bytes, "memory_access_bytes": merged.memory_access_bytes, "calls": merged.calls}

    def by_module(self, depth: int | None = None) -> dict[str, Row]:
        """One row per module path (every call of it merged), to `depth` (None: all)."""
        groups: dict[str, list[Row]] = defaultdict(list)
        for r in self.layers:
            if depth is None or r.depth <= depth:
                groups[r.path or ""].append(r)  # a layer row always has its path ("" for the root)
        return {path: _merged(rows, path) for path, rows in groups.items()}

    def by_operator(self) -> dict[str, dict[str, int]]:
        """Calls, MAdds and FLOPs per aten op ("aten.convolution.default")."""
        ops: dict[str, dict[str, int]] = {}
        for op, cost in zip(self.trace.ops, self.op_costs):
            entry = ops.setdefault(op.name, {"calls": 0, "madds": 0, "flops": 0})
            entry["calls"] += 1
            entry["madds"] += cost.madds
            entry["flops"] += cost.flops
        return ops

    def uncounted(self) -> dict[str, int]:
        """Ops with no formula, with their call counts: their FLOPs are missing from the totals."""
        return dict(self.uncounted_ops)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "input_shape": list(self.input_shape),
            "inputs": self.inputs,
            "device": self.device,
            "units": UNITS,
            "totals": self.totals,
            "layers": [r.to_dict() for r in self.layers],
            "by_type": [r.to_dict() for r in self.by_type],
            "by_stage": [r.to_dict() for r in self.by_stage],
            "uncounted_ops": self.uncounted_ops,
            "notes": self.notes,
        }
        if self.detector is not None:
            data["detector"] = self.detector.to_dict()
        if self.published is not None:
            data["published"] = self.published
        return data

    def to_pandas(self):
        """The per-layer rows (`to_dict()["layers"]`, one per module call) as a pandas DataFrame."""
        return data_frame(r.to_dict() for r in self.layers)

    def __repr__(self) -> str:
        return self.summary()


def _merged(rows: list[Row], path: str) -> Row:
    """Several calls of one module as one row (params once: they are the same tensors)."""
    first = rows[0]
    merged = Row(name=label(path), path=path, type=first.type, depth=first.depth, output_shape=first.output_shape, params=first.params, is_leaf=first.is_leaf)
    for r in rows:
        merged.madds += r.madds
        merged.flops += r.flops
        merged.activation_bytes += r.activation_bytes
        merged.memory_access_bytes += r.memory_access_bytes
        merged.calls += r.calls
    return merged


# ---------------------------------------------------------------------------


def used_tids(trace: Trace) -> set[int]:
    """Tensor values some op reads, or that the model returns."""
    used = {r.tid for op in trace.ops for r in op.inputs}
    used.update(r.tid for r in trace.outputs)
    return used


def materialised(op: OpRecord, used: set[int]) -> list[tuple[TensorRef, bool]]:
    """(output, allocates) for the outputs that count as memory. An auxiliary
    output (index >= 1) that nothing reads -- BN's saved statistics, pooling
    indices nobody unpools, attention's logsumexp -- is a kernel detail whose
    size differs across devices (cuDNN vs CPU vs meta), so it is left out."""
    return [(r, new) for i, (r, new) in enumerate(zip(op.outputs, op.allocates)) if i == 0 or r.tid in used]


def op_cost(op: OpRecord, storage_bytes: dict[int, int], used: set[int]) -> OpCost:
    """MAdds and FLOPs from the formula table, bytes from the tensors."""
    shapes = [r.shape for r in op.outputs]
    cost = formulas.cost_of(op.func, _shapes(op.args), _shapes(op.kwargs), shapes)
    kept = materialised(op, used)
    name = op.packet.__name__
    alloc = 0 if name in formulas.CONSTANTS else sum(r.nbytes for r, new in kept if new)
    if op.func.is_view or name in formulas.UNSAFE_VIEWS:
        read = write = 0
    else:
        seen: dict[int, TensorRef] = {r.tid: r for r in op.inputs}
        # A broadcast (expanded) view reads no more than its allocation holds.
        read = sum(min(r.nbytes, storage_bytes.get(r.storage, r.nbytes)) for r in seen.values())
        read += sum(w.nbytes for w in iter_packed(op.args))  # a quantized op's packed int8 weight and fp32 bias
        write = 0 if name in _NO_WRITE or name in formulas.CONSTANTS else sum(r.nbytes for r, _ in kept)
    if cost is None:
        return OpCost(0, 0, read, write, alloc, counted=False)
    return OpCost(cost.madds, cost.flops, read, write, alloc, counted=True)


def _shapes(tree: Any) -> Any:
    if isinstance(tree, TensorRef):
        return tree.shape
    if isinstance(tree, (list, tuple)):
        return type(tree)(_shapes(x) for x in tree)
    if isinstance(tree, dict):
        return {k: _shapes(v) for k, v in tree.items()}
    return tree


def activation_bytes(trace: Trace) -> dict[int, int]:
    """Size of each allocation an inference forward makes, and of its
    inputs: what its peak activation bytes walk over (netstat.memory)."""
    return _storage_bytes(trace, used_tids(trace))


def _storage_bytes(trace: Trace, used: set[int]) -> dict[int, int]:
    """Size of each allocation made during the forward (and of the input)."""
    sizes = {r.storage: r.nbytes for r in trace.inputs}
    for op in trace.ops:
        for ref, new in materialised(op, used):
            if new:
                sizes[ref.storage] = ref.nbytes
    return sizes


def peak_live_bytes(trace: Trace, storage_bytes: dict[int, int]) -> int:
    """The most bytes held at once by the allocations in `storage_bytes`
    (the input included): the one liveness walk, netstat.memory."""
    from netstat.memory import walk

    return walk(trace, storage_bytes).peak_bytes


def _unique_numel(tensors) -> int:
    seen: dict[int, int] = {}
    for t in tensors:
        seen.setdefault(id(t), t.numel())
    return sum(seen.values())


def param_totals(model: torch.nn.Module) -> dict[str, int]:
    """Elements of every nn.Parameter (shared tensors once), trainable and
    frozen apart, and of the buffers. A quantized module's packed weight and
    bias (torch.ao.nn.quantized Conv / Linear / Embedding, dynamic RNNs) are
    parameters too though no nn.Parameter holds them: each packed tensor
    counts by its elements (netstat.quantized.packed_params), as
    non-trainable (no gradient reaches a packed weight)."""
    from netstat.quantized import packed_params

    params = list(model.parameters())  # named_parameters de-duplicates shared tensors
    packed = sum(p.numel for p in packed_params(model))
    return {
        "params": _unique_numel(params) + packed,
        "trainable_params": _unique_numel(p for p in params if p.requires_grad),
        "non_trainable_params": _unique_numel(p for p in params if not p.requires_grad) + packed,
        "buffers": _unique_numel(model.buffers()),
    }


@dataclass
class _Ownership:
    """Which module path each parameter tensor is counted under, so that
    every breakdown counts a shared tensor once: a tensor held by one module
    belongs to it; one held by several (tied weights) to the holder whose
    call comes first in the trace, else to its first name's holder."""

    owned: dict[str, int]  # module path -> elements of the parameters it owns
    ties: list[str]  # one sentence per tied tensor

    @classmethod
    def of(cls, model: torch.nn.Module, trace: Trace) -> "_Ownership":
        paths = module_paths(model)
        holders: dict[int, list[str]] = defaultdict(list)  # tensor id -> holder paths, registration order
        numel: dict[int, int] = {}
        names: dict[int, list[str]] = defaultdict(list)
        for name, p in model.named_parameters(remove_duplicate=False):
            prefix, _, _ = name.rpartition(".")
            holder = paths[id(model.get_submodule(prefix))]
            if holder not in holders[id(p)]:
                holders[id(p)].append(holder)
                names[id(p)].append(name)
            numel[id(p)] = p.numel()
        call_order: dict[Any, Any] = {}
        for call in trace.modules:
            call_order.setdefault(call.path, len(call_order))
        owned: dict[str, int] = defaultdict(int)
        for packed in packed_params(model):  # a quantized module's int8 weight and bias
            owned[packed.module] += packed.numel
        ties = []
        for key, hs in holders.items():
            owner = min(hs, key=lambda h: call_order.get(h, len(call_order)))
            owned[owner] += numel[key]
            if len(hs) > 1:
                ties.append(
                    f"{', '.join(names[key])} are one shared tensor ({numel[key]:,} parameters): counted once, under '{label(owner)}'."
                )
        return cls(dict(owned), ties)

    def recursive(self) -> dict[str, int]:
        """Parameters under each module path (a path's own and its children's)."""
        counts: dict[str, int] = defaultdict(int)
        for path, n in self.owned.items():
            parts = path.split(".") if path else []
            for i in range(len(parts) + 1):
                counts[".".join(parts[:i])] += n
        return counts


def _layer_rows(trace: Trace, costs: list[OpCost], owners: _Ownership) -> list[Row]:
    rows = []
    recursive = owners.recursive()
    for call in trace.modules:
        row = Row(
            name=label(call.path),
            path=call.path,
            type=call.type,
            depth=call.depth,
            output_shape=[list(r.shape) for r in call.outputs],
            params=recursive.get(call.path, 0) if call.call == 0 else 0,
            calls=1,
            is_leaf=call.is_leaf,
            call=call.call,
        )
        for cost in costs[call.first_op : call.end_op]:
            row.add(cost)
        rows.append(row)
    return rows


def _type_rows(trace: Trace, costs: list[OpCost], model: torch.nn.Module, owners: _Ownership) -> list[Row]:
    """Ops grouped by the type of the leaf module that ran them; ops called
    directly in a forward (x + identity, torch.cat) are grouped by op name."""
    leaf_type = {c.path: c.type for c in trace.modules if c.is_leaf}
    rows: dict[str, Row] = {}

    def row(key: str) -> Row:
        return rows.setdefault(key, Row(name=key, type=key))

    for call in trace.modules:
        if call.is_leaf:
            row(call.type).calls += 1
    for op, cost in zip(trace.ops, costs):
        key = leaf_type.get(op.module) or f"{op.packet.__name__} (functional)"
        r = row(key)
        r.add(cost)
        if op.module not in leaf_type:
            r.calls += 1
    for path, own in owners.owned.items():
        row(type(model.get_submodule(path)).__name__).params += own
    return sorted(rows.values(), key=lambda r: (-r.params, -r.madds, -r.flops, r.name))


def _spatial(ref: TensorRef) -> tuple[int, ...] | None:
    return ref.shape[2:] if len(ref.shape) >= 3 else None


def _stage_rows(trace: Trace, costs: list[OpCost]) -> list[Row]:
    """Consecutive ops at one output resolution form a stage ("stride 4 ·
    56x56"). Global (1x1) ops stay in the stage that runs them (SE blocks);
    vector ops after the last spatial op form the "head"; a short detour
    between two runs of one resolution (a block's 1x1 conv before its strided
    conv, or its shortcut) is folded into that stage."""
    in_spatial = _spatial(trace.inputs[0]) if trace.inputs else None
    keys: list[tuple | None] = []
    for op in trace.ops:
        sp = _spatial(op.outputs[0]) if op.outputs else None
        keys.append(sp if sp and any(s > 1 for s in sp) else None)
    last_spatial = max((i for i, k in enumerate(keys) if k is not None), default=-1)
    first_key = next((k for k in keys if k is not None), ("head",))
    for i in range(len(keys)):
        if i > last_spatial:
            keys[i] = ("head",)
        elif keys[i] is None:
            keys[i] = keys[i - 1] if i else first_key
    runs = _fold_detours(_runs(keys))
    rows: list[Row] = []
    weights_seen: set[int] = set()
    for key, start, end in runs:
        r = Row(name=_stage_name(key, in_spatial), type="stage")
        for op, cost in zip(trace.ops[start:end], costs[start:end]):
            r.add(cost)
            r.calls += 1
            for ref in op.inputs:
                if ref.tid in trace.weights and ref.tid not in trace.buffers and ref.tid not in weights_seen:
                    weights_seen.add(ref.tid)
                    r.params += ref.numel
            if key != ("head",) and op.outputs and _spatial(op.outputs[0]) == key:
                r.output_shape = [list(op.outputs[0].shape)]
        rows.append(r)
    return rows


_DETOUR_OPS = 8  # a run this short between two runs of one resolution is folded into them


def _runs(keys: list) -> list[tuple]:
    runs: list[list] = []
    for i, key in enumerate(keys):
        if runs and runs[-1][0] == key:
            runs[-1][2] = i + 1
        else:
            runs.append([key, i, i + 1])
    return [tuple(r) for r in runs]


def _fold_detours(runs: list[tuple]) -> list[tuple]:
    out: list[tuple] = []
    i = 0
    while i < len(runs):
        key, start, end = runs[i]
        while i + 2 < len(runs) and runs[i + 2][0] == key and runs[i + 1][2] - runs[i + 1][1] <= _DETOUR_OPS:
            end = runs[i + 2][2]
            i += 2
        if out and out[-1][0] == key:
            out[-1] = (key, out[-1][1], end)
        else:
            out.append((key, start, end))
        i += 1
    return out


def _stage_name(key: tuple, in_spatial: tuple[int, ...] | None) -> str:
    if key == ("head",):
        return "head"
    size = "x".join(map(str, key))
    if in_spatial and len(in_spatial) == len(key) and all(k > 0 for k in key):
        stride = in_spatial[0] / key[0]
        return f"stride {stride:g} · {size}"
    return size


RNN_CPU_NOTE = (
    "On CPU, PyTorch's {types} multiplies the inputs of all time steps by W_ih in one matrix product before the "
    "recurrence (on meta and CUDA it is one product per step): MAdds and FLOPs are the same as on meta, but memory access here "
    "reads W_ih once per layer rather than once per step, and peak activation memory holds every step's projection at once. {bytes}"
)
RNN_SAME_BYTES = "Activation bytes are the same as on meta: each layer's input is already contiguous in time-major order."
RNN_COPIED = (
    "Activation bytes differ too: {calls} got an input that is not contiguous in time-major order ({example}), so for its "
    "first layer CPU copies the input to time-major order ({steps}×{batch}×{size}) and adds the bias into a second tensor of the "
    "projection's size ({steps}×{batch}×{gates}), once per direction ({directions}): tensors a meta trace neither allocates nor "
    "reads and writes."
)
_RNNS = (torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN)


def _device_notes(trace: Trace, model: torch.nn.Module) -> list[str]:
    """Where a trace on this device really differs from one on meta."""
    types = sorted({type(m).__name__ for m in model.modules() if type(m) in _RNNS})
    if trace.device != "cpu" or not types:
        return []
    copied = _rnn_copies(trace, model)
    if not copied:
        return [RNN_CPU_NOTE.format(types=" / ".join(types), bytes=RNN_SAME_BYTES)]
    path, x, rnn = copied[0]
    steps, batch = (x.shape[1], x.shape[0]) if rnn.batch_first else x.shape[:2]
    calls = label(path) if len(copied) == 1 else f"{len(copied)} calls (the first: {label(path)})"
    example = ("batch_first=True, " if rnn.batch_first else "") + "input " + "×".join(map(str, x.shape))
    sizes = dict(steps=steps, batch=batch, size=x.shape[2], gates=rnn.get_parameter("weight_ih_l0").shape[0], directions=2 if rnn.bidirectional else 1)
    return [RNN_CPU_NOTE.format(types=" / ".join(types), bytes=RNN_COPIED.format(calls=calls, example=example, **sizes))]


def _rnn_copies(trace: Trace, model: torch.nn.Module) -> list[tuple[str, TensorRef, torch.nn.Module]]:
    """The RNN calls whose batched input, in time-major order (T, N, I), is not
    contiguous -- batch_first with more than one sequence and more than one
    step: (path, input, module) each. CPU's one product over all steps then
    reads a copy, and its `linear` adds the bias out of place."""
    found = []
    for call in trace.modules:
        rnn = model.get_submodule(call.path)
        if type(rnn) not in _RNNS or not call.inputs or len(call.inputs[0].shape) != 3:
            continue
        x = call.inputs[0]
        order = (1, 0, 2) if rnn.batch_first else (0, 1, 2)
        if x.stride and not _is_contiguous([x.shape[d] for d in order], [x.stride[d] for d in order]):
            found.append((call.path, x, rnn))
    return found


def _is_contiguous(shape: list[int], stride: list[int]) -> bool:
    """Row-major contiguous, ignoring the strides of size-1 dims (as PyTorch does)."""
    expected = 1
    for n, st in zip(reversed(shape), reversed(stride)):
        if n != 1 and st != expected:
            return False
        expected *= n
    return True


def build_profile(name: str, input_shape: tuple[int, ...], trace: Trace, model: torch.nn.Module) -> Profile:
    used = used_tids(trace)
    storage_bytes = _storage_bytes(trace, used)
    costs = [op_cost(op, storage_bytes, used) for op in trace.ops]
    uncounted = Counter(op.name for op, c in zip(trace.ops, costs) if not c.counted)
    totals: dict[str, Any] = param_totals(model)
    owners = _Ownership.of(model, trace)
    madds = sum(c.madds for c in costs)
    flops = sum(c.flops for c in costs)
    mac = sum(c.mac_bytes for c in costs)
    totals.update(
        madds=madds,
        flops=flops,
        activation_bytes=sum(c.alloc_bytes for c in costs),
        peak_activation_bytes=peak_live_bytes(trace, storage_bytes),
        memory_access_bytes=mac,
        arithmetic_intensity=flops / mac if mac else None,
        output_shape=[list(r.shape) for r in trace.outputs],
        partial=bool(uncounted),  # some ops have no formula: MAdds / FLOPs are a lower bound
    )
    detector = None
    if trace.detector is not None:
        detector = breakdown(trace.detector, [op.module for op in trace.ops], [c.madds for c in costs], [c.flops for c in costs])
    return Profile(
        model=name,
        input_shape=tuple(input_shape),
        device=trace.device,
        totals=totals,
        layers=_layer_rows(trace, costs, owners),
        by_type=_type_rows(trace, costs, model, owners),
        by_stage=_stage_rows(trace, costs),
        uncounted_ops=dict(sorted(uncounted.items())),
        notes=list(trace.notes) + owners.ties + _device_notes(trace, model) + _unread_params(model, trace, used),
        trace=trace,
        op_costs=costs,
        inputs=[{"shape": list(r.shape), "dtype": str(r.dtype).removeprefix("torch.")} for r in trace.inputs],
        detector=detector,
    )


def _unread_params(model: torch.nn.Module, trace: Trace, used: set[int]) -> list[str]:
    """A note naming the parameters no traced op reads (GoogLeNet's auxiliary
    heads, which run only in training): counted in params, never in MAdds."""
    unread_names = {name for tid, name in trace.weights.items() if tid not in used and tid not in trace.buffers}
    if not unread_names:
        return []
    sizes = dict((n, p.numel()) for n, p in model.named_parameters() if n in unread_names)
    groups: dict[str, int] = defaultdict(int)
    for name, n in sizes.items():
        groups[_widest_unread(name, unread_names, model)] += n
    listed = ", ".join(f"{label(path)} ({n:,})" for path, n in sorted(groups.items()))
    return [f"{sum(sizes.values()):,} parameters are never read by the traced forward: {listed}."]


def _widest_unread(name: str, unread: set[str], model: torch.nn.Module) -> str:
    """The outermost module holding `name` whose parameters are all unread."""
    parts = name.split(".")[:-1]
    for i in range(len(parts) + 1):
        prefix = ".".join(parts[:i])
        under = [n for n, _ in model.get_submodule(prefix).named_parameters(prefix=prefix)]
        if all(n in unread for n in under):
            return prefix
    return ".".join(parts)


def published_note(published: dict[str, Any] | None, result: Profile, quantized: bool) -> list[str]:
    """What torchvision publishes for the weights entry, beside what was
    counted, and why they differ where netstat knows: an int8 model's params
    (the float model's are published), a detector's boxes."""
    if not published or published.get("params") is None:
        return []
    params, gmacs = result.totals["params"], round(result.totals["madds"] / 1e9, 3)
    same = params == published["params"] and gmacs == published.get("gmacs")
    note = f"torchvision publishes {published['params']:,} params and {published.get('gmacs')} GMACs for {published['weights']}: "
    note += "the same." if same else f"here {params:,} and {gmacs} G."
    if quantized and params != published["params"]:
        note += " " + _float_params_sentence(published, result)
    if result.detector is not None and published.get("gmacs") is not None and gmacs != published["gmacs"]:
        note += " " + published_gmacs_note(result.detector, published["gmacs"])
    return [note]


def _float_params_sentence(published: dict[str, Any], result: Profile) -> str:
    """torchvision's params are its float model's: how many more that is than
    the int8 model's, in BatchNorms folded into convs and modules it lacks."""
    params = result.totals["params"]
    more = f"torchvision's params are the float model's: {published['params'] - params:,} more than here"
    ran = {call.path: call.is_leaf for call in result.trace.modules}
    split = float_difference(published["weights"], published["params"], params, ran)
    if split is None:
        return f"{more}, which netstat cannot split exactly into BatchNorms folded into convs and modules the int8 model lacks."
    parts = [f"{split.folded:,} that folding each BatchNorm into its conv removes (the conv's bias replaces BatchNorm's weight and bias)"]
    parts += [f"{n:,} in {label(path)}, which the int8 model does not have" for path, n in split.absent.items()]
    return f"{more} = {' + '.join(parts)}."
