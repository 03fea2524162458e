"""StepTrace -> TrainingProfile: per-op costs by phase, layers, bytes, the peak."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import torch

from netstat.metrics import op_cost
from netstat.schema import label
from netstat.training.memory import ALLOCATOR_NOTE, walk
from netstat.training.result import PeakAt, TrainingLayer, TrainingProfile
from netstat.training.trace import PHASES, StepTrace


def _ancestors(path: str) -> list[str]:
    """'a.b.c' -> ['', 'a', 'a.b', 'a.b.c']: the module and every module holding it."""
    parts = path.split(".") if path else []
    return [".".join(parts[:i]) for i in range(len(parts) + 1)]


def _layer_rows(step: StepTrace) -> dict[str, TrainingLayer]:
    """One row per module path, in the order of its first call."""
    rows: dict[str, TrainingLayer] = {}
    for call in step.modules:
        row = rows.get(call.path)
        if row is None:
            row = rows[call.path] = TrainingLayer(name=label(call.path), path=call.path, type=call.type, depth=call.depth, is_leaf=call.is_leaf)
        row.calls += 1
    return rows


def _add_costs(step: StepTrace, rows: dict[str, TrainingLayer], totals: dict[str, int]) -> dict[str, dict[str, int]]:
    """MAdds and FLOPs of every op into its phase's totals and its layers:
    a forward op counts for every module call whose range holds it (as the
    inference profile does), a backward op for the module whose autograd
    node ran it and every module holding that one."""
    used = {r.tid for op in step.ops for r in op.inputs}
    uncounted: dict[str, Counter] = {phase: Counter() for phase in PHASES}
    forward_costs = []
    for op in step.ops:
        cost = op_cost(op, step.storage_bytes, used)
        phase = step.phase_of(op.index)
        if not cost.counted:
            uncounted[phase][op.name] += 1
        totals[f"{phase}_madds"] += cost.madds
        totals[f"{phase}_flops"] += cost.flops
        if phase == "forward":
            forward_costs.append(cost)
        elif phase == "backward":
            for path in _ancestors(op.module):
                if path in rows:
                    rows[path].backward_madds += cost.madds
                    rows[path].backward_flops += cost.flops
    for call in step.modules:
        row = rows[call.path]
        for cost in forward_costs[call.first_op : call.end_op]:
            row.forward_madds += cost.madds
            row.forward_flops += cost.flops
    return {phase: dict(sorted(c.items())) for phase, c in uncounted.items() if c}


def _add_bytes(step: StepTrace, model: torch.nn.Module, rows: dict[str, TrainingLayer], totals: dict[str, int]) -> None:
    """Parameters, gradients, optimizer state and saved activations, per
    layer (a module and every module holding it) and in total; a shared
    tensor once, under the first module that holds it."""
    size = step.storage_bytes
    seen: set[int] = set()
    for path, module in model.named_modules():
        for name, p in module.named_parameters(prefix=path, recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            grad = size.get(step.grad_storages.get(name, -1), 0)
            state = sum(size.get(s, 0) for s in step.state_storages.get(name, ()))
            nbytes = p.numel() * p.element_size()
            totals["params"] += p.numel()
            totals["trainable_params" if p.requires_grad else "frozen_params"] += p.numel()
            totals["param_bytes"] += nbytes
            totals["grad_bytes"] += grad
            totals["optimizer_bytes"] += state
            for holder in _ancestors(path):
                if holder in rows:
                    row = rows[holder]
                    row.params += p.numel()
                    row.param_bytes += nbytes
                    row.grad_bytes += grad
                    row.optimizer_bytes += state
    totals["buffer_bytes"] = sum(b.numel() * b.element_size() for b in {id(b): b for b in model.buffers()}.values())
    for entry in step.saved.values():
        totals["saved_bytes"] += entry.nbytes
        for holder in _ancestors(entry.module):
            if holder in rows:
                rows[holder].saved_bytes += entry.nbytes


def build(step: StepTrace, model: torch.nn.Module, meta: dict[str, Any]) -> TrainingProfile:
    """The profile of one traced step; `meta` gives model, batch, optimizer,
    dtype, amp, loss and input_shape."""
    rows = _layer_rows(step)
    totals: dict[str, Any] = defaultdict(int)
    uncounted = _add_costs(step, rows, totals)
    _add_bytes(step, model, rows, totals)
    memory = walk(step)
    totals["input_bytes"] = sum(step.storage_bytes.get(r.storage, 0) for r in step.inputs)
    totals["peak_bytes"] = memory.peak_bytes
    totals["persistent_bytes"] = memory.persistent_bytes
    totals["partial"] = bool(uncounted)
    index = memory.peak_index
    op = step.ops[index] if index >= 0 else None
    peak_at = PeakAt(op=op.name if op else "(before the step)", phase=step.phase_of(index) if op else "forward", layer=label(op.module) if op else "", index=index)
    starts = [0] + [step.phase_ends[p] for p in PHASES[:-1]]
    phases = {p: (start, step.phase_ends[p]) for p, start in zip(PHASES, starts)}
    notes = [ALLOCATOR_NOTE, *step.notes, *_uncounted_note(uncounted)]
    return TrainingProfile(
        totals=dict(_ordered(totals)),
        peak_at=peak_at,
        layers=list(rows.values()),
        phases=phases,
        uncounted_ops=uncounted,
        notes=notes,
        timeline=memory.timeline,
        op_names=[o.name for o in step.ops],
        step=step,
        **meta,
    )


_ORDER = ("params", "trainable_params", "frozen_params", "forward_madds", "backward_madds", "optimizer_madds", "forward_flops",
          "backward_flops", "optimizer_flops", "param_bytes", "buffer_bytes", "grad_bytes", "optimizer_bytes", "saved_bytes",
          "input_bytes", "persistent_bytes", "peak_bytes", "partial")


def _ordered(totals: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(key, totals[key]) for key in _ORDER]


def _uncounted_note(uncounted: dict[str, dict[str, int]]) -> list[str]:
    if not uncounted:
        return []
    listed = "; ".join(f"{phase}: " + ", ".join(f"{name} x{n}" for name, n in ops.items()) for phase, ops in uncounted.items())
    return [f"Ops with no cost formula (their FLOPs are missing from the totals): {listed}."]

