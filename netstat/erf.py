"""The receptive field measured by gradients: a check of the analytic RF, and
the effective RF (DESIGN §4).

Verification (`verify`)
-----------------------
A second, independent method: back-propagate from one output unit at the
centre of a layer's output to the input of a *linearised* copy of the model,
and read off the extent of the non-zero input gradient per axis. The copy is a
deep copy on the CPU (the user's model is never touched), with

* every weight a positive constant (1 / fan-in), every bias zero;
* activations (ReLU, ReLU6, SiLU, sigmoid, tanh, hard-swish, ...), softmax and
  normalisations (batch / group / layer / instance norm, LRN) replaced by the
  identity: eval-mode BN is a per-channel affine map, and the analytic model
  treats every normalisation's statistics as constants;
* max pooling replaced by average pooling with the same window, adaptive max
  pooling by adaptive average pooling, ``amax`` / ``max`` by ``mean``, and
  max_unpool by nearest upsampling (which is how the analytic rule reads it);
* sums of two tensors replaced by their mean, and products or quotients of
  two input-dependent tensors (gates, attention) by ``a + (b - b.detach())``
  (a's value, gradient 1 to both): values stay near 1 however deep the
  network, and no two paths can cancel;

so every path from the input to the unit carries a positive gradient, and the
non-zero extent is exactly the set of input pixels the unit can see. It must
equal the analytic interval of that unit (``c + u j ± (r - 1)/2``) within the
layer's reach (`netstat.receptive.AxisRF.reach`: the input, less border
pixels no unit reads), within the reported slack where upsampling makes the
model an average; for a global layer, the whole reach. A unit whose window
reaches into padding can lose a dilated kernel's last taps: its gradient may
then be narrower than the clipped RF ("border"), never wider.

Speed: spatial ops act on each axis separately, so each axis is checked on a
*strip*, the input at full size along that axis and as thin as the model
allows along the others (found by trying; the layer sizes along the checked
axis must match the full-size trace). Many layers' probes share one forward
and one backward pass, one batch element each (unless a meta trace at batch 2
shows an op mixing batch elements), and a batch stops the forward once its
last layer has run. A convolution or linear layer with one constant weight is
computed as a box sum over its input channels, the same linear map at a
fraction of the cost. The pass runs in float32 on one thread; any
disagreement is re-checked on the full input in float64 (float32 can
underflow at the far edge of a deep RF, and a strip can be too thin for a
layer that shifts its map along the thin axis).

Effective RF (`effective_rf`)
-----------------------------
Luo, Li, Urtasun & Zemel, "Understanding the Effective Receptive Field in Deep
Convolutional Neural Networks" (NeurIPS 2016): the same gradient from the
centre unit of a layer (by default the last spatial feature map,
`RFResult.features`), on the real network as randomly initialised, for a
random normal input, averaged in absolute value over several seeds. It is
summarised by the radius around the unit's RF centre that holds 50% and 95%
of the gradient mass, beside the analytic RF; `netstat.render.rf.plot_erf`
draws it as a heat map.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map

from netstat.errors import ModelRunError, UsageError
from netstat.receptive import RFResult, TensorRF, number

# --------------------------------------------------------------------------- the linearised copy

_IDENTITY = set(
    """
    relu relu_ relu6 hardtanh hardtanh_ sigmoid sigmoid_ tanh tanh_ silu silu_ gelu hardswish hardswish_ hardsigmoid
    hardsigmoid_ leaky_relu leaky_relu_ elu elu_ selu selu_ celu celu_ mish mish_ softplus softsign tanhshrink
    logsigmoid threshold threshold_ rrelu rrelu_ prelu clamp clamp_ clamp_min clamp_min_ clamp_max clamp_max_ clip
    clip_ softmax log_softmax softmin batch_norm group_norm layer_norm instance_norm local_response_norm rms_norm
    dropout dropout2d dropout3d feature_alpha_dropout alpha_dropout
    """.split()
)
_MAX_POOL = {
    "max_pool1d": 1, "max_pool2d": 2, "max_pool3d": 3, "_max_pool1d": 1, "_max_pool2d": 2, "_max_pool3d": 3,
    "max_pool1d_with_indices": 1, "max_pool2d_with_indices": 2, "max_pool3d_with_indices": 3,
}
_ADAPTIVE_MAX = {
    "adaptive_max_pool1d": 1, "adaptive_max_pool2d": 2, "adaptive_max_pool3d": 3, "_adaptive_max_pool1d": 1,
    "_adaptive_max_pool2d": 2, "_adaptive_max_pool3d": 3, "adaptive_max_pool1d_with_indices": 1,
    "adaptive_max_pool2d_with_indices": 2, "adaptive_max_pool3d_with_indices": 3,
}
_UNPOOL = {"max_unpool1d": 1, "max_unpool2d": 2, "max_unpool3d": 3}
# Tensor-tensor sums become means, and products / quotients of two
# input-dependent tensors keep the first's value while passing gradient 1 to
# both: values stay near 1 however many residual adds and gates follow, every
# path's gradient stays positive (no cancellation), and the support of the
# gradient is unchanged.
_PRODUCT = {"mul", "mul_", "__mul__", "__rmul__", "__imul__", "multiply", "div", "div_", "__truediv__", "__itruediv__", "divide", "true_divide"}
_AVERAGE = {"add", "add_", "__add__", "__radd__", "__iadd__", "sub", "sub_", "__sub__", "__rsub__", "__isub__", "subtract"} | _PRODUCT
_POOL_ORDER = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")


def _named(func, args, kwargs, order: tuple[str, ...]) -> dict[str, Any]:
    out = None
    try:
        sig = inspect.signature(func)
        if not any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in sig.parameters.values()):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            out = dict(bound.arguments)
    except (TypeError, ValueError):
        out = None
    if out is None:
        out = dict(zip(order, args))
        out.update(kwargs)
    if "input" not in out and "self" in out:
        out["input"] = out["self"]
    return out


def _tuple(value, n: int) -> tuple:
    if value is None:
        return (None,) * n
    if isinstance(value, (list, tuple)):
        return tuple(value) * n if len(value) == 1 else tuple(value)
    return (value,) * n


class _Linearise(TorchFunctionMode):
    """Identity activations / norms, average instead of max (see the module docstring)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in _IDENTITY:
            x = args[0] if args else kwargs.get("input", kwargs.get("self"))
            inplace = name.endswith("_") or kwargs.get("inplace") is True or any(a is True for a in args[1:])
            return x if inplace else x.clone()
        if name in _CONV:
            out = _collapsed_conv(name, args, kwargs)
            if out is not None:
                return out
        if name in _MAX_POOL:
            return self._pool(func, args, kwargs, _MAX_POOL[name])
        if name in _ADAPTIVE_MAX:
            a = _named(func, args, kwargs, ("input", "output_size", "return_indices"))
            n = _ADAPTIVE_MAX[name]
            x = a["input"]
            out = getattr(F, f"adaptive_avg_pool{n}d")(x, a["output_size"])
            if a.get("return_indices") or name.endswith("with_indices"):
                with torch.no_grad():
                    idx = func(x.detach(), *args[1:], **kwargs)
                return out, idx[1] if isinstance(idx, tuple) else idx
            return out
        if name in _UNPOOL:
            return self._unpool(func, args, kwargs, _UNPOOL[name])
        if name in ("amax", "max", "amin", "min", "maximum", "minimum", "fmax", "fmin"):
            return self._extreme(func, name, args, kwargs)
        if (
            name in _AVERAGE
            and len(args) >= 2
            and isinstance(args[0], torch.Tensor)
            and isinstance(args[1], torch.Tensor)
            and args[0].is_floating_point()
            and args[1].is_floating_point()
        ):
            a, b = args[0], args[1]
            inplace = name.endswith("_") or name.startswith("__i")
            if name in _PRODUCT:
                if not (a.requires_grad and b.requires_grad):
                    return func(*args, **kwargs)  # scaling by a constant
                # a gate (SE, attention) or a quotient of two input-dependent values: keep a's
                # value and pass a gradient of 1 to both, so repeated gating cannot square the
                # values into underflow
                return a.add_(b - b.detach()) if inplace else a + (b - b.detach())
            return a.add_(b).mul_(0.5) if inplace else (a + b) * 0.5
        return func(*args, **kwargs)

    @staticmethod
    def _pool(func, args, kwargs, n: int):
        a = _named(func, args, kwargs, _POOL_ORDER)
        x = a["input"]
        kernel = _tuple(a["kernel_size"], n)
        stride = _tuple(a.get("stride") or kernel, n)
        padding = _tuple(a.get("padding", 0) or 0, n)
        dilation = _tuple(a.get("dilation", 1) or 1, n)
        if any(d != 1 for d in dilation):
            return func(*args, **kwargs)  # no dilated average pooling; keep the max
        out = getattr(F, f"avg_pool{n}d")(x, kernel, stride, padding, bool(a.get("ceil_mode")), True)
        if a.get("return_indices") or func.__name__.endswith("with_indices"):
            with torch.no_grad():
                idx = getattr(F, f"max_pool{n}d")(x.detach(), kernel, stride, padding, dilation, bool(a.get("ceil_mode")), True)[1]
            return out, idx
        return out

    @staticmethod
    def _unpool(func, args, kwargs, n: int):
        a = _named(func, args, kwargs, ("input", "indices", "kernel_size", "stride", "padding", "output_size"))
        x = a["input"]
        size = a.get("output_size")
        if size is not None:
            size = tuple(size)[-n:]
        else:
            kernel = _tuple(a["kernel_size"], n)
            stride = _tuple(a.get("stride") or kernel, n)
            padding = _tuple(a.get("padding", 0) or 0, n)
            size = tuple((x.shape[-n + i] - 1) * stride[i] - 2 * padding[i] + kernel[i] for i in range(n))
        return F.interpolate(x, size=size, mode="nearest")

    @staticmethod
    def _extreme(func, name, args, kwargs):
        others = [a for a in args[1:] if isinstance(a, torch.Tensor)] + [v for v in kwargs.values() if isinstance(v, torch.Tensor)]
        x = args[0] if args else kwargs.get("input", kwargs.get("self"))
        if others:  # the binary maximum / minimum: the mean of both
            return (x + others[0]) / 2
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        keepdim = kwargs.get("keepdim", args[2] if len(args) > 2 else False)
        if dim is None:
            return x.mean() if name in ("amax", "amin", "max", "min") else func(*args, **kwargs)
        mean = x.mean(dim, keepdim=bool(keepdim))
        if name in ("amax", "amin"):
            return mean
        with torch.no_grad():
            idx = func(x.detach(), *args[1:], **kwargs).indices
        return torch.return_types.max((mean, idx)) if name == "max" else torch.return_types.min((mean, idx))


