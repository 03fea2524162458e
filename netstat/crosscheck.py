"""netstat's counts next to fvcore, thop and torch.utils.flop_counter, and why they differ.

Each peer counts something slightly different. The difference between
netstat's FLOPs and a peer's total is broken down by *op class* (convolution,
linear / matmul, normalisation, activation, ...): for every class, netstat's
FLOPs minus the peer's count, and the peer's rule that produces it. The terms
add up exactly: ``netstat FLOPs - peer total == sum of the class differences``.

The peers' rules, read from their sources (fvcore 0.1.5, thop 0.1.1, torch 2.x):

- fvcore ``FlopCountAnalysis`` (JIT trace): one per multiply-add of conv,
  linear, matmul, bmm, einsum (no bias); inference batch norm 2 per element (1
  without affine), layer / group norm 5 (4); ``adaptive_avg_pool2d`` 1 per
  input element (``.mean()`` is ignored); nearest upsampling 1 and bilinear 4
  per output; everything else (activations, pooling, element-wise ops,
  softmax, attention) 0.
- thop ``profile`` (forward hooks on leaf modules of known types): nn.Conv 1
  per multiply-add (no bias; a transposed conv uses its *input* channels),
  nn.Linear in_features x outputs, affine norm layers 4 per element (2 without
  affine), nn.AvgPool 1 per output, nn.AdaptiveAvgPool (in/out + 1) per output,
  nn.Softmax 3n - 1 per row, nn.Upsample 1 / 5 / 11 / 259 per output (nearest,
  linear, bilinear, bicubic), nn.PReLU 1 per element; ReLU, max pooling and
  every functional op (``x + identity``, ``F.interpolate``, ``torch.matmul``)
  0. Parameters only of leaf modules it has a rule for and that ran.
- ``torch.utils.flop_counter.FlopCounterMode`` (dispatch): 2 per multiply-add
  of convolution, mm / addmm / bmm / baddbmm (no bias) and the attention
  kernels it knows; nothing else.

Peers run on real CPU tensors (fvcore and thop need them), on a CPU copy of
the model in eval mode: a zoo model is built fresh, a user's module is deep-
copied, so the user's model is never modified (thop would leave buffers on it).
They get the model's whole inputs (`Inputs.materialise("cpu")`: every
positional input, int64 token ids kept int64); fvcore and thop take
positional inputs only, so for a model with keyword inputs they are skipped,
and flop_counter, which calls ``model(*args, **kwargs)``, takes them all.
They run in netstat's own modes (`netstat.isolation.own_modes`), so the
numbers are the same inside the caller's ``torch.inference_mode()`` or
``no_grad()``. A peer that is not installed, skipped or crashes is reported
as such, never hidden.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib.util
import io
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch

from netstat import ops
from netstat.errors import first_line
from netstat.formulas import bind, numel
from netstat.trace import OpRecord, TensorRef

PEERS = ("fvcore", "thop", "flop_counter")

# op class key -> label, in display order.
OP_CLASSES: dict[str, str] = {
    "conv": "convolution",
    "matmul": "linear / matmul",
    "attention": "attention",
    "norm": "normalisation",
    "activation": "activation",
    "softmax": "softmax",
    "maxpool": "max pool",
    "avgpool": "avg pool",
    "gap": "global / adaptive avg pool",
    "reduction": "reductions",
    "elementwise": "element-wise",
    "interp": "interpolation",
    "nearest": "nearest upsample",
    "movement": "data movement",
    "uncounted": "uncounted",
    "other": "other",
}

def op_class_of(name: str) -> str | None:
    """The op class of an aten op name: its kind in the op table (netstat.ops)
    when that kind is a class here; None for the rest (data movement, or uncounted)."""
    kind = ops.kind_of(name)
    return kind if kind in OP_CLASSES else None


def _spatial_reduction(bound: dict[str, Any]) -> bool:
    """True when a reduction covers the last two axes of a >= 3-D tensor and
    neither batch nor channels: a global pooling written as `x.mean((2, 3))`."""
    shape = bound.get("self")
    dims = bound.get("dim")
    if not isinstance(shape, tuple) or len(shape) < 3 or dims is None:
        return False
    dims = [dims] if isinstance(dims, int) else list(dims)
    norm = {d % len(shape) for d in dims}
    return {len(shape) - 1, len(shape) - 2} <= norm and not norm & {0, 1}


def op_class(op: OpRecord, bound: dict[str, Any], counted: bool) -> str:
    """The op class of one netstat op record (`bound`: its arguments by name,
    tensors as shapes)."""
    name = op.packet.__name__
    cls = op_class_of(name)
    if cls == "reduction" and _spatial_reduction(bound):
        return "maxpool" if name in ("amax", "max") else "gap" if name == "mean" else cls
    if cls is not None:
        return cls
    return "movement" if counted else "uncounted"


# ---------------------------------------------------------------------------
# Results.
# ---------------------------------------------------------------------------


@dataclass
class ClassStat:
    """netstat's own numbers for one op class."""

    madds: int = 0
    flops: int = 0
    calls: int = 0


