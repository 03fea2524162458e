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

from netstat.rf.calculator import (
    GRID_BITS,
    GRID_WORK,
    MAX_CHANNELS,
    MAX_LAYERS,
    MAX_SIZE,
    StackLayer,
    StackResult,
    hdc_max_distance,
    rates_text,
    stack,
)
from netstat.rf.model import SCHEMA_VERSION, AxisRF, Reads, TensorRF, affine, fmt_number, number, sampled, transfer
from netstat.rf.propagate import Propagator, analyze, batch_mixing
from netstat.rf.result import RFLayer, RFResult
from netstat.rf.rules import POINTWISE, RULES, rule

__all__ = [
    "GRID_BITS",
    "GRID_WORK",
    "MAX_CHANNELS",
    "MAX_LAYERS",
    "MAX_SIZE",
    "POINTWISE",
    "RULES",
    "SCHEMA_VERSION",
    "AxisRF",
    "Propagator",
    "RFLayer",
    "RFResult",
    "Reads",
    "StackLayer",
    "StackResult",
    "TensorRF",
    "affine",
    "analyze",
    "batch_mixing",
    "fmt_number",
    "hdc_max_distance",
    "number",
    "rates_text",
    "rule",
    "sampled",
    "stack",
    "transfer",
]
