"""What `analyze` returns: one RF row per module call, the model output's,
and the notes, with their JSON form (schema SCHEMA_VERSION)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netstat.display import Displayed, data_frame
from netstat.rf.model import TensorRF
from netstat.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from netstat.trace import Trace


@dataclass
class RFLayer:
    """The RF of one module call's (first) output."""

    name: str
    type: str
    depth: int
    is_leaf: bool
    call: int
    output_shape: tuple | None
    rf: TensorRF | None
    end_op: int = -1  # the trace op index after which the output exists
    path: str | None = None  # the module's path ("" for the root module); None for the model output's row

    @property
    def key(self) -> tuple[str, int]:
        """(module path, call index): joins this row to `netstat.metrics.Row.key`."""
        return (self.name if self.path is None else self.path, self.call)

    def describe(self) -> str:
        return self.rf.describe() if self.rf is not None else "-"

    def to_dict(self) -> dict[str, Any]:
        base = {"name": self.name, "type": self.type, "depth": self.depth, "is_leaf": self.is_leaf, "call": self.call}
        if self.path is not None:
            base["path"] = self.path
        base["output_shape"] = list(self.output_shape) if self.output_shape is not None else None
        if self.rf is None:
            base.update(rf=None, stride=None, center=None, padding=None, slack=None, aligned=True, misaligned_ops=[])
            base["global"] = False
            base["depends_on_input"] = False
        else:
            base.update(self.rf.to_dict())
            base["depends_on_input"] = True
        return base


@dataclass
class RFResult(Displayed):
    """Per module call RF (`layers`, in trace order), the model output's
    (`final`), and notes on ops without an exact rule."""

    model: str
    input_shape: tuple
    layers: list[RFLayer]
    final: RFLayer | None
    notes: list[str] = field(default_factory=list)
    states: dict[int, TensorRF] = field(default_factory=dict, repr=False)
    trace: Trace | None = field(default=None, repr=False)

    @property
    def axis_names(self) -> list[str]:
        n = max(0, len(self.input_shape) - 2)
        return ["H", "W"] if n == 2 else ["D", "H", "W"] if n == 3 else ["L"] if n == 1 else [f"axis{i}" for i in range(n)]

    @property
    def aligned(self) -> bool:
        return all(layer.rf is None or layer.rf.aligned for layer in self.layers)

    @property
    def features(self) -> RFLayer | None:
        """The last spatial feature map: the module call finishing last whose
        output still runs along a spatial axis with a local RF (an SE gate's
        global path aside; ties: the shallowest name, `layer4` rather than
        `layer4.2.relu`). For a classifier, the RF before global pooling
        (VGG-16: 212, ResNet-50: 427); for a dense-prediction net, its output
        (the model itself is a candidate)."""
        best = None
        for layer in self.layers:
            st = layer.rf
            if st is None or not any(a is not None for a in st.dims):
                continue
            if any(a.size is None for a in st.axes):  # no local path left
                continue
            key = (layer.end_op, -layer.depth)
            if best is None or key > best[0]:
                best = (key, layer)
        return best[1] if best else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "input_shape": list(self.input_shape),
            "axes": self.axis_names,
            "units": {
                "rf": "input pixels per axis; null when the layer sees the whole input (global)",
                "stride": "input pixels between neighbouring units (effective stride, jump)",
                "center": "input pixel index of the centre of the first unit's RF",
                "padding": "effective padding (rf - 1)/2 - center",
                "slack": "largest distance, in input pixels, between a unit's true RF edge and the model's (0 = exact)",
            },
            "layers": [layer.to_dict() for layer in self.layers],
            "final": self.final.to_dict() if self.final is not None else None,
            "features": self.features.to_dict() if self.features is not None else None,
            "aligned": self.aligned,
            "notes": list(self.notes),
        }

    def to_pandas(self):
        """The per-layer rows (`to_dict()["layers"]`) as a pandas DataFrame."""
        return data_frame(layer.to_dict() for layer in self.layers)

    def __repr__(self) -> str:
        return self.summary()