@dataclass
class Term:
    """One op class in the explanation of netstat FLOPs minus a peer's total."""

    op_class: str
    peer_name: str
    netstat_flops: int
    netstat_madds: int
    peer: int
    predicted: int  # what the peer's documented rule gives on netstat's ops

    @property
    def difference(self) -> int:
        return self.netstat_flops - self.peer

    @property
    def explained(self) -> bool:
        return self.peer == self.predicted

    @property
    def label(self) -> str:
        return OP_CLASSES.get(self.op_class, self.op_class)

    def to_dict(self) -> dict[str, Any]:
        return {
            "op_class": self.op_class,
            "label": self.label,
            "netstat_flops": self.netstat_flops,
            "netstat_madds": self.netstat_madds,
            "peer": self.peer,
            "difference": self.difference,
            "predicted_peer": self.predicted,
            "explained": self.explained,
            "why": why(self),
        }


@dataclass
class PeerResult:
    """One peer's totals, per-class counts and the explanation."""

    name: str
    status: str  # "ok" | "missing" | "skipped" | "crashed"
    message: str = ""
    version: str | None = None
    total: int | None = None
    params: int | None = None
    predicted_params: int | None = None
    by_class: dict[str, int] = field(default_factory=dict)
    terms: list[Term] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def unexplained(self) -> int:
        """Sum of |peer - predicted| over classes: 0 when every difference is explained."""
        return sum(abs(t.peer - t.predicted) for t in self.terms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "message": self.message,
            "version": self.version,
            "counts": CONVENTIONS[self.name],
            "total": self.total,
            "params": self.params,
            "predicted_params": self.predicted_params,
            "by_class": dict(self.by_class),
            "explanation": [t.to_dict() for t in self.terms],
            "unexplained": self.unexplained if self.ok else None,
        }


@dataclass
class CrossCheck:
    model: str
    input_shape: tuple[int, ...]
    params: int
    madds: int
    flops: int
    classes: dict[str, ClassStat]
    peers: list[PeerResult]
    notes: list[str] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)  # every input of the forward (Inputs.to_dict)

    def peer(self, name: str) -> PeerResult:
        return next(p for p in self.peers if p.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "input_shape": list(self.input_shape),
            "inputs": list(self.inputs),
            "netstat": {"params": self.params, "madds": self.madds, "flops": self.flops},
            "netstat_by_class": {k: {"madds": v.madds, "flops": v.flops, "calls": v.calls} for k, v in self.classes.items()},
            "peers": [p.to_dict() for p in self.peers],
            "notes": list(self.notes),
        }


