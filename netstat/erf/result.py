"""The results of the gradient methods: `VerifyResult` (one `VerifyRow` per
checked layer, one `AxisCheck` per axis) and `ERFResult`, each with the
`to_dict` that `--format json` writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netstat.rf import RFResult, TensorRF, number
from netstat.schema import SCHEMA_VERSION


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
    inputs: list[dict[str, Any]] = field(default_factory=list)  # every input of the forward (Inputs.to_dict)

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
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "input_shape": list(self.input_shape),
            "inputs": list(self.inputs),
            "method": "gradient of one centre unit on a linearised copy (positive weights, identity activations, average pooling)",
            "mode": self.mode,
            "strip_shapes": [list(s) for s in self.strip_shapes],
            "seconds": round(self.seconds, 3),
            "agree": self.agree,
            "counts": self.counts,
            "layers": [r.to_dict() for r in self.rows],
            "notes": self.notes,
        }


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
    inputs: list[dict[str, Any]] = field(default_factory=list)  # every input of the forward (Inputs.to_dict)

    def to_dict(self) -> dict[str, Any]:
        rf = self.rf.to_dict() if self.rf is not None else None
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "input_shape": list(self.input_shape),
            "inputs": list(self.inputs),
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
