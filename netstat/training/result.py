"""What a training profile holds: per layer and in total, with its JSON form."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from netstat.display import Displayed, data_frame
from netstat.schema import SCHEMA_VERSION

TRAINING_UNITS = {
    "forward_madds": "multiply-accumulates of conv, matmul and attention in the forward (and loss)",
    "backward_madds": "the same in the backward: a conv's grad-input and grad-weight convolutions, a linear layer's two products",
    "forward_flops": "floating-point operations of the forward: 2 x MAdds + everything else",
    "backward_flops": "floating-point operations of the backward",
    "optimizer_flops": "floating-point operations of the optimizer step",
    "param_bytes": "bytes of every parameter (shared tensors once)",
    "grad_bytes": "bytes of the gradients of the trainable parameters",
    "optimizer_bytes": "bytes of the optimizer's state (momentum, Adam's moments; not its CPU step counts)",
    "saved_bytes": "bytes autograd saves for backward, each allocation once (parameters not included, the input included)",
    "peak_bytes": "most bytes live at once during the step (liveness walk; see the notes for the allocator assumptions)",
    "cuda": ("the step on a CUDA GPU, PyTorch's caching allocator replayed over it (netstat.cuda_memory): allocated_peak_bytes as "
             "torch.cuda.max_memory_allocated counts it, reserved_peak_bytes as max_memory_reserved; context_bytes and workspace_bytes "
             "are typical values, not measured; total_bytes = reserved + context + workspace"),
}


@dataclass
class TrainingLayer:
    """One module (every call of it merged): its share of the step."""

    name: str
    path: str
    type: str
    depth: int
    is_leaf: bool
    calls: int = 0
    params: int = 0
    param_bytes: int = 0
    grad_bytes: int = 0
    optimizer_bytes: int = 0
    forward_madds: int = 0
    forward_flops: int = 0
    backward_madds: int = 0
    backward_flops: int = 0
    saved_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PeakAt:
    """Where the step's memory peaks: the op, its phase and its layer."""

    op: str
    phase: str
    layer: str
    index: int  # the op's position in the step (-1: before the first op)

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "phase": self.phase, "layer": self.layer, "index": self.index}


@dataclass
class TrainingProfile(Displayed):
    """The cost of one training step of a model at one batch, optimizer and precision."""

    model: str
    batch: int
    optimizer: str
    dtype: str  # the parameters' precision
    amp: str | None  # the autocast precision of the activations (None: no autocast)
    loss: str
    input_shape: tuple[int, ...]
    totals: dict[str, Any]
    peak_at: PeakAt
    layers: list[TrainingLayer]
    phases: dict[str, tuple[int, int]]  # phase -> [first op, end op)
    uncounted_ops: dict[str, dict[str, int]]  # phase -> op name -> calls
    notes: list[str] = field(default_factory=list)
    timeline: list[int] = field(default_factory=list, repr=False)  # live bytes after each op
    op_names: list[str] = field(default_factory=list, repr=False)
    step: Any = field(default=None, repr=False)  # the netstat.trace.Trace of the step it was built from
    inputs: list[dict[str, Any]] = field(default_factory=list)  # every input at this batch (netstat.inputs.Inputs.to_dict)
    cuda: Any = field(default=None, repr=False)  # netstat.cuda_memory.CudaMemory: computed by cuda_memory(), once

    def cuda_memory(self):
        """The step on CUDA: PyTorch's caching allocator replayed over it
        (netstat.cuda_memory): allocated and reserved peaks, context and
        workspace lines. Computed on first use."""
        if self.cuda is None:
            from netstat.cuda_memory import replay

            self.cuda = replay(self.step)
        return self.cuda

    @property
    def peak_bytes(self) -> int:
        return self.totals["peak_bytes"]

    def layer(self, path: str) -> TrainingLayer:
        """The row of the module at `path` ("" is the model)."""
        for row in self.layers:
            if row.path == path:
                return row
        raise KeyError(f"no module '{path}' ran in this step")

    def to_dict(self) -> dict[str, Any]:
        """The `training` block of a profile document."""
        return {
            "batch": self.batch,
            "optimizer": self.optimizer,
            "dtype": self.dtype,
            "amp": self.amp,
            "loss": self.loss,
            "input_shape": list(self.input_shape),
            "inputs": self.inputs,
            **self.totals,
            "peak_at": self.peak_at.to_dict(),
            "cuda": self.cuda_memory().to_dict() if self.step is not None else None,
            "phases": {k: list(v) for k, v in self.phases.items()},
            "units": TRAINING_UNITS,
            "layers": [row.to_dict() for row in self.layers],
            "uncounted_ops": self.uncounted_ops,
            "notes": self.notes,
        }

    def document(self, profile: dict[str, Any]) -> dict[str, Any]:
        """`netstat profile --train --format json`: the model's profile
        document (`Profile.to_dict()`: the inference forward at its given
        input) with this step as its "training" block, so that a reader of
        profile documents reads this one too (the step's own batch and input
        are in the block)."""
        return {"schema_version": SCHEMA_VERSION, **profile, "training": self.to_dict()}

    def to_pandas(self):
        """The per-layer rows (`to_dict()["layers"]`, one per module) as a pandas DataFrame."""
        return data_frame(row.to_dict() for row in self.layers)

    def __repr__(self) -> str:
        return self.summary()