_CONV = {"conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "linear"}
_CONV_ORDER = {
    "conv": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "conv_transpose": ("input", "weight", "bias", "stride", "padding", "output_padding", "groups", "dilation"),
    "linear": ("input", "weight", "bias"),
}


def _collapsed_conv(name: str, args, kwargs):
    """A convolution (or linear layer) whose weight is one constant w gives
    the same output on every channel of a group: w times the box sum of the
    group's input channels. Computing it that way is the same linear map at a
    fraction of the cost. None when the weight is not constant."""
    kind = "linear" if name == "linear" else "conv_transpose" if name.startswith("conv_transpose") else "conv"
    a = dict(zip(_CONV_ORDER[kind], args))
    a.update(kwargs)
    x, weight, bias = a["input"], a["weight"], a.get("bias")
    if weight.numel() == 0 or weight.requires_grad:  # a weight computed from the input
        return None
    w = weight.reshape(-1)[0]
    if not bool((weight == w).all()):
        return None
    if kind == "linear":
        y = (x.sum(-1, keepdim=True) * w).expand(*x.shape[:-1], weight.shape[0]).contiguous()
        return y + bias if bias is not None else y
    groups = a.get("groups", 1) or 1
    n = x.ndim - 2
    c_in = x.shape[1]
    sums = x.reshape(x.shape[0], groups, c_in // groups, *x.shape[2:]).sum(2)
    ones = torch.ones((groups, 1) + tuple(weight.shape[2:]), dtype=x.dtype, device=x.device)
    if kind == "conv":
        c_out = weight.shape[0]
        op = getattr(F, f"conv{n}d")
        y = op(sums, ones, None, a.get("stride", 1), a.get("padding", 0), a.get("dilation", 1), groups)
    else:
        c_out = weight.shape[1] * groups
        op = getattr(F, f"conv_transpose{n}d")
        y = op(sums, ones, None, a.get("stride", 1), a.get("padding", 0), a.get("output_padding", 0), groups, a.get("dilation", 1))
    y = (y * w).unsqueeze(2).expand(y.shape[0], groups, c_out // groups, *y.shape[2:]).reshape(y.shape[0], c_out, *y.shape[2:])
    if bias is not None:
        y = y + bias.reshape((1, -1) + (1,) * n)
    return y


def linearised(model: torch.nn.Module, dtype: torch.dtype = torch.float64, copy_model: bool = True) -> torch.nn.Module:
    """A linearised deep copy on the CPU (weights 1/fan-in, biases 0, BN
    running stats 0/1, eval mode); `copy_model=False` converts a model
    netstat built itself in place. Use it under `_Linearise()`."""
    m = (copy.deepcopy(model) if copy_model else model).to(device="cpu", dtype=dtype).eval()
    with torch.no_grad():
        for name, b in m.named_buffers():
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "running_mean":
                b.zero_()
            elif leaf == "running_var":
                b.fill_(1.0)
    fill_weights(m)
    return m


def fill_weights(model: torch.nn.Module, thin: tuple[int, ...] = ()) -> None:
    """Positive constant weights: 1 / fan-in, where the kernel extent along
    `thin` spatial axes (an input one pixel wide, where only the centre tap
    reads data) is left out, so values keep their scale; biases 0."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.requires_grad_(False)
            leaf = name.rsplit(".", 1)[-1]
            if p.ndim >= 2:
                fan = p.shape[1]
                for d, k in enumerate(p.shape[2:]):
                    fan *= 1 if d in thin else k
                p.fill_(1.0 / max(1, fan))
            elif "bias" in leaf:
                p.zero_()
            else:
                p.fill_(1.0)


# --------------------------------------------------------------------------- capture per module call


class _Enough(Exception):
    """Raised from a hook once every wanted output is captured: the rest of
    the forward pass is not needed."""


class _Capture:
    """Forward hooks on every module of a model we own: the first output
    tensor of each call, keyed by (path, call number). The hook hands a
    clone downstream so later in-place ops cannot change a captured value.
    With `until`, the forward stops (raises `_Enough`) once those are captured."""

    def __init__(self, model: torch.nn.Module, clone: bool = True, until: set | None = None) -> None:
        self.outputs: dict[tuple[str, int], torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.handles = []
        self.missing = set(until) if until else None
        for path, module in model.named_modules():
            self.handles.append(module.register_forward_hook(self._hook(path, clone)))

    def _hook(self, path: str, clone: bool):
        def hook(module, inputs, output):
            n = self.counts.get(path, 0)
            self.counts[path] = n + 1
            first = next((t for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor)), None)
            if first is not None:
                self.outputs[(path, n)] = first
            if self.missing is not None:
                self.missing.discard((path, n))
                if not self.missing:
                    raise _Enough
            if clone:
                return tree_map(lambda t: t.clone() if isinstance(t, torch.Tensor) and t.is_floating_point() else t, output)
            return None

        return hook

    def close(self) -> None:
        for h in self.handles:
            h.remove()


# --------------------------------------------------------------------------- verification


@dataclass
class AxisCheck:
    """One axis of one layer: analytic vs gradient extent (input pixels, inclusive)."""

    expected: tuple | None  # (lo, hi) clipped to the input; None: no dependency
    gradient: tuple | None
    rf: Any  # analytic size (None when global)
    slack: Any
    clipped: bool
    status: str  # ok / border (clipped, gradient narrower) / misaligned (approximate by design) / mismatch

    def to_dict(self) -> dict[str, Any]:
        return {
            "expected": None if self.expected is None else [number(v) for v in self.expected],
            "gradient": None if self.gradient is None else list(self.gradient),
            "rf": number(self.rf),
            "slack": number(self.slack),
            "clipped": self.clipped,
            "status": self.status,
        }


@dataclass
class VerifyRow:
    name: str
    type: str
    depth: int
    is_leaf: bool
    output_shape: tuple | None
    axes: list[AxisCheck]

    @property
    def status(self) -> str:
        order = ("mismatch", "misaligned", "border", "ok", "n/a")
        found = {a.status for a in self.axes}
        return next((s for s in order if s in found), "n/a")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "depth": self.depth,
            "is_leaf": self.is_leaf,
            "output_shape": list(self.output_shape) if self.output_shape else None,
            "status": self.status,
            "axes": [a.to_dict() for a in self.axes],
        }


@dataclass
class VerifyResult:
    model: str
    input_shape: tuple
    mode: str  # "strips" or "full"
    strip_shapes: list[tuple]
    rows: list[VerifyRow]
    seconds: float
    analytic: RFResult = field(repr=False)
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    @property
    def agree(self) -> bool:
        """True when no layer disagrees (border and misaligned rows are explained, not failures)."""
        return all(r.status != "mismatch" for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": "1.0",
            "model": self.model,
            "input_shape": list(self.input_shape),
            "method": "gradient of one centre unit on a linearised copy (positive weights, identity activations, average pooling)",
            "mode": self.mode,
            "strip_shapes": [list(s) for s in self.strip_shapes],
            "seconds": round(self.seconds, 3),
            "agree": self.agree,
            "counts": self.counts,
            "layers": [r.to_dict() for r in self.rows],
            "notes": self.notes,
        }


def _source_and_model(model_or_name: Any, input_size: tuple | None):
    from netstat.spec import resolve

    source = resolve(model_or_name, input_size)
    if source.input_shape is None:
        raise UsageError(f"'{source.name}' has no default input size.", hint="Give one with --input, e.g. --input 1,3,224,224.")
    return source


def _cpu_model(source) -> torch.nn.Module:
    try:
        return source.build("cpu")
    except UsageError:
        raise
    except Exception as err:  # noqa: BLE001 - a user factory that breaks
        raise ModelRunError(f"Building '{source.name}' failed: {type(err).__name__}: {err}.") from None


def _forward(model, x, capture_clone: bool = True):
    cap = _Capture(model, clone=capture_clone)
    try:
        with _Linearise():
            model(x)
    finally:
        cap.close()
    return cap.outputs


def _forward_until(model, x, until: set, mode, failure: str) -> dict[tuple[str, int], torch.Tensor]:
    """The outputs captured by running `model(x)` under the context `mode`,
    stopped once those keyed in `until` are in; a failure of the forward
    becomes one ModelRunError sentence that starts with `failure`."""
    cap = _Capture(model, until=until)
    try:
        with mode:
            model(x)
    except _Enough:
        pass
    except Exception as err:  # noqa: BLE001
        raise ModelRunError(f"{failure}: {type(err).__name__}: {err}.") from None
    finally:
        cap.close()
    return cap.outputs


def _strip_shape(model, full: tuple, axis: int, analytic: RFResult) -> tuple[tuple, float] | None:
    """The thinnest input that is full along `axis` and runs with the same
    layer sizes along it as the full-size trace, and the bytes of its
    layers' outputs relative to the full input's."""
    nsp = len(full) - 2
    expected = _axis_sizes(analytic, axis)
    full_bytes = sum(math.prod(layer.output_shape) for layer in analytic.layers if layer.output_shape) or 1
    tried = set()
    dtype = next(model.parameters(), torch.empty(0)).dtype
    for w in (1, 2, 4, 8, 16, 32, 64, 128, 256):
        shape = tuple(full[:2]) + tuple(full[2 + k] if k == axis else min(w, full[2 + k]) for k in range(nsp))
        if shape in tried or shape == tuple(full):
            continue
        tried.add(shape)
        try:
            with torch.no_grad():
                outs = _forward(model, torch.ones(shape, dtype=dtype), capture_clone=False)
        except Exception:  # noqa: BLE001 - too thin for this model: try wider
            continue
        if _sizes_match(outs, expected, axis, analytic):
            return shape, sum(t.numel() for t in outs.values()) / full_bytes
    return None


def _axis_sizes(analytic: RFResult, axis: int) -> dict[tuple[str, int], tuple]:
    out = {}
    for layer in analytic.layers:
        if layer.rf is None or layer.output_shape is None:
            continue
        dims = [d for d, a in enumerate(layer.rf.dims) if a == axis]
        out[(layer.name if layer.name != "(model)" else "", layer.call)] = tuple(layer.output_shape[d] for d in dims)
    return out


def _sizes_match(outs, expected, axis, analytic) -> bool:
    for key, sizes in expected.items():
        t = outs.get(key)
        if t is None:
            return False
        layer_dims = _dims_of(analytic, key)
        if layer_dims is None or len(t.shape) != len(layer_dims):
            return False
        got = tuple(t.shape[d] for d, a in enumerate(layer_dims) if a == axis)
        if got != sizes:
            return False
    return True


def _dims_of(analytic: RFResult, key) -> tuple | None:
    for layer in analytic.layers:
        if (layer.name if layer.name != "(model)" else "", layer.call) == key:
            return layer.rf.dims if layer.rf is not None else None
    return None


def _extent(grad: torch.Tensor, dim: int) -> tuple[int, int] | None:
    other = [d for d in range(grad.ndim) if d != dim]
    line = grad.abs().sum(dim=other) if other else grad.abs()
    nz = torch.nonzero(line > 0).flatten()
    if nz.numel() == 0:
        return None
    return int(nz[0]), int(nz[-1])


def _expected(st: TensorRF | None, axis: int, shape: tuple, n_in: int):
    """(lo, hi) the unit can see: its interval within the layer's reach (the
    input, less border pixels no unit reads); whether the RF was clipped;
    the slack. None: no dependency on the input."""
    if st is None:
        return None, False, 0
    ax = st.axes[axis]
    reach = ax.reach if ax.reach is not None else (0, n_in - 1)
    reach = (max(reach[0], 0), min(reach[1], n_in - 1))
    if ax.whole:
        return reach, False, 0
    dims = [d for d, a in enumerate(st.dims) if a == axis]
    unit = (shape[dims[0]] - 1) // 2 if dims else 0
    first, last = ax.units(shape[dims[0]]) if dims else (0, 0)
    if not first <= unit <= last:  # a unit whose window holds only padding sees nothing
        return None, False, 0
    lo, hi = ax.interval(unit)
    return (max(lo, reach[0]), min(hi, reach[1])), (lo < 0 or hi > n_in - 1), ax.slack


def _judge(st: TensorRF | None, expected, clipped: bool, slack, grad_extent) -> str:
    if expected is None:
        return "ok" if grad_extent is None else "mismatch"
    if grad_extent is not None and abs(grad_extent[0] - expected[0]) <= slack and abs(grad_extent[1] - expected[1]) <= slack:
        return "ok"
    if clipped and grad_extent is not None and expected[0] - slack <= grad_extent[0] and grad_extent[1] <= expected[1] + slack:
        # the unit's window reaches into padding, where a dilated kernel's taps can skip the
        # last real pixels: the linear model, clipped, is then an upper bound
        return "border"
    return "misaligned" if st is not None and st.misaligned else "mismatch"


def _key(layer) -> tuple[str, int]:
    return (layer.name if layer.name != "(model)" else "", layer.call)


def _probe_extents(model, name: str, shape: tuple, layers: list, axes: list[int], dtype=torch.float32) -> list[dict[int, tuple | None]]:
    """One forward and one backward for many probes: probe b reads batch
    element b of its layer's output (eval-mode CNNs keep batch elements
    apart), so one gradient holds every probe's extent."""
    count = len(layers)
    x = torch.ones((count,) + tuple(shape[1:]), dtype=dtype, requires_grad=True)
    outputs = _forward_until(model, x, {_key(layer) for layer in layers}, _Linearise(),
                             f"The linearised copy of {name} cannot run on {shape}")
    total, alone = None, []
    for b, layer in enumerate(layers):
        t = outputs.get(_key(layer))
        st = layer.rf
        if t is None or not t.is_floating_point() or not t.requires_grad:
            continue
        # the centre along the checked axes; every position along the others (a thin strip's
        # centre may be padding)
        index = tuple(
            (n - 1) // 2 if (st is not None and d < len(st.dims) and st.dims[d] in axes) else slice(None)
            for d, n in enumerate(t.shape)
        )
        if t.ndim and t.shape[0] == count and index[0] == slice(None):
            picked = t[(b,) + index[1:]].sum()
            total = picked if total is None else total + picked
        else:
            alone.append((b, t[index].sum()))
    out: list[dict[int, tuple | None]] = [{a: None for a in axes} for _ in layers]
    try:
        return _backward(x, total, alone, out, count, axes)
    except RuntimeError as err:
        raise ModelRunError(f"The gradient check of {name} on {shape} failed: {str(err).splitlines()[0]}", hint="Try a smaller --input.") from None


def _backward(x, total, alone, out, count, axes):
    if total is not None:
        (grad,) = torch.autograd.grad(total, x, retain_graph=bool(alone))
        for b in range(count):
            for a in axes:
                out[b][a] = _extent(grad[b], 1 + a)
        for b in range(count):  # probes that were not batched get their own pass below
            if any(k == b for k, _ in alone):
                out[b] = {a: None for a in axes}
    for k, (b, value) in enumerate(alone):
        (grad,) = torch.autograd.grad(value, x, retain_graph=k < len(alone) - 1)
        for a in axes:
            out[b][a] = _extent(grad, 2 + a)
    return out



def _batch_mixing(source, full: tuple) -> list[str]:
    """Ops that mix batch elements (from a meta trace at batch 2): then the
    probes cannot share a batch."""
    from netstat.receptive import batch_mixing
    from netstat.spec import ModelSource
    from netstat.trace import trace_model

    twin = ModelSource(source.name, (2,) + tuple(full[1:]), source.factory, source.module, source.zoo_name)
    try:
        trace, _ = trace_model(twin, "meta")
    except Exception:  # noqa: BLE001 - a model that only runs at batch 1: probe one by one
        return ["the model runs at batch 1 only"]
    return batch_mixing(trace)


def _plans(model, full: tuple, analytic: RFResult, strips: bool, notes: list[str]) -> list[tuple[tuple, list[int], float]]:
    """(input shape, axes it checks, its activations relative to the full
    input's): one thin strip per axis, else the full input."""
    nsp = len(full) - 2
    plans = []
    if strips and nsp > 1:
        for axis in range(nsp):
            found = _strip_shape(model, full, axis, analytic)
            if found is None:
                notes.append("No thin strip input runs with the same layer sizes, so the check ran at the full input.")
                return [(full, list(range(nsp)), 1.0)]
            plans.append((found[0], [axis], found[1]))
    return plans or [(full, list(range(nsp)), 1.0)]


def _probes(analytic: RFResult, layers: str | int) -> list[list[int]]:
    """Layer indexes grouped by output tensor (a container's output is its
    last child's); `layers`: "all", "leaves", or a module-tree depth."""
    by_tid: dict[int, list[int]] = {}
    calls = analytic.trace.modules if analytic.trace is not None else []
    for i, layer in enumerate(analytic.layers):
        if layers == "leaves" and not layer.is_leaf:
            continue
        if isinstance(layers, int) and layer.depth > layers:
            continue
        ref = calls[i].outputs[0] if i < len(calls) and calls[i].outputs else None
        if ref is not None:
            by_tid.setdefault(ref.tid, []).append(i)
    # in the order their outputs appear, so a batch of probes can stop the forward early
    return sorted(by_tid.values(), key=lambda idxs: calls[idxs[0]].end_op)


def _activation_bytes(analytic: RFResult) -> float:
    """Bytes of every tensor the traced forward allocates (float32, batch 1)."""
    trace = analytic.trace
    if trace is None:
        return 0.0
    total = 0
    for op in trace.ops:
        for ref, new in zip(op.outputs, op.allocates):
            if new:
                total += ref.numel * 4
    batch = trace.inputs[0].shape[0] if trace.inputs and trace.inputs[0].shape else 1
    return total / max(1, batch)


def _check_axes(layer, axes: list[int], per_axis: dict, full: tuple) -> dict[int, AxisCheck]:
    st = layer.rf
    out = {}
    for axis in axes:
        n_in = full[2 + axis]
        ext = per_axis.get(axis)
        expected, clipped, slack = _expected(st, axis, layer.output_shape, n_in)
        status = _judge(st, expected, clipped, slack, ext)
        rf = None if st is None or st.axes[axis].whole else st.axes[axis].size
        out[axis] = AxisCheck(expected, ext, rf, slack, clipped, status)
    return out


def verify(
    model_or_name: Any,
    input_size: tuple[int, ...] | None = None,
    strips: bool = True,
    analytic: RFResult | None = None,
    layers: str | int = "all",
    chunk: int = 64,
    memory_budget: float = 2 * 2**30,
) -> VerifyResult:
    """Check the analytic RF of every layer against the gradient of a
    linearised copy (see the module docstring). `layers`: "all" module calls,
    "leaves", or the module tree down to a depth (an int; depth 0 is the
    model's output). The user's model is never modified."""
    from netstat.receptive import receptive_field

    start = time.perf_counter()
    source = _source_and_model(model_or_name, input_size)
    full = tuple(source.input_shape)
    if analytic is None:
        analytic = receptive_field(model_or_name, full)
    nsp = len(full) - 2
    if nsp < 1:
        raise UsageError(f"The input {full} has no spatial dims; there is no receptive field to verify.")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # thin strips: one thread beats two (and a shared machine)
    try:
        built = _cpu_model(source)
        fast = linearised(built, torch.float32)  # a copy: `built` may be the user's own module
        notes: list[str] = []
        mixing = _batch_mixing(source, full)
        if mixing:
            chunk = 1
            notes.append(f"Batch elements interact ({mixing[0]}), so every layer was checked in a pass of its own.")
        plans = _plans(fast, full, analytic, strips, notes)
        probes = _probes(analytic, layers)
        checks: dict[int, dict[int, AxisCheck]] = {}
        retry: list[list[int]] = []
        per_sample = _activation_bytes(analytic)
        for shape, axes, scale in plans:
            thin = tuple(k for k in range(nsp) if shape[2 + k] == 1)
            fill_weights(fast, thin)
            # forward values, clones for the capture, autograd's saved tensors and gradients: ~6x the activations
            step = max(1, min(chunk, int(memory_budget / max(1.0, 6 * per_sample * scale))))
            results = []
            for first in range(0, len(probes), step):
                group = probes[first : first + step]
                results += _probe_extents(fast, source.name, shape, [analytic.layers[idxs[0]] for idxs in group], axes)
            failing = []
            for idxs, per_axis in zip(probes, results):
                found = _check_axes(analytic.layers[idxs[0]], axes, per_axis, full)
                if any(c.status != "ok" for c in found.values()):
                    failing.append(idxs)
                for i in idxs:
                    checks.setdefault(i, {}).update(found)
            for idxs in failing:
                if idxs not in retry:
                    retry.append(idxs)
        if retry:
            # Confirm every disagreement on the full input in float64: float32 can underflow at
            # the far edge of a deep RF, and a strip can be too thin for a layer that shifts
            # its map along the thin axis.
            exact = linearised(built, torch.float64)
            fill_weights(exact)
            axes = list(range(nsp))
            small = max(1, int(memory_budget / max(1.0, 12 * per_sample)))
            for first in range(0, len(retry), min(small, chunk)):
                group = retry[first : first + min(small, chunk)]
                again = _probe_extents(exact, source.name, full, [analytic.layers[idxs[0]] for idxs in group], axes, torch.float64)
                for idxs, per_axis in zip(group, again):
                    found = _check_axes(analytic.layers[idxs[0]], axes, per_axis, full)
                    for i in idxs:
                        checks[i].update(found)
            notes.append(f"{len(retry)} layer checks were repeated on the full input in float64.")
    finally:
        torch.set_num_threads(threads)
    rows = []
    for i, layer in enumerate(analytic.layers):
        if i not in checks:
            continue
        rows.append(
            VerifyRow(layer.name, layer.type, layer.depth, layer.is_leaf, layer.output_shape, [checks[i][a] for a in sorted(checks[i])])
        )
    return VerifyResult(
        model=source.name,
        input_shape=full,
        mode="strips" if len(plans) > 1 or plans[0][0] != full else "full",
        strip_shapes=[p[0] for p in plans],
        rows=rows,
        seconds=time.perf_counter() - start,
        analytic=analytic,
        notes=notes,
    )


# --------------------------------------------------------------------------- effective RF


@dataclass
class ERFResult:
    """Mean |d unit / d input| over seeds, normalised to sum 1 (`heatmap`, the
    spatial dims of the input), with its 50% / 95% mass radii."""

    model: str
    input_shape: tuple
    layer: str
    unit: tuple  # the probed unit's index per axis
    center: tuple  # its analytic RF centre, input pixels
    rf: TensorRF | None
    seeds: int
    heatmap: Any = field(repr=False)  # numpy array, the input's spatial shape
    r50: float = 0.0
    r95: float = 0.0
    center_of_mass: tuple = ()
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        rf = self.rf.to_dict() if self.rf is not None else None
        return {
            "schema_version": "1.0",
            "model": self.model,
            "input_shape": list(self.input_shape),
            "method": "Luo et al. 2016: |gradient| of one centre unit on the randomly initialised network, random normal input, averaged over seeds",
            "layer": self.layer,
            "unit": list(self.unit),
            "center": [number(c) for c in self.center],
            "center_of_mass": [round(float(c), 3) for c in self.center_of_mass],
            "seeds": self.seeds,
            "r50": round(self.r50, 3),
            "r95": round(self.r95, 3),
            "units": {"r50": "radius in input pixels around the centre holding 50% of the gradient mass", "r95": "the same for 95%"},
            "rf": rf,
            "seconds": round(self.seconds, 3),
        }


def _default_layer(analytic: RFResult) -> int:
    """The last spatial feature map (`RFResult.features`)."""
    target = analytic.features
    if target is None:
        raise UsageError(f"{analytic.model} has no spatial layer output to measure an effective RF on.")
    return next(i for i, layer in enumerate(analytic.layers) if layer is target)


def _find_layer(analytic: RFResult, name: str) -> int:
    for i, layer in enumerate(analytic.layers):
        if layer.name == name:
            return i
    import difflib

    close = difflib.get_close_matches(name, [layer.name for layer in analytic.layers], n=3)
    raise UsageError(f"{analytic.model} has no layer '{name}'.", hint=f"Did you mean {', '.join(close)}?" if close else "")


def mass_radii(grad_map, center: tuple) -> tuple[float, float, tuple]:
    """Radii around `center` holding 50% and 95% of the map's mass, and its centre of mass."""
    import numpy as np

    total = float(grad_map.sum())
    grids = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in grad_map.shape], indexing="ij")
    if total <= 0:
        return 0.0, 0.0, tuple(float(c) for c in center)
    com = tuple(float((g * grad_map).sum() / total) for g in grids)
    dist = np.sqrt(sum((g - float(c)) ** 2 for g, c in zip(grids, center))).ravel()
    order = np.argsort(dist, kind="stable")
    cum = np.cumsum(grad_map.ravel()[order]) / total
    r50 = float(dist[order][np.searchsorted(cum, 0.5)])
    r95 = float(dist[order][min(np.searchsorted(cum, 0.95), len(cum) - 1)])
    return r50, r95, com


