"""Verification (`verify`): a second, independent method for the analytic RF.

Back-propagate from one output unit at the centre of a layer's output to the
input of a *linearised* copy of the model (`netstat.erf.linearise`: positive
weights, identity activations and norms, average instead of max pooling), and
read off the extent of the non-zero input gradient per axis. It must equal
the analytic interval of that unit (``c + u j ± (r - 1)/2``) within the
layer's reach (`netstat.rf.AxisRF.reach`: the input, less border
pixels no unit reads), within the reported slack where upsampling makes the
model an average; for a global layer, the whole reach. A unit whose window
reaches into padding can lose a dilated kernel's last taps: its gradient may
then be narrower than the clipped RF ("border"), never wider.

Speed: each axis is checked on a thin strip input (`netstat.erf.strips`);
many layers' probes share one forward and one backward pass, one batch
element each (unless a batch-2 pass of the linearised copy shows batch
elements mixing), and a batch stops the forward once its last layer has run
(`netstat.erf.probes`). The pass runs in float32 on one thread; any
disagreement is re-checked on the full input in float64 (float32 can
underflow at the far edge of a deep RF, and a strip can be too thin for a
layer that shifts its map along the thin axis).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from netstat.erf.capture import Feed, analysis_of, feed_of, one_thread, out_of_memory
from netstat.erf.linearise import fill_weights, linearised
from netstat.erf.probes import Extents, activation_bytes, batch_mixing, extents_in_chunks, probe_groups
from netstat.erf.result import AxisCheck, VerifyResult, VerifyRow
from netstat.erf.strips import Plan, plans
from netstat.errors import ArgumentError
from netstat.isolation import own_modes

if TYPE_CHECKING:
    from netstat.rf import RFResult, TensorRF


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
    linearised copy (see the module docstring). `model_or_name`: a name, a
    module, or a `netstat.Analysis` (its trace, RF and CPU model are used;
    `input_size` is then its own). `layers`: "all" module calls, "leaves", or
    the module tree down to a depth (an int; depth 0 is the model's output).
    Gradients are taken with respect to the first input (`feed_of`: the one
    the RF is measured on), the model's other inputs held fixed. The user's
    model is never modified, and the caller's modes (inference mode,
    no_grad, autocast) and RNG state do not matter and are kept."""
    _check_layers(layers)
    start = time.perf_counter()
    analysis = analysis_of(model_or_name, input_size)
    feed = feed_of(analysis)
    with own_modes(), out_of_memory(f"The gradient check of {analysis.name}"):
        if analytic is None:
            analytic = analysis.receptive_field
        with one_thread():  # thin strips: one thread beats two (and a shared machine)
            run = _Run(analysis.name, feed, analytic, chunk, memory_budget, activation_bytes(analytic))
            return run.run(analysis.cpu_model(), strips, layers, start)


def _check_layers(layers: Any) -> None:
    if layers in ("all", "leaves") or (isinstance(layers, int) and not isinstance(layers, bool) and layers >= 0):
        return
    raise ArgumentError('{verify_layers} must be "all", "leaves" or a module-tree depth of 0 or more, not {given!r}.', given=layers)


@dataclass
class _Run:
    """One verification: the checks so far, by layer index and axis, and
    the probes (groups of layer indexes) to repeat in float64."""

    name: str
    feed: Feed
    analytic: RFResult
    chunk: int
    memory_budget: float
    per_sample: float  # activation bytes of one batch element
    notes: list[str] = field(default_factory=list)
    checks: dict[int, dict[int, AxisCheck]] = field(default_factory=dict)
    retry: list[list[int]] = field(default_factory=list)

    @property
    def full(self) -> tuple:
        return self.feed.shape

    def run(self, built: torch.nn.Module, strips: bool, layers: str | int, start: float) -> VerifyResult:
        """Every probe on the plan's inputs, disagreements re-checked in float64."""
        fast = linearised(built, torch.float32)  # a copy: `built` is shared with the analysis
        inputs = plans(fast, self.feed, self.analytic, strips, self.notes)
        probes = probe_groups(self.analytic, layers)
        mixing = batch_mixing(fast, self.feed, self.name, inputs[0], [self.analytic.layers[i] for group in probes for i in group])
        if mixing:
            self.chunk = 1
            self.notes.append(f"Batch elements interact ({mixing}), so every layer was checked in a pass of its own.")
        for plan in inputs:
            self.check(fast, plan, probes)
        if self.retry:
            self.recheck(built)
        return self.result(inputs, start)

    def check(self, model: torch.nn.Module, plan: Plan, probes: list[list[int]]) -> None:
        """Every probe on one input of the plan, in float32."""
        shape, axes, scale = plan
        fill_weights(model, tuple(k for k in range(len(self.full) - 2) if shape[2 + k] == 1))
        # forward values, clones for the capture, autograd's saved tensors and gradients: ~6x the activations
        step = max(1, min(self.chunk, int(self.memory_budget / max(1.0, 6 * self.per_sample * scale))))
        found = extents_in_chunks(model, self.feed, self.name, shape, self._layers(probes), axes, step)
        for idxs, per_axis in zip(probes, found):
            judged = self._record(idxs, axes, per_axis)
            if any(c.status != "ok" for c in judged.values()) and idxs not in self.retry:
                self.retry.append(idxs)

    def recheck(self, built: torch.nn.Module) -> None:
        """Confirm every disagreement on the full input in float64: float32 can
        underflow at the far edge of a deep RF, and a strip can be too thin for
        a layer that shifts its map along the thin axis."""
        exact = linearised(built, torch.float64)
        axes = list(range(len(self.full) - 2))
        small = max(1, int(self.memory_budget / max(1.0, 12 * self.per_sample)))
        found = extents_in_chunks(exact, self.feed, self.name, self.full, self._layers(self.retry), axes, min(small, self.chunk), torch.float64)
        for idxs, per_axis in zip(self.retry, found):
            self._record(idxs, axes, per_axis)
        self.notes.append(f"{len(self.retry)} layer checks were repeated on the full input in float64.")

    def _layers(self, probes: list[list[int]]) -> list:
        return [self.analytic.layers[idxs[0]] for idxs in probes]

    def _record(self, idxs: list[int], axes: list[int], per_axis: Extents) -> dict[int, AxisCheck]:
        judged = check_axes(self.analytic.layers[idxs[0]], axes, per_axis, self.full)
        for i in idxs:
            self.checks.setdefault(i, {}).update(judged)
        return judged

    def result(self, inputs: list[Plan], start: float) -> VerifyResult:
        rows = [
            VerifyRow(layer.name, layer.type, layer.depth, layer.is_leaf, layer.output_shape, [self.checks[i][a] for a in sorted(self.checks[i])])
            for i, layer in enumerate(self.analytic.layers)
            if i in self.checks
        ]
        return VerifyResult(
            model=self.name,
            input_shape=self.full,
            inputs=self.feed.inputs.to_dict(),
            mode="strips" if len(inputs) > 1 or inputs[0][0] != self.full else "full",
            strip_shapes=[p[0] for p in inputs],
            rows=rows,
            seconds=time.perf_counter() - start,
            analytic=self.analytic,
            notes=self.notes,
        )


def check_axes(layer, axes: list[int], per_axis: Extents, full: tuple) -> dict[int, AxisCheck]:
    """The analytic interval of `layer`'s centre unit against its gradient extents."""
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