CONVENTIONS = {
    "fvcore": "1 per multiply-add (conv, linear, matmul) + batch norm, adaptive avg pool, upsampling",
    "thop": "1 per multiply-add of nn.Conv / nn.Linear + norm, avg pool, softmax, upsample modules; functional ops unseen",
    "flop_counter": "2 per multiply-add of conv, matmul and attention; nothing else",
}

# Why a peer differs from netstat, per op class (classes not listed: `_IGNORED`).
_WHY: dict[str, dict[str, str]] = {
    "fvcore": {
        "conv": "fvcore counts 1 per multiply-add and no bias; netstat 2 per MAdd + bias adds",
        "matmul": "fvcore counts 1 per multiply-add and no bias; netstat 2 per MAdd + bias adds",
        "attention": "fvcore has no rule for attention ops (counted 0)",
        "norm": "both count inference batch norm as 2 per element (fvcore 1 without affine); layer / group norm: fvcore 5, netstat 8",
        "gap": "fvcore counts adaptive_avg_pool2d as 1 per input element but ignores .mean(); netstat sums the windows",
        "interp": "fvcore counts bilinear upsampling as 4 per output, netstat 7 (4 multiplies, 3 adds); other modes 0",
        "nearest": "fvcore counts nearest upsampling (2-D) as 1 per output; netstat counts it as data movement (0)",
    },
    "thop": {
        "conv": "thop counts 1 per multiply-add of nn.Conv modules and no bias (F.conv2d unseen); netstat 2 per MAdd + bias adds",
        "matmul": "thop counts nn.Linear as in_features x outputs and no bias; torch.matmul / bmm in forward code are unseen; netstat 2 per MAdd + bias adds",
        "attention": "thop has no rule for attention (counted 0)",
        "norm": "thop counts affine norm layers as 4 per element (2 without affine); netstat 2 for inference batch norm, 8 for layer / group norm",
        "activation": "thop counts activations as 0 (ReLU, ReLU6, LeakyReLU) or has no rule for them (SiLU, Hardswish, Sigmoid, ...); F.relu unseen",
        "softmax": "thop counts nn.Softmax as 3n - 1 per row; netstat 5 per element; F.softmax unseen",
        "avgpool": "thop counts nn.AvgPool as 1 per output; netstat k x k per output",
        "gap": "thop counts nn.AdaptiveAvgPool as (in / out + 1) per output; .mean() and F.adaptive_avg_pool2d unseen",
        "interp": "thop counts nn.Upsample as 5 / 11 / 259 per output (linear, bilinear, bicubic), F.interpolate unseen; netstat 3 / 7 / 31",
        "nearest": "thop counts nn.Upsample(mode='nearest') as 1 per output; netstat 0 (data movement)",
        "elementwise": "functional ops (x + identity, x * scale) are invisible to thop's module hooks",
    },
    "flop_counter": {
        "conv": "flop_counter counts 2 per multiply-add and no bias",
        "matmul": "flop_counter counts 2 per multiply-add of mm / addmm / bmm and no bias",
        "attention": "flop_counter counts 2 per multiply-add of the attention kernels it has a rule for (not the CPU flash kernel), no scaling or softmax",
    },
}
_IGNORED = {
    "fvcore": "fvcore has no rule for {label} (counted 0)",
    "thop": "thop counts {label} as 0 or cannot see it",
    "flop_counter": "flop_counter counts only convolution, matmul and attention",
}


def rule_text(peer: str, op_class: str) -> str:
    """The peer's rule for an op class next to netstat's, in one line."""
    if op_class == "movement":
        return "data movement: 0 FLOPs for both"
    if op_class == "uncounted":
        return "ops netstat has no formula for (listed as uncounted)"
    if op_class == "other":
        return f"{peer} ops netstat has no class for"
    return _WHY.get(peer, {}).get(op_class) or _IGNORED.get(peer, "").format(label=OP_CLASSES.get(op_class, op_class))


