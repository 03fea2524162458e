"""Probes for `netstat.erf.verify()`: one output unit at the centre of a
layer's output, back-propagated to the input. Many layers' probes share one
forward and one backward pass, one batch element each (eval-mode CNNs keep
batch elements apart), in chunks that fit a memory budget; a chunk's forward
stops once its last layer has run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from netstat.erf.capture import call_key, forward_until
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


def extents_in_chunks(model, name: str, shape: tuple, layers: list, axes: list[int], step: int, dtype=torch.float32) -> list[Extents]:
    """`probe_extents` of `layers`, `step` probes to a pass."""
    out: list[Extents] = []
    for first in range(0, len(layers), step):
        out += probe_extents(model, name, shape, layers[first : first + step], axes, dtype)
    return out


def probe_extents(model, name: str, shape: tuple, layers: list, axes: list[int], dtype=torch.float32) -> list[Extents]:
    """One forward and one backward for many probes: probe b reads batch
    element b of its layer's output, so one gradient holds every probe's extent."""
    count = len(layers)
    x = torch.ones((count,) + tuple(shape[1:]), dtype=dtype, requires_grad=True)
    outputs = forward_until(model, x, {call_key(layer) for layer in layers}, Linearise(),
                            f"The linearised copy of {name} cannot run on {shape}")
    total, alone = None, []
    for b, layer in enumerate(layers):
        t = outputs.get(call_key(layer))
        if t is None or not t.is_floating_point() or not t.requires_grad:
            continue
        index = _centre_index(t, layer.rf, axes)
        if t.ndim and t.shape[0] == count and index[0] == slice(None):
            picked = t[(b,) + index[1:]].sum()
            total = picked if total is None else total + picked
        else:
            alone.append((b, t[index].sum()))
    out: list[Extents] = [{a: None for a in axes} for _ in layers]
    try:
        return _backward(x, total, alone, out, count, axes)
    except RuntimeError as err:
        raise ModelRunError(f"The gradient check of {name} on {shape} failed: {str(err).splitlines()[0]}", hint="Try a smaller input size.") from None


def _centre_index(t: torch.Tensor, st, axes: list[int]) -> tuple:
    """The centre along the checked axes; every position along the others
    (a thin strip's centre may be padding)."""
    return tuple(
        (n - 1) // 2 if (st is not None and d < len(st.dims) and st.dims[d] in axes) else slice(None)
        for d, n in enumerate(t.shape)
    )


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


def _extent(grad: torch.Tensor, dim: int) -> tuple[int, int] | None:
    other = [d for d in range(grad.ndim) if d != dim]
    line = grad.abs().sum(dim=other) if other else grad.abs()
    nz = torch.nonzero(line > 0).flatten()
    if nz.numel() == 0:
        return None
    return int(nz[0]), int(nz[-1])
