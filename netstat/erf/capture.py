"""Running a model for the gradient methods: the model and its input from a
name or module, the output of every module call captured by hooks, keyed
by (module path, call number), and forwards that stop once the wanted
outputs are in."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch.utils._pytree import tree_flatten, tree_map

from netstat.erf.linearise import Linearise
from netstat.errors import ArgumentError, ModelRunError


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


def forward_linearised(model, x, capture_clone: bool = True) -> dict[tuple[str, int], torch.Tensor]:
    """Every module call's output of `model(x)` run under `Linearise()`."""
    cap = Capture(model, clone=capture_clone)
    try:
        with Linearise():
            model(x)
    finally:
        cap.close()
    return cap.outputs


def forward_until(model, x, until: set, mode, failure: str) -> dict[tuple[str, int], torch.Tensor]:
    """The outputs captured by running `model(x)` under the context `mode`,
    stopped once those keyed in `until` are in; a failure of the forward
    becomes one ModelRunError sentence that starts with `failure`."""
    cap = Capture(model, until=until)
    try:
        with mode:
            model(x)
    except Enough:
        pass
    except Exception as err:  # noqa: BLE001
        raise ModelRunError(f"{failure}: {type(err).__name__}: {err}.") from None
    finally:
        cap.close()
    return cap.outputs


def analysis_of(model_or_analysis: Any, input_size: tuple | None):
    """The `netstat.Analysis` of a name, module or analysis (whose trace,
    receptive field and CPU model are then shared), with an input shape."""
    from netstat.analysis import Analysis, analyze

    analysis = model_or_analysis if isinstance(model_or_analysis, Analysis) else analyze(model_or_analysis, input_size)
    if analysis.source.input_shape is None:
        raise ArgumentError(
            "'{model}' has no default input size.",
            hint="Give it with {input_shape}, or as the factory's input_shape attribute.",
            model=analysis.name,
        )
    return analysis


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