def why(term: Term) -> str:
    """One line: why netstat and the peer differ on this op class (with a
    warning when the peer counted what its rule does not predict)."""
    text = "0 for both" if term.netstat_flops == 0 and term.peer == 0 else rule_text(term.peer_name, term.op_class)
    extra = term.netstat_flops - 2 * term.netstat_madds  # bias adds (conv, linear); scaling and softmax (attention)
    what = "scaling and softmax" if term.op_class == "attention" else "bias adds"
    if term.explained and term.op_class in ("conv", "matmul", "attention") and term.netstat_madds:
        if term.peer == term.netstat_madds:
            text += f": {term.netstat_madds:,} for the second FLOP of every MAdd" + (f" + {extra:,} {what}" if extra else "")
        elif term.peer == 2 * term.netstat_madds and extra:
            text += f"; netstat adds {extra:,} {what}"
    if not term.explained:
        text += f"; UNEXPLAINED: the rule predicts {term.predicted:,}, {term.peer_name} counted {term.peer:,}"
    return text


# ---------------------------------------------------------------------------
# The peers' rules, applied to netstat's own records (the "predicted" counts).
# ---------------------------------------------------------------------------


def _fvcore_rule(name: str, bound: dict[str, Any], madds: int, out: list) -> int:
    cls = op_class_of(name)
    if cls in ("conv", "matmul") and name not in ("dot", "mv", "vdot"):
        return madds
    if cls == "norm":
        size = numel(bound.get("input"))
        affine = bound.get("weight") is not None
        if name in ("native_layer_norm", "native_group_norm") or bound.get("training") is True:
            return size * (5 if affine else 4)
        return size * (2 if affine else 1)
    if name == "_adaptive_avg_pool2d" or name == "adaptive_avg_pool2d":
        return numel(bound.get("self"))
    if name == "mean":  # adaptive_avg_pool2d(x, 1) becomes x.mean([-1, -2], keepdim=True)
        dims = bound.get("dim")
        if dims is not None and list(dims) == [-1, -2] and bound.get("keepdim"):
            return numel(bound.get("self"))
        return 0
    if name == "upsample_nearest2d":
        return numel(out[0])
    if name == "upsample_bilinear2d":
        return 4 * numel(out[0])
    return 0


@functools.cache
def _flop_counter_ops() -> frozenset[str]:
    from torch.utils.flop_counter import flop_registry

    return frozenset(_packet_name(p) for p in flop_registry)


def _packet_name(packet: Any) -> str:
    """'convolution' for aten.convolution (an OpOverloadPacket or its string)."""
    return getattr(packet, "__name__", str(packet)).split(".")[-1]


def _flop_counter_rule(name: str, madds: int) -> int:
    return 2 * madds if name in _flop_counter_ops() else 0


_THOP_UPSAMPLE = {"nearest": 1, "linear": 5, "bilinear": 11, "bicubic": 259}


