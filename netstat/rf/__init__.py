"""Receptive fields, exact on the traced dataflow graph (DESIGN §4).

Every tensor that depends on the model input carries, per spatial axis, the
linear model of Araujo, Norris & Sim (Distill 2019): RF size r, jump j and
centre c, exact rationals (`model`). Each aten op transforms it by its rule
in one table, `RULES` (`rules`); `propagate` walks the trace with them and
`analyze` returns one row per module call (`result`). `stack()` is the
calculator for plain and dilated stacks with no model (`calculator`); it grows
the RF through the same convolution rule.

`analyze(trace)` works on an existing `netstat.trace.Trace` (e.g.
`Profile.trace`); `netstat.receptive_field(model_or_name)` (netstat.analysis) traces first.
`RFResult.features` is the last spatial feature map (the RF to compare
models by). Tables and figures are in `netstat.render.rf`.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Name -> the module that defines it, imported on first use: the calculator
# (`stack`) and the model arithmetic do not import torch, the graph
# propagation does, so `netstat rf` without a model starts without it.
_API = {
    **dict.fromkeys(("GRID_BITS", "GRID_WORK", "MAX_CHANNELS", "MAX_LAYERS", "MAX_SIZE", "StackLayer", "StackResult", "hdc_max_distance", "rates_text", "stack"), "netstat.rf.calculator"),
    **dict.fromkeys(("SCHEMA_VERSION", "AxisRF", "Reads", "TensorRF", "affine", "fmt_number", "number", "sampled", "transfer"), "netstat.rf.model"),
    **dict.fromkeys(("Propagator", "analyze"), "netstat.rf.propagate"),
    **dict.fromkeys(("RFLayer", "RFResult"), "netstat.rf.result"),
    **dict.fromkeys(("POINTWISE", "RULES", "rule"), "netstat.rf.rules"),
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(import_module(_API[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'netstat.rf' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