def _erf_sum(source, full: tuple, key, index: tuple, layer: str, shared, seeds: int) -> torch.Tensor:
    """Sum over seeds of |d unit / d input|, summed over batch and channels."""
    acc = None
    for seed in range(seeds):
        torch.manual_seed(seed)
        model = shared if shared is not None else _cpu_model(source).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        gen = torch.Generator().manual_seed(1000 + seed)
        x = torch.randn(full, generator=gen, requires_grad=True)
        t = _forward_until(model, x, {key}, contextlib.nullcontext(), f"{source.name} cannot run on {full}").get(key)
        if t is None or not t.requires_grad:
            raise ModelRunError(f"Layer '{layer}' of {source.name} produced no differentiable output.")
        (g,) = torch.autograd.grad(t[index].sum(), x)
        g = g.abs().sum(dim=(0, 1)).double()
        acc = g if acc is None else acc + g
        del t, x, model
    return acc


def effective_rf(
    model_or_name: Any,
    input_size: tuple[int, ...] | None = None,
    seeds: int = 3,
    layer: str | None = None,
) -> ERFResult:
    """The effective RF of one centre unit (Luo et al. 2016), averaged over
    `seeds`. Zoo and spec models are re-initialised per seed; a user's module
    keeps its own weights (deep-copied) and only the input changes."""
    from netstat.receptive import receptive_field

    if seeds < 1:
        raise UsageError(f"--seeds must be 1 or more, not {seeds}.")
    start = time.perf_counter()
    source = _source_and_model(model_or_name, input_size)
    full = tuple(source.input_shape)
    analytic = receptive_field(model_or_name, full)
    idx = _find_layer(analytic, layer) if layer else _default_layer(analytic)
    target = analytic.layers[idx]
    st = target.rf
    key = (target.name if target.name != "(model)" else "", target.call)
    shape = target.output_shape
    index = tuple((n - 1) // 2 if (st is not None and st.dims[d] is not None) else slice(None) for d, n in enumerate(shape))
    unit = tuple((shape[d] - 1) // 2 for a in range(len(st.axes)) for d in [next((k for k, v in enumerate(st.dims) if v == a), None)] if d is not None)
    centers = []
    for a, ax in enumerate(st.axes):
        dims = [d for d, v in enumerate(st.dims) if v == a]
        u = (shape[dims[0]] - 1) // 2 if dims else 0
        centers.append(ax.center + u * ax.jump if ax.size is not None else (full[2 + a] - 1) / 2)
    shared = None if source.owned else copy.deepcopy(source.module).to("cpu").eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in verify(): one thread is faster on a shared 2-core machine
    try:
        acc = _erf_sum(source, full, key, index, target.name, shared, seeds)
    finally:
        torch.set_num_threads(threads)
    grad_map = (acc / acc.sum()).numpy() if float(acc.sum()) > 0 else acc.numpy()
    r50, r95, com = mass_radii(grad_map, tuple(float(c) for c in centers))
    return ERFResult(
        model=source.name,
        input_shape=full,
        layer=target.name,
        unit=unit,
        center=tuple(centers),
        rf=st,
        seeds=seeds,
        heatmap=grad_map,
        r50=r50,
        r95=r95,
        center_of_mass=com,
        seconds=time.perf_counter() - start,
    )


__all__ = ["verify", "effective_rf", "linearised", "fill_weights", "mass_radii", "VerifyResult", "ERFResult"]
