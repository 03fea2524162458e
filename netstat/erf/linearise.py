"""The linearised copy of a model that `netstat.erf.verify()` differentiates.

A deep copy on the CPU (the user's model is never touched), with

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
non-zero extent is exactly the set of input pixels the unit can see.

The weights live in the copy (`linearised`, `fill_weights`); the function
changes happen while it runs under `Linearise()`, a torch function mode that
looks every call up in one table, `OPS`. A convolution or linear layer with
one constant weight is computed there as a box sum over its input channels,
the same linear map at a fraction of the cost.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from netstat import ops


def _kind(kind: str, names: str, n: int = 0) -> dict[str, tuple[str, int]]:
    return {name: (kind, n) for name in names.split()}


# Every torch function the linearised copy changes: name -> (what it becomes,
# its spatial dims where they matter). Tensor-tensor sums become means, and
# products / quotients of two input-dependent tensors keep the first's value
# while passing gradient 1 to both: values stay near 1 however many residual
# adds and gates follow, every path's gradient stays positive (no
# cancellation), and the support of the gradient is unchanged.
# The public ops of the op table's activation, normalisation, softmax and
# dropout kinds (netstat.ops.LINEARISED_AWAY; the backend ones return tuples
# and are never called as torch functions), in-place forms included, and the
# torch functions of those kinds that are not aten ops.
_IDENTITY = [n for n in ops.names(*ops.LINEARISED_AWAY) if not n.startswith(("_", "native_", "cudnn_", "miopen_"))]
_FUNCTIONAL_ONLY = "softsign tanhshrink logsigmoid rrelu rrelu_ softmin local_response_norm dropout1d dropout2d dropout3d"
OPS: dict[str, tuple[str, int]] = {
    **_kind("identity", " ".join(f"{n} {n}_" for n in _IDENTITY) + " " + _FUNCTIONAL_ONLY),
    **_kind("conv", "linear"),
    **_kind("extreme", "amax max amin min maximum minimum fmax fmin"),
    **_kind("sum", "add add_ __add__ __radd__ __iadd__ sub sub_ __sub__ __rsub__ __isub__ subtract"),
    **_kind("product", "mul mul_ __mul__ __rmul__ __imul__ multiply div div_ __truediv__ __itruediv__ divide true_divide"),
}
for _n in (1, 2, 3):
    OPS.update(_kind("conv", f"conv{_n}d conv_transpose{_n}d", _n))
    OPS.update(_kind("max_pool", f"max_pool{_n}d _max_pool{_n}d max_pool{_n}d_with_indices", _n))
    OPS.update(_kind("adaptive_max", f"adaptive_max_pool{_n}d _adaptive_max_pool{_n}d adaptive_max_pool{_n}d_with_indices", _n))
    OPS.update(_kind("unpool", f"max_unpool{_n}d", _n))
del _n

_POOL_ORDER = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
_CONV_ORDER = {
    "conv": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "conv_transpose": ("input", "weight", "bias", "stride", "padding", "output_padding", "groups", "dilation"),
    "linear": ("input", "weight", "bias"),
}


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


# --------------------------------------------------------------------------- one handler per kind of OPS


def _identity(func, name: str, args, kwargs, n: int):
    x = args[0] if args else kwargs.get("input", kwargs.get("self"))
    inplace = name.endswith("_") or kwargs.get("inplace") is True or any(a is True for a in args[1:])
    return x if inplace else x.clone()


def _conv(func, name: str, args, kwargs, n: int):
    out = _collapsed_conv(name, args, kwargs)
    return func(*args, **kwargs) if out is None else out


def _max_pool(func, name: str, args, kwargs, n: int):
    a = _named(func, args, kwargs, _POOL_ORDER)
    x = a["input"]
    kernel = _tuple(a["kernel_size"], n)
    stride = _tuple(a.get("stride") or kernel, n)
    padding = _tuple(a.get("padding", 0) or 0, n)
    dilation = _tuple(a.get("dilation", 1) or 1, n)
    if any(d != 1 for d in dilation):
        return func(*args, **kwargs)  # no dilated average pooling; keep the max
    out = getattr(F, f"avg_pool{n}d")(x, kernel, stride, padding, bool(a.get("ceil_mode")), True)
    if a.get("return_indices") or name.endswith("with_indices"):
        with torch.no_grad():
            idx = getattr(F, f"max_pool{n}d")(x.detach(), kernel, stride, padding, dilation, bool(a.get("ceil_mode")), True)[1]
        return out, idx
    return out


def _adaptive_max(func, name: str, args, kwargs, n: int):
    a = _named(func, args, kwargs, ("input", "output_size", "return_indices"))
    x = a["input"]
    out = getattr(F, f"adaptive_avg_pool{n}d")(x, a["output_size"])
    if a.get("return_indices") or name.endswith("with_indices"):
        with torch.no_grad():
            idx = func(x.detach(), *args[1:], **kwargs)
        return out, idx[1] if isinstance(idx, tuple) else idx
    return out


def _unpool(func, name: str, args, kwargs, n: int):
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


def _extreme(func, name: str, args, kwargs, n: int):
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


def _two_tensors(args) -> bool:
    return (
        len(args) >= 2
        and isinstance(args[0], torch.Tensor)
        and isinstance(args[1], torch.Tensor)
        and args[0].is_floating_point()
        and args[1].is_floating_point()
    )


def _sum(func, name: str, args, kwargs, n: int):
    if not _two_tensors(args):
        return func(*args, **kwargs)
    a, b = args[0], args[1]
    inplace = name.endswith("_") or name.startswith("__i")
    return a.add_(b).mul_(0.5) if inplace else (a + b) * 0.5


def _product(func, name: str, args, kwargs, n: int):
    if not _two_tensors(args):
        return func(*args, **kwargs)
    a, b = args[0], args[1]
    if not (a.requires_grad and b.requires_grad):
        return func(*args, **kwargs)  # scaling by a constant
    # a gate (SE, attention) or a quotient of two input-dependent values: keep a's
    # value and pass a gradient of 1 to both, so repeated gating cannot square the
    # values into underflow
    inplace = name.endswith("_") or name.startswith("__i")
    return a.add_(b - b.detach()) if inplace else a + (b - b.detach())


_HANDLERS = {
    "identity": _identity,
    "conv": _conv,
    "max_pool": _max_pool,
    "adaptive_max": _adaptive_max,
    "unpool": _unpool,
    "extreme": _extreme,
    "sum": _sum,
    "product": _product,
}


class Linearise(TorchFunctionMode):
    """Identity activations / norms, average instead of max (see the module docstring)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        kind = OPS.get(name)
        if kind is None:
            return func(*args, **kwargs)
        return _HANDLERS[kind[0]](func, name, args, kwargs, kind[1])


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
    netstat built itself in place. Use it under `Linearise()`."""
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
