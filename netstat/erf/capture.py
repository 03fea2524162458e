"""Running a model for the gradient methods: the model and its input from a
name or module, the forward's other inputs held fixed (`Feed`), the output
of every module call captured by hooks, keyed by (module path, call
number), forwards that stop once the wanted outputs are in, and gradients
whose failure (a backward that raises, memory that runs out) is one
sentence."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._pytree import tree_flatten, tree_map

from netstat.erf.linearise import Linearise
from netstat.errors import ArgumentError, ModelRunError, NetstatError, UsageError, first_line, is_out_of_memory
from netstat.inputs import Inputs, InputSpec


class Enough(Exception):
    """Raised from a hook once every wanted output is captured: the rest of
    the forward pass is not needed."""


class Capture:
    """Forward hooks on every module of a model we own: the first output
    tensor of each call, keyed by (path, call number). The hook hands a
    clone downstream so later in-place ops cannot change a captured value.
    With `until`, the forward stops (raises `Enough`) once those are captured."""

    def __init__(self, model: torch.nn.Module, clone: bool = True, until: set | None = None) -> None:
        self.outputs: dict[tuple[str, int], torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.handles = []
        self.missing = set(until) if until else None
        for path, module in model.named_modules():
            self.handles.append(module.register_forward_hook(self._hook(path, clone)))

    def _hook(self, path: str, clone: bool):
        def hook(module, inputs, output):
            n = self.counts.get(path, 0)
            self.counts[path] = n + 1
            first = next((t for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor)), None)
            if first is not None:
                self.outputs[(path, n)] = first
            if self.missing is not None:
                self.missing.discard((path, n))
                if not self.missing:
                    raise Enough
            if clone:
                return tree_map(lambda t: t.clone() if isinstance(t, torch.Tensor) and t.is_floating_point() else t, output)
            return None

        return hook

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def forward_linearised(model, feed: "Feed", x, capture_clone: bool = True) -> dict[tuple[str, int], torch.Tensor]:
    """Every module call's output of `feed(model, x)` run under `Linearise()`."""
    cap = Capture(model, clone=capture_clone)
    try:
        with Linearise():
            feed(model, x)
    finally:
        cap.close()
    return cap.outputs


def forward_until(model, feed: "Feed", x, until: set, mode, failure: str) -> dict[tuple[str, int], torch.Tensor]:
    """The outputs captured by running `feed(model, x)` under the context
    `mode`, stopped once those keyed in `until` are in; a failure of the
    forward becomes one ModelRunError sentence that starts with `failure`."""
    cap = Capture(model, until=until)
    try:
        with mode:
            feed(model, x)
    except Enough:
        pass
    except NetstatError:
        raise
    except Exception as err:  # noqa: BLE001 - MemoryError included
        raise ModelRunError(f"{failure}: {first_line(err).rstrip('.')}.", hint=_hint(err)) from None
    finally:
        cap.close()
    return cap.outputs


def gradient(value: torch.Tensor, x: torch.Tensor, failure: str, retain: bool = False, allow_unused: bool = False):
    """d value / d x; a backward that raises, or memory that runs out,
    becomes one ModelRunError sentence that starts with `failure` (what
    was being done: "The gradient check of resnet50")."""
    try:
        (grad,) = torch.autograd.grad(value, x, retain_graph=retain, allow_unused=allow_unused)
    except NetstatError:
        raise
    except Exception as err:  # noqa: BLE001 - the model's own backward, MemoryError included
        if is_out_of_memory(err):
            raise ModelRunError(f"{failure} ran out of memory in the backward pass.", hint="Try a smaller input size.") from None
        raise ModelRunError(f"{failure} failed in the model's backward pass: {first_line(err).rstrip('.')}.") from None
    return grad


@contextlib.contextmanager
def out_of_memory(what: str):
    """Running out of memory anywhere in the block (copying the model, a
    forward, a backward: netstat.errors.is_out_of_memory) as one
    ModelRunError sentence; any other error passes."""
    try:
        yield
    except Exception as err:  # noqa: BLE001 - re-raised unless it is running out of memory
        if not is_out_of_memory(err):
            raise
        raise ModelRunError(f"{what} ran out of memory.", hint="Try a smaller input size.") from None


def _hint(err: BaseException) -> str:
    return "It ran out of memory: try a smaller input size." if is_out_of_memory(err) else ""


def analysis_of(model_or_analysis: Any, input_size: Any):
    """The `netstat.Analysis` of a name, module or analysis (whose trace,
    receptive field and CPU model are then shared), with its inputs."""
    from netstat.analysis import Analysis, analyze

    analysis = model_or_analysis if isinstance(model_or_analysis, Analysis) else analyze(model_or_analysis, input_size)
    if not analysis.source.inputs or analysis.source.input_shape is None:
        raise ArgumentError(
            "'{model}' has no default input size.",
            hint="Give it with {input_shape}, or as the factory's input_shape attribute.",
            model=analysis.name,
        )
    return analysis


@dataclass(frozen=True)
class Feed:
    """How the gradient methods call a model: `x` in place of the probed
    input (`feed_of`), at its batch size; every other input held fixed at
    that batch (`Inputs.with_batch`) and, when floating point, in x's dtype.
    A held input given as a shape is ones when floating point or bool (a
    zero gate or mask would hide every path from the probed input; the
    probe itself is ones too) and zeros when integer (token ids stay in
    range); a real example keeps its values."""

    inputs: Inputs
    name: str  # the probed input: "0", "1", ... (positional) or a keyword
    shape: tuple[int, ...]

    def __call__(self, model, x: torch.Tensor):
        held = self.inputs.with_batch(x.shape[0]).cast(str(x.dtype).removeprefix("torch."))
        args, kwargs = held.materialise("cpu")
        args = [_neutral(spec, value) for spec, value in zip(held.args, args)]
        kwargs = {key: _neutral(spec, kwargs[key]) for key, spec in held.kwargs}
        if self.name.isdigit():
            args[int(self.name)] = x
        else:
            kwargs[self.name] = x
        return model(*args, **kwargs)


def _neutral(spec: Any, value: Any) -> Any:
    if isinstance(spec, InputSpec) and (spec.dtype.startswith(("float", "bfloat")) or spec.dtype == "bool"):
        return torch.ones_like(value)
    return value


def feed_of(analysis) -> Feed:
    """The input the gradient methods vary: the forward's first tensor input,
    the one its receptive field is measured on (`netstat.rf`), which must be
    a floating-point tensor with spatial dims given as an argument of its
    own; every other input is held fixed (`Feed`)."""
    name, spec = analysis.source.inputs.specs()[0]
    label = f"input {name}" if name.split(".")[0].isdigit() else name
    floating = spec.dtype.startswith(("float", "bfloat"))
    if "." in name or not floating or len(spec.shape) < 3:
        why = "is inside a tuple, list or dict" if "." in name else "is not a floating-point tensor with spatial dims"
        raise UsageError(
            f"The gradient check and the effective RF differentiate {analysis.name} with respect to its first input, "
            f"the one its receptive field is measured on, and that input ({label}, {spec.describe()}) {why}.",
            hint="Give a floating-point input with spatial dims, such as 1,3,224,224, first.",
        )
    return Feed(analysis.source.inputs, name, tuple(spec.shape))


@contextlib.contextmanager
def one_thread():
    """Torch on one thread, restored after: thin strips and single-unit
    gradients run faster so (and share a 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
