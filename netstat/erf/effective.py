"""Effective RF (`effective_rf`).

Luo, Li, Urtasun & Zemel, "Understanding the Effective Receptive Field in Deep
Convolutional Neural Networks" (NeurIPS 2016): the gradient from the centre
unit of a layer (by default the last spatial feature map,
`RFResult.features`) to the input, on the real network as randomly
initialised, for a random normal input, averaged in absolute value over
several seeds. It is summarised by the radius around the unit's RF centre
that holds 50% and 95% of the gradient mass, beside the analytic RF;
`netstat.render.rf.plot_erf` draws it as a heat map.
"""

from __future__ import annotations

import contextlib
import copy
import time
from typing import TYPE_CHECKING, Any

import torch

from netstat.erf.capture import Feed, analysis_of, feed_of, forward_until, gradient, one_thread, out_of_memory
from netstat.erf.result import ERFResult
from netstat.errors import ArgumentError, ModelRunError, UsageError
from netstat.isolation import own_modes

if TYPE_CHECKING:
    from netstat.rf import RFLayer, RFResult


def effective_rf(
    model_or_name: Any,
    input_size: tuple[int, ...] | None = None,
    seeds: int = 3,
    layer: str | None = None,
    analytic: RFResult | None = None,
) -> ERFResult:
    """The effective RF of one centre unit (Luo et al. 2016), averaged over
    `seeds`. Zoo and spec models are re-initialised per seed; a user's module
    keeps its own weights (a working copy) and only the input changes.
    `model_or_name` may be a `netstat.Analysis` (its trace, RF and CPU model
    are used); `analytic`: the model's RFResult when the caller has it.
    The gradient is taken with respect to the first input (`feed_of`), the
    model's other inputs held fixed. The caller's modes (inference mode,
    no_grad, autocast) do not matter, and the global RNG state is kept."""
    if seeds < 1:
        raise ArgumentError("{seeds} must be 1 or more, not {given}.", given=seeds)
    start = time.perf_counter()
    analysis = analysis_of(model_or_name, input_size)
    source = analysis.source
    feed = feed_of(analysis)
    full = feed.shape
    with own_modes(), out_of_memory(f"The effective RF of {source.name}"):
        if analytic is None:
            analytic = analysis.receptive_field
        target = analytic.layers[_find_layer(analytic, layer) if layer else _default_layer(analytic)]
        index, unit, centers = _centre_unit(target, full)
        with one_thread():  # as in verify(): one thread is faster on a shared 2-core machine
            acc = _erf_sum(analysis, feed, target.key, index, target.name, seeds)
    grad_map = (acc / acc.sum()).numpy() if float(acc.sum()) > 0 else acc.numpy()
    r50, r95, com = mass_radii(grad_map, tuple(float(c) for c in centers))
    return ERFResult(
        model=source.name,
        input_shape=full,
        layer=target.name,
        unit=unit,
        center=tuple(centers),
        rf=target.rf,
        seeds=seeds,
        heatmap=grad_map,
        r50=r50,
        r95=r95,
        center_of_mass=com,
        seconds=time.perf_counter() - start,
        inputs=feed.inputs.to_dict(),
    )


def _centre_unit(target: RFLayer, full: tuple) -> tuple[tuple, tuple, list]:
    """The centre unit of `target`'s output: its index into the output (every
    position along dims off the spatial axes), its position per axis, and its
    analytic RF centre per axis in input pixels."""
    st = target.rf
    shape = target.output_shape
    index = tuple((n - 1) // 2 if (st is not None and st.dims[d] is not None) else slice(None) for d, n in enumerate(shape))
    unit = tuple((shape[d] - 1) // 2 for a in range(len(st.axes)) for d in [next((k for k, v in enumerate(st.dims) if v == a), None)] if d is not None)
    centers = []
    for a, ax in enumerate(st.axes):
        dims = [d for d, v in enumerate(st.dims) if v == a]
        u = (shape[dims[0]] - 1) // 2 if dims else 0
        centers.append(ax.center + u * ax.jump if ax.size is not None else (full[2 + a] - 1) / 2)
    return index, unit, centers


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


def _erf_sum(analysis, feed: Feed, key, index: tuple, layer: str, seeds: int) -> torch.Tensor:
    """Sum over seeds of |d unit / d input|, summed over batch and channels:
    netstat's own models freshly initialised from each seed; a user's module
    with its own weights (a copy of the analysis's CPU model, put in eval mode)."""
    source = analysis.source
    shared = None if source.owned else copy.deepcopy(analysis.cpu_model())
    size = "x".join(map(str, feed.shape))
    acc = None
    for seed in range(seeds):
        model = (shared if shared is not None else analysis.fresh_cpu_model(seed)).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        gen = torch.Generator().manual_seed(1000 + seed)
        x = torch.randn(feed.shape, generator=gen, requires_grad=True)
        t = forward_until(model, feed, x, {key}, contextlib.nullcontext(), f"{source.name} cannot run on {size}").get(key)
        if t is None or not t.requires_grad:
            raise ModelRunError(f"Layer '{layer}' of {source.name} produced no differentiable output.")
        g = gradient(t[index].sum(), x, f"The effective RF of {source.name}")
        g = g.abs().sum(dim=(0, 1)).double()
        acc = g if acc is None else acc + g
        del t, x, model
    return acc
