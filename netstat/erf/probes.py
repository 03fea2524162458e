"""Probes for `netstat.erf.verify()`: one output unit at the centre of a
layer's output, back-propagated to the input. Many layers' probes share one
forward and one backward pass, one batch element each (eval-mode CNNs keep
batch elements apart), in chunks that fit a memory budget; a chunk's forward
stops once its last layer has run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from netstat.erf.capture import Feed, forward_until, gradient
from netstat.erf.linearise import Linearise
from netstat.errors import ModelRunError

if TYPE_CHECKING:
    from netstat.rf import RFResult

Extents = dict[int, "tuple[int, int] | None"]  # axis -> (first, last) input pixel with a non-zero gradient


def probe_groups(analytic: RFResult, layers: str | int) -> list[list[int]]:
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


def activation_bytes(analytic: RFResult) -> float:
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


def batch_mixing(model, feed: Feed, name: str, plan: tuple, layers: list) -> str:
    """Where batch elements mix ('' when they never do): one forward and
    backward of the linearised copy at batch 2 on the plan's input. Its
    weights are positive, so an output of element 0 that depends on element
    1 always shows as a non-zero gradient there; only then is each layer's
    output checked alone, to name the first that mixes."""
    x = torch.ones((2,) + tuple(plan[0][1:]), dtype=torch.float32, requires_grad=True)
    try:
        outputs = forward_until(model, feed, x, {layer.key for layer in layers}, Linearise(), "")
    except ModelRunError:
        return "the model runs at batch 1 only"
    firsts = [(layer, t[0].sum()) for layer in layers for t in [outputs.get(layer.key)]
              if t is not None and t.requires_grad and t.is_floating_point() and t.ndim and t.shape[0] == 2]
    if not firsts or not _reaches_second(x, sum(v for _, v in firsts), name, retain=True):
        return ""
    for k, (layer, value) in enumerate(firsts):
        if _reaches_second(x, value, name, retain=k < len(firsts) - 1):
            return f"from {layer.name} on"
    return f"in {name}"


def _reaches_second(x: torch.Tensor, value: torch.Tensor, name: str, retain: bool) -> bool:
    """Whether `value` (read from batch element 0) depends on batch element 1 of `x`."""
    grad = gradient(value, x, f"The gradient check of {name}", retain=retain, allow_unused=True)
    return grad is not None and bool(grad[1].abs().sum() > 0)


def extents_in_chunks(model, feed: Feed, name: str, shape: tuple, layers: list, axes: list[int], step: int, dtype=torch.float32) -> list[Extents]:
    """`probe_extents` of `layers`, `step` probes to a pass."""
    out: list[Extents] = []
    for first in range(0, len(layers), step):
        out += probe_extents(model, feed, name, shape, layers[first : first + step], axes, dtype)
    return out


def probe_extents(model, feed: Feed, name: str, shape: tuple, layers: list, axes: list[int], dtype=torch.float32) -> list[Extents]:
    """One forward and one backward for many probes: probe b reads batch
    element b of its layer's output, so one gradient holds every probe's extent."""
    count = len(layers)
    x = torch.ones((count,) + tuple(shape[1:]), dtype=dtype, requires_grad=True)
    outputs = forward_until(model, feed, x, {layer.key for layer in layers}, Linearise(),
                            f"The linearised copy of {name} cannot run on {'x'.join(map(str, shape))}")
    total, alone = None, []
    for b, layer in enumerate(layers):
        t = outputs.get(layer.key)
        if t is None or not t.is_floating_point() or not t.requires_grad:
            continue
        index = _centre_index(t, layer.rf, axes)
        if t.ndim and t.shape[0] == count and index[0] == slice(None):
            picked = t[(b,) + index[1:]].sum()
            total = picked if total is None else total + picked
        else:
            alone.append((b, t[index].sum()))
    out: list[Extents] = [{a: None for a in axes} for _ in layers]
    return _backward(x, total, alone, out, count, axes, f"The gradient check of {name}")


def _centre_index(t: torch.Tensor, st, axes: list[int]) -> tuple:
    """The centre along the checked axes; every position along the others
    (a thin strip's centre may be padding)."""
    return tuple(
        (n - 1) // 2 if (st is not None and d < len(st.dims) and st.dims[d] in axes) else slice(None)
        for d, n in enumerate(t.shape)
    )


def _backward(x, total, alone, out, count, axes, failure: str):
    if total is not None:
        grad = gradient(total, x, failure, retain=bool(alone))
        for b in range(count):
            for a in axes:
                out[b][a] = _extent(grad[b], 1 + a)
        for b in range(count):  # probes that were not batched get their own pass below
            if any(k == b for k, _ in alone):
                out[b] = {a: None for a in axes}
    for k, (b, value) in enumerate(alone):
        grad = gradient(value, x, failure, retain=k < len(alone) - 1)
        for a in axes:
            out[b][a] = _extent(grad, 2 + a)
    return out


def _extent(grad: torch.Tensor, dim: int) -> tuple[int, int] | None:
    other = [d for d in range(grad.ndim) if d != dim]
    line = grad.abs().sum(dim=other) if other else grad.abs()
    nz = torch.nonzero(line > 0).flatten()
    if nz.numel() == 0:
        return None
    return int(nz[0]), int(nz[-1])
