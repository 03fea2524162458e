"""Strip inputs for `netstat.erf.verify()`: spatial ops act on each axis
separately, so each axis is checked on a *strip*, the input at full size
along that axis and as thin as the model allows along the others (found by
trying; the layer sizes along the checked axis must match the full-size
trace)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from netstat.erf.capture import Feed, forward_linearised

if TYPE_CHECKING:
    from netstat.rf import RFResult

# (input shape, the axes it checks, its activations relative to the full input's)
Plan = tuple[tuple, list[int], float]


def plans(model, feed: Feed, analytic: RFResult, strips: bool, notes: list[str]) -> list[Plan]:
    """One thin strip of the probed input per axis, else the full input."""
    full = feed.shape
    nsp = len(full) - 2
    out = []
    if strips and nsp > 1:
        for axis in range(nsp):
            found = _strip_shape(model, feed, axis, analytic)
            if found is None:
                notes.append("No thin strip input runs with the same layer sizes, so the check ran at the full input.")
                return [(full, list(range(nsp)), 1.0)]
            out.append((found[0], [axis], found[1]))
    return out or [(full, list(range(nsp)), 1.0)]


def _strip_shape(model, feed: Feed, axis: int, analytic: RFResult) -> tuple[tuple, float] | None:
    """The thinnest input that is full along `axis` and runs with the same
    layer sizes along it as the full-size trace, and the bytes of its
    layers' outputs relative to the full input's."""
    full = feed.shape
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
                outs = forward_linearised(model, feed, torch.ones(shape, dtype=dtype), capture_clone=False)
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
        out[layer.key] = tuple(layer.output_shape[d] for d in dims)
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
        if layer.key == key:
            return layer.rf.dims if layer.rf is not None else None
    return None
