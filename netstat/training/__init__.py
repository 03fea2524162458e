"""Training cost (issue 15): one step -- forward, loss, backward, optimizer
step -- traced on meta, with its FLOPs per phase and layer, the bytes saved
for backward, and its peak memory from a liveness walk.

    a = netstat.analyze("resnet50")
    t = a.training(batch=32, optimizer="adamw")
    t.totals["backward_flops"], t.peak_bytes, t.peak_at

- `trace`: the step's recording (saved-tensor hooks, layers in backward).
- `memory`: the liveness walk and the allocator assumptions.
- `build`, `result`: the `TrainingProfile` and its JSON block.
- `precision`: `--dtype` and `--amp` (fake CPU tensors for autocast).
- `fit`: the largest batch under a memory budget.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import netstat.formulas  # noqa: F401 - registers every formula, the backward ops' (netstat.formulas.backward) included
from netstat.errors import ArgumentError, ModelRunError, UsageError, first_line
from netstat.training.result import TrainingProfile

DEFAULT_BATCH = 32  # a common training batch; batch 1 cannot train a BatchNorm that sees one value per channel
DEFAULT_OPTIMIZER = "sgd"
# name -> (torch.optim class name, its arguments). Per parameter (foreach=False):
# PyTorch's default on CPU and the simplest to record. On CUDA, PyTorch
# defaults to foreach=True, whose step holds temporaries for all parameters at
# once; FOREACH_NOTE says what that changes.
OPTIMIZERS: dict[str, tuple[str, dict[str, Any]] | None] = {
    "sgd": ("SGD", {"lr": 0.01}),
    "sgdm": ("SGD", {"lr": 0.01, "momentum": 0.9}),
    "adam": ("Adam", {"lr": 1e-3}),
    "adamw": ("AdamW", {"lr": 1e-3, "weight_decay": 0.01}),
    "none": None,  # stop after backward
}
FOREACH_NOTE = (
    "The optimizer step runs per parameter (torch.optim with foreach=False, PyTorch's default on CPU); on CUDA "
    "the default foreach=True step also holds temporaries for all parameters at once (for Adam up to about "
    "the parameters' bytes again), which matters only when the peak falls in the optimizer step."
)


def make_optimizer(name: str) -> Callable[[list], Any] | None:
    """Trainable parameters -> the torch.optim optimizer `name` stands for (None for "none")."""
    import torch

    entry = OPTIMIZERS[name]
    if entry is None:
        return None
    cls, kwargs = entry
    return functools.partial(getattr(torch.optim, cls), **kwargs, foreach=False)


def check_arguments(batch: Any, optimizer: Any, dtype: Any, amp: Any, loss: Any) -> tuple[int, str, str, str | None]:
    """(batch, optimizer, dtype, amp) normalised, or an ArgumentError naming
    the argument. The batch is 1 to 2**31 - 1."""
    from netstat.training.precision import PRECISIONS

    most = 2**31 - 1  # far beyond any real batch; past int64 a batch cannot even be a shape
    if batch is None:
        batch = DEFAULT_BATCH
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ArgumentError("{batch} must be a whole number of samples (1 or more), not {given!r}.", given=batch)
    if batch > most:
        raise ArgumentError("{batch} must be at most {most:,} samples, not {given:,}.", given=batch, most=most)
    names = (optimizer, dtype, amp)
    if not all(v is None or isinstance(v, str) for v in names):
        raise ArgumentError("{optimizer}, {training_dtype} and {training_amp} are names such as 'adamw', 'fp32' and 'bf16'.")
    optimizer, dtype, amp = (v.strip().lower() if isinstance(v, str) else v for v in names)
    if optimizer not in OPTIMIZERS:
        raise ArgumentError("Unknown optimizer {given!r} for {optimizer}.", hint="Use one of: {known}.", given=optimizer, known=", ".join(OPTIMIZERS))
    if dtype not in PRECISIONS:
        raise ArgumentError("Unknown dtype {given!r} for {training_dtype}.", hint="Use one of: {known}.", given=dtype, known=", ".join(PRECISIONS))
    if amp is not None and amp not in ("bf16", "fp16"):
        raise ArgumentError("Unknown autocast precision {given!r} for {training_amp}.", hint="Use bf16 or fp16.", given=amp)
    if amp is not None and dtype != "fp32":
        raise ArgumentError("{training_amp} keeps fp32 parameters and casts activations: give it with {training_dtype} fp32 (the default), not {given}.", given=dtype)
    if loss is not None and not callable(loss):
        raise ArgumentError("{loss} must be a function of the model's output returning a scalar tensor, not {given}.", given=type(loss).__name__)
    return batch, optimizer, dtype, amp


def training_profile(
    source, batch: int | None = None, optimizer: str = DEFAULT_OPTIMIZER, dtype: str = "fp32", amp: str | None = None,
    loss: Callable | None = None, memoize: bool = True,
) -> TrainingProfile:
    """One training step of a `netstat.spec.ModelSource` at `batch` (the
    first dimension of every input), traced on meta: see the module docstring.
    `loss` maps the model's output to a scalar (default: the sum of its
    floating-point outputs)."""
    from netstat.isolation import own_modes
    from netstat.training.build import build
    from netstat.training.precision import AMP_NOTE, PRECISIONS
    from netstat.training.trace import StepFailure, StepSetup, run_step, sum_of_outputs

    if batch is None and source.inputs_given and source.input_shape:
        batch = source.input_shape[0]  # the batch of the inputs the caller gave
    batch, optimizer, dtype, amp = check_arguments(batch, optimizer, dtype, amp, loss)
    if not source.inputs:
        raise ArgumentError("'{model}' has no default input size.", hint="Give it with {input_size}.", model=source.name)
    inputs = source.inputs.with_batch(batch)
    model = source.instantiate("meta")
    if not any(p.requires_grad for p in model.parameters()):
        raise UsageError(f"{source.name} has no trainable parameters: a training step would change nothing.")
    setup = StepSetup(model, inputs, make_optimizer(optimizer), loss or sum_of_outputs, PRECISIONS[dtype] if dtype != "fp32" else None,
                      PRECISIONS[amp] if amp else None, memoize)
    try:
        with own_modes():
            step = run_step(setup)
    except StepFailure as failure:
        raise ModelRunError(_describe(failure, source.name, batch, inputs, model)) from None
    meta = {"model": source.name, "batch": batch, "optimizer": optimizer, "dtype": dtype, "amp": amp,
            "loss": "sum of outputs" if loss is None else getattr(loss, "__name__", type(loss).__name__), "input_shape": tuple(inputs.first_shape), "inputs": inputs.to_dict()}
    result = build(step, model, meta)
    result.notes += [FOREACH_NOTE] if optimizer not in ("sgd", "none") else []
    result.notes += [AMP_NOTE.format(amp=amp)] if amp else []
    result.notes = list(source.notes) + result.notes
    return result


def _describe(failure, name: str, batch: int, inputs, model) -> str:
    shape = inputs.describe()
    where = failure.where
    if where is None:
        layer = "before reaching any layer"
    elif where == "":
        layer = "in its top-level code"
    else:
        try:
            layer = f"at layer '{where}' ({type(model.get_submodule(where)).__name__})"
        except AttributeError:
            layer = f"at layer '{where}'"
    return f"{name} cannot run a training step at batch {batch} (input {shape}): it fails {layer} in the {failure.phase}: {first_line(failure.err).rstrip('.')}."


__all__ = ["DEFAULT_BATCH", "OPTIMIZERS", "TrainingProfile", "check_arguments", "make_optimizer", "training_profile"]