def _thop_module_rule(module: torch.nn.Module, x: tuple[int, ...] | None, y: tuple[int, ...] | None) -> tuple[str, int]:
    """(op class, thop's count) for one call of a leaf module, from the
    module's attributes and its input / output shapes."""
    nn = torch.nn
    cls = _thop_type_class(module)
    if x is None or y is None:
        return cls, 0
    if isinstance(module, nn.modules.conv._ConvNd):
        return cls, numel(y) * (x[1] // module.groups) * numel(module.weight.shape[2:])
    if type(module) in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.LayerNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d):
        affine = getattr(module, "affine", False) or getattr(module, "elementwise_affine", False)
        return cls, 2 * numel(x) * (2 if affine else 1)
    if type(module) is nn.Linear:
        return cls, module.in_features * numel(y)
    if type(module) is nn.Softmax and module.dim is not None:
        n = x[module.dim]
        return cls, (numel(x) // n) * (3 * n - 1)
    if type(module) in (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d):
        return cls, numel(y)
    if type(module) in (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d):
        kernel = 1.0
        for i, o in zip(x[2:], y[2:]):
            kernel *= i / o
        return cls, int((kernel + 1) * numel(y))
    if type(module) in (nn.Upsample, nn.UpsamplingBilinear2d, nn.UpsamplingNearest2d):
        return cls, _THOP_UPSAMPLE.get(module.mode, 0) * numel(y)
    if type(module) is nn.PReLU:
        return cls, numel(x)
    return cls, 0


def _thop_type_class(module: torch.nn.Module) -> str:
    nn = torch.nn
    if isinstance(module, nn.modules.conv._ConvNd):
        return "conv"
    if isinstance(module, (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)):
        return "norm"
    if isinstance(module, nn.Linear):
        return "matmul"
    if isinstance(module, (nn.Softmax, nn.LogSoftmax)):
        return "softmax"
    if isinstance(module, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
        return "avgpool"
    if isinstance(module, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)):
        return "gap"
    if isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
        return "maxpool"
    if isinstance(module, nn.Upsample):
        return "nearest" if module.mode == "nearest" else "interp"
    if isinstance(module, (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.ELU, nn.Mish, nn.Softplus, nn.Hardtanh)):
        return "activation"
    if isinstance(module, nn.MultiheadAttention):
        return "attention"
    return "other"


def _thop_handled(module: torch.nn.Module) -> bool:
    from thop.profile import register_hooks

    return type(module) in register_hooks


# ---------------------------------------------------------------------------
# Running the peers.
# ---------------------------------------------------------------------------


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


@contextlib.contextmanager
def _quiet():
    """Peers print and warn; keep it off the user's terminal."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _run_fvcore(model: torch.nn.Module, args: tuple, kwargs: dict) -> PeerResult:
    from fvcore.nn import FlopCountAnalysis, parameter_count

    analysis = FlopCountAnalysis(model, args).unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    by_class: dict[str, int] = {}
    for name, count in analysis.by_operator().items():
        cls = {"linear": "matmul", "addmm": "matmul", "einsum": "matmul", "conv": "conv", "batch_norm": "norm", "group_norm": "norm",
               "layer_norm": "norm", "instance_norm": "norm", "adaptive_avg_pool2d": "gap"}.get(name) or op_class_of(name) or "other"
        by_class[cls] = by_class.get(cls, 0) + int(count)
    return PeerResult("fvcore", "ok", total=int(analysis.total()), params=int(parameter_count(model)[""]), by_class=by_class)


def _run_thop(model: torch.nn.Module, args: tuple, kwargs: dict) -> PeerResult:
    import thop

    total, params, layers = thop.profile(model, inputs=args, verbose=False, ret_layer_info=True)
    by_class: dict[str, int] = {}

    def walk(prefix: str, tree: dict) -> None:
        for name, (ops, _, children) in tree.items():
            path = prefix + name
            if children:
                walk(path + ".", children)
            elif ops:
                cls = _thop_type_class(model.get_submodule(path))
                by_class[cls] = by_class.get(cls, 0) + int(round(ops))

    walk("", layers)
    rest = int(round(total)) - sum(by_class.values())
    if rest:
        cls = _thop_type_class(model)
        by_class[cls] = by_class.get(cls, 0) + rest
    return PeerResult("thop", "ok", total=int(round(total)), params=int(round(params)), by_class=by_class)


def _run_flop_counter(model: torch.nn.Module, args: tuple, kwargs: dict) -> PeerResult:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model(*args, **kwargs)
    by_class: dict[str, int] = {}
    for packet, count in counter.get_flop_counts().get("Global", {}).items():
        cls = op_class_of(_packet_name(packet)) or "other"
        by_class[cls] = by_class.get(cls, 0) + int(count)
    return PeerResult("flop_counter", "ok", total=int(counter.get_total_flops()), by_class=by_class)


_RUNNERS = {"fvcore": _run_fvcore, "thop": _run_thop, "flop_counter": _run_flop_counter}
_PACKAGES = {"fvcore": "fvcore", "thop": "thop", "flop_counter": "torch"}
_TAKES_KEYWORDS = {"flop_counter"}  # fvcore and thop pass one tuple of positional inputs


def run_peers(analysis, peers: tuple[str, ...] = PEERS) -> list[PeerResult]:
    """Run each peer on a copy of the analysis's CPU model, in eval mode (the
    peers may change it: thop, run last, leaves buffers behind on modules it
    has no rule for), on the model's whole inputs made on CPU, in netstat's
    own modes; a peer that is not installed, cannot take keyword inputs or
    crashes gets that status and the reason."""
    from netstat.isolation import own_modes

    results: dict[str, PeerResult] = {}
    model: torch.nn.Module | None = None
    build_error: str | None = None
    with own_modes():
        for name in sorted(peers, key=lambda n: n == "thop"):
            version = _version(_PACKAGES[name])
            if name != "flop_counter" and importlib.util.find_spec(name) is None:
                results[name] = PeerResult(name, "missing", f"{name} is not installed (pip install {name})")
                continue
            skip = _cannot_take(name, analysis.source.inputs)
            if skip:
                results[name] = PeerResult(name, "skipped", skip, version)
                continue
            if model is None and build_error is None:
                try:
                    model = copy.deepcopy(analysis.cpu_model()).eval().requires_grad_(False)
                except Exception as err:  # noqa: BLE001 - report, do not crash
                    build_error = f"the model cannot be built on CPU: {first_line(err)}"
            if build_error is not None:
                results[name] = PeerResult(name, "crashed", build_error, version)
                continue
            results[name] = _run_peer(name, model, analysis.source.inputs, version)
    return [results[name] for name in peers]


def _cannot_take(name: str, inputs) -> str:
    """Why the peer cannot run on these inputs, in one sentence ('' when it can)."""
    if name in _TAKES_KEYWORDS or not inputs.kwargs:
        return ""
    keywords = ", ".join(key for key, _ in inputs.kwargs)
    return f"{name} passes only positional inputs to the model, and this model also takes keyword inputs ({keywords})."


def _run_peer(name: str, model: torch.nn.Module, inputs, version: str | None) -> PeerResult:
    """One peer on fresh CPU tensors of the inputs (a peer cannot change the next one's)."""
    try:
        args, kwargs = inputs.materialise("cpu")
        with _quiet():  # not no_grad: flop_counter's module tracker needs autograd (CaiT, PiT); the copy has requires_grad off
            result = _RUNNERS[name](model, args, kwargs)
    except Exception as err:  # noqa: BLE001 - a peer's failure is a result
        return PeerResult(name, "crashed", f"{name} crashed: {first_line(err)}", version)
    result.version = version
    return result


# ---------------------------------------------------------------------------
# The explanation.
# ---------------------------------------------------------------------------


def _as_shapes(tree: Any) -> Any:
    """Op arguments with every TensorRef replaced by its shape."""
    if isinstance(tree, TensorRef):
        return tree.shape
    if isinstance(tree, (list, tuple)):
        return type(tree)(_as_shapes(x) for x in tree)
    if isinstance(tree, dict):
        return {k: _as_shapes(v) for k, v in tree.items()}
    return tree


def _netstat_side(trace, costs, built: torch.nn.Module):
    """netstat's per-class numbers and each peer's rule applied per class."""
    classes: dict[str, ClassStat] = {}
    predicted = {name: {} for name in PEERS}

    def add(peer: str, cls: str, n: int) -> None:
        predicted[peer][cls] = predicted[peer].get(cls, 0) + n

    for op, cost in zip(trace.ops, costs):
        bound = bind(op.func, _as_shapes(op.args), _as_shapes(op.kwargs))
        out = [r.shape for r in op.outputs]
        cls = op_class(op, bound, cost.counted)
        stat = classes.setdefault(cls, ClassStat())
        stat.madds += cost.madds
        stat.flops += cost.flops
        stat.calls += 1
        name = op.packet.__name__
        add("fvcore", cls, _fvcore_rule(name, bound, cost.madds, out))
        add("flop_counter", cls, _flop_counter_rule(name, cost.madds))
    thop_available = importlib.util.find_spec("thop") is not None
    if thop_available:
        for call in trace.modules:
            if not call.is_leaf:
                continue
            module = built.get_submodule(call.path) if call.path else built
            with _quiet():
                handled = _thop_handled(module)
            if not handled:
                continue
            x = call.inputs[0].shape if call.inputs else None
            y = call.outputs[0].shape if call.outputs else None
            cls, n = _thop_module_rule(module, x, y)
            add("thop", cls, n)
    return classes, predicted


def peer_rules(analysis) -> tuple[dict[str, ClassStat], dict[str, dict[str, int]]]:
    """netstat's own numbers per op class, and each peer's documented rule
    applied to the analysis's trace per class ({peer: {class: count}}), with
    no peer run: what `netstat explain` searches."""
    return _netstat_side(analysis.trace, analysis.profile.op_costs, analysis.model)


def _thop_params(trace, built: torch.nn.Module) -> int | None:
    """thop's parameter count: parameters of the leaf modules it has a rule
    for, counted only when they ran."""
    if importlib.util.find_spec("thop") is None:
        return None
    ran = {c.path for c in trace.modules}
    total = 0
    with _quiet():
        for path, module in built.named_modules():
            if path in ran and next(iter(module.children()), None) is None and _thop_handled(module):
                total += sum(p.numel() for p in module.parameters())
    return total


def explain(peer: PeerResult, classes: dict[str, ClassStat], predicted: dict[str, int]) -> list[Term]:
    """Per-class terms whose differences add up to netstat FLOPs - peer total."""
    keys = [k for k in OP_CLASSES if k in classes or k in peer.by_class or predicted.get(k)]
    terms = []
    for key in keys:
        stat = classes.get(key, ClassStat())
        terms.append(Term(key, peer.name, stat.flops, stat.madds, peer.by_class.get(key, 0), predicted.get(key, 0)))
    return terms


def crosscheck(model: Any, input_size: Any = None, peers=PEERS) -> CrossCheck:
    """netstat's params, MAdds and FLOPs next to fvcore, thop and
    torch.utils.flop_counter, with the per-op-class explanation of every
    difference. `model` is a zoo name, a spec string, an nn.Module (left
    unmodified), a netstat.spec.ModelSource or a `netstat.analyze()` result
    (whose trace is used: nothing is traced twice); `input_size` as
    `analyze` takes it (one shape, a list of shapes / InputSpecs, or a
    `netstat.Inputs` with keyword inputs)."""
    from netstat.analysis import Analysis, analyze

    analysis = model if isinstance(model, Analysis) else analyze(model, input_size)
    source, trace, built, prof = analysis.source, analysis.trace, analysis.model, analysis.profile
    classes, predicted = _netstat_side(trace, prof.op_costs, built)
    results = run_peers(analysis, tuple(peers))
    for peer in results:
        if peer.ok:
            peer.terms = explain(peer, classes, predicted[peer.name])
            if peer.name == "thop":
                peer.predicted_params = _thop_params(trace, built)
            elif peer.name == "fvcore":
                peer.predicted_params = prof.totals["params"]
    return CrossCheck(
        model=source.name,
        input_shape=tuple(source.input_shape or ()),
        params=prof.totals["params"],
        madds=prof.totals["madds"],
        flops=prof.totals["flops"],
        classes={k: classes[k] for k in OP_CLASSES if k in classes},
        peers=results,
        notes=list(prof.notes),
        inputs=source.inputs.to_dict(),
    )
