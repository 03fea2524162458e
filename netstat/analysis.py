"""One model's analysis: resolved once, traced once, every metric a view of that trace.

    a = netstat.analyze("resnet50")
    a.profile.totals["madds"]          # params, MAdds, FLOPs, bytes, per layer / type / stage
    a.receptive_field.features         # RF of every module call, from the same trace
    a.cpu_model()                      # a CPU model for real forwards, built once

Like fvcore's `FlopCountAnalysis`, an `Analysis` answers questions and computes
each answer once, on demand; the commands (profile, compare, rf, crosscheck)
take one instead of resolving and tracing again. A user's module is never run:
the trace and `cpu_model()` work on copies of it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from netstat.display import Displayed, data_frame
from netstat.spec import ModelSource, resolve


class Analysis(Displayed):
    """A resolved model spec and the single trace every metric comes from."""

    def __init__(self, source: ModelSource, device: str = "meta") -> None:
        self.source = source
        self.device = device
        self._cpu_model = None

    @property
    def name(self) -> str:
        return self.source.name

    def to_pandas(self):
        """The profile's per-layer rows as a pandas DataFrame (`Profile.to_pandas`)."""
        return self.profile.to_pandas()

    def __repr__(self) -> str:
        return self.summary()

    @cached_property
    def _traced(self):
        from netstat.trace import trace_model

        return trace_model(self.source, self.device)

    @property
    def trace(self):
        """The one traced forward (netstat.trace.Trace)."""
        return self._traced[0]

    @property
    def model(self):
        """The model the trace ran: netstat's own build, or a working copy of yours."""
        return self._traced[1]

    @cached_property
    def profile(self):
        """Params, MAdds, FLOPs, shapes and memory (netstat.metrics.Profile)."""
        from netstat.metrics import build_profile, published_note
        from netstat.quantized import packed_params

        result = build_profile(self.name, self.source.input_shape, self.trace, self.model)
        result.inputs = self.source.inputs.to_dict()
        result.published = self.source.published
        result.notes = self.source.notes + result.notes + published_note(self.source.published, result, bool(packed_params(self.model)))
        return result

    @cached_property
    def receptive_field(self):
        """The RF of every module call, on the same trace (netstat.rf.RFResult)."""
        from netstat.rf import analyze as rf_of

        result = rf_of(self.trace, self.name)
        result.notes = list(self.trace.notes) + result.notes
        return result

    def training(self, batch: int | None = None, optimizer: str = "sgd", dtype: str = "fp32", amp: str | None = None, loss=None):
        """One training step -- forward, `loss` (default: the sum of the
        outputs), backward, `optimizer` step -- at `batch`, traced on meta:
        FLOPs per phase and layer, saved activations, gradients, optimizer
        state and the step's peak memory (netstat.training.TrainingProfile).
        One trace per distinct set of arguments, kept."""
        from netstat.training import training_profile

        key = (batch, optimizer, dtype, amp, loss)
        cache = self.__dict__.setdefault("_trainings", {})
        if key not in cache:
            cache[key] = training_profile(self.source, batch, optimizer, dtype, amp, loss)
        return cache[key]

    def cpu_model(self):
        """The model on CPU with values, for real forwards (cross-checks,
        gradients, timing): netstat's own build, or a working copy of yours;
        built once. Callers that change it (weights, hooks) copy it first."""
        if self._cpu_model is None:
            self._cpu_model = self.fresh_cpu_model()
        return self._cpu_model

    def fresh_cpu_model(self, seed: int = 0):
        """A new CPU model (`ModelSource.instantiate`): netstat's own build
        initialised from `seed` (e.g. one per ERF seed; the caller's RNG is
        untouched), or another working copy of yours; a meta module of yours
        (built without storage) gets zeros."""
        from netstat.copying import has_meta_tensors

        if not self.source.owned and has_meta_tensors(self.source.module):
            return _with_storage(self.source.instantiate("meta"))
        return self.source.instantiate("cpu", seed)


def _with_storage(model):
    """A meta model on CPU, every parameter and buffer zeros."""
    import torch

    from netstat.isolation import own_modes

    with own_modes():
        model = model.to_empty(device="cpu")
        with torch.no_grad():
            for t in itertools.chain(model.parameters(), model.buffers()):
                t.zero_()
    return model


def analyze(
    model: Any,
    input_size: Any = None,
    model_kwargs: dict[str, Any] | None = None,
    device: str = "meta",
    proposals: int | None = None,
    detections: int | None = None,
    *,
    inputs: Any = None,
    kwargs: dict[str, Any] | None = None,
) -> Analysis:
    """An `Analysis` of a zoo name, a spec string ("torchvision:resnet50@IMAGENET1K_V2",
    "timm:vit_base_patch16_224", "file.py:build") or an nn.Module.

    The forward's inputs (every spec has a default): `input_size`, one shape
    or a list (shapes or `netstat.InputSpec`s, a shape and a dtype), one per
    positional argument; or real example inputs, `inputs` (a tensor, or a
    tuple / list of positional ones, nested structures allowed) and `kwargs`
    (keyword inputs by name, tensors or InputSpecs); or a whole
    `netstat.Inputs`. On meta only their shapes and dtypes are used.
    `model_kwargs` go to the builder. A detector's box head runs on
    `proposals` boxes and its mask / keypoint heads on `detections`
    (default: the model's own maxima)."""
    from netstat.inputs import example_inputs

    source = resolve(model, input_size, model_kwargs, inputs=example_inputs(inputs, kwargs))
    if proposals is not None or not isinstance(model, ModelSource):  # a given source keeps its own box counts
        source.proposals = _count(proposals, "proposals")
    if detections is not None or not isinstance(model, ModelSource):
        source.detections = _count(detections, "detections")
    return Analysis(source, device)


def _count(value: int | None, name: str) -> int | None:
    from netstat.errors import UsageError

    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise UsageError(f"{name} must be a whole number of boxes (0 or more), not {value!r}.")
    return value


def profile(
    model: Any,
    input_size: Any = None,
    device: str = "meta",
    model_kwargs: dict[str, Any] | None = None,
    proposals: int | None = None,
    detections: int | None = None,
    *,
    inputs: Any = None,
    kwargs: dict[str, Any] | None = None,
):
    """Profile a zoo name, a spec string ("torchvision:resnet50",
    "timm:vit_base_patch16_224", "file.py:build") or an nn.Module, in one
    traced inference pass: `analyze(...).profile` (see there for the
    arguments). The default device "meta" allocates nothing and runs no
    arithmetic; a forward that needs real values falls back to CPU (see
    `Profile.notes`). A user's module is never run or changed: netstat traces a copy.
    """
    return analyze(model, input_size, model_kwargs, device, proposals, detections, inputs=inputs, kwargs=kwargs).profile


def receptive_field(model: Any, input_size: Any = None, device: str = "meta", model_kwargs: dict[str, Any] | None = None, *,
                    inputs: Any = None, kwargs: dict[str, Any] | None = None):
    """The receptive field of every module call: `analyze(...).receptive_field`."""
    return analyze(model, input_size, model_kwargs, device, inputs=inputs, kwargs=kwargs).receptive_field


@dataclass
class Comparison(Displayed):
    """Several analyses side by side, with what each model's source publishes."""

    analyses: list[Analysis]

    @property
    def profiles(self) -> list:
        return [a.profile for a in self.analyses]

    def top1(self, analysis: Analysis) -> float | None:
        """The paper's top-1 accuracy of a zoo model (None for others)."""
        from netstat.zoo import published_top1

        return published_top1(analysis.source.zoo_name) if analysis.source.zoo_name else None

    def final_rf(self, analysis: Analysis):
        """The RF of the last spatial feature map (before global pooling: VGG-16 212, ResNet-50 427)."""
        return analysis.receptive_field.features

    def to_dict(self) -> dict[str, Any]:
        models = []
        for a in self.analyses:
            entry = a.profile.to_dict()
            features = self.final_rf(a)
            entry["top1"] = self.top1(a)
            entry["final_rf"] = features.to_dict() if features is not None else None
            models.append(entry)
        return {"models": models}

    def to_pandas(self):
        """One row per model: its name, input shape and profile totals, as a pandas DataFrame."""
        return data_frame({"model": p.model, "input_shape": list(p.input_shape), **p.totals} for p in self.profiles)

    def __repr__(self) -> str:
        return self.summary()


def compare(models: list[Any], input_size: Any = None, model_kwargs: dict[str, Any] | None = None, device: str = "meta", *,
            inputs: Any = None, kwargs: dict[str, Any] | None = None) -> Comparison:
    """Two or more models analysed the same way (the same inputs when given, as `analyze` takes them)."""
    from netstat.errors import UsageError

    if len(models) < 2:
        raise UsageError(f"A comparison needs two or more models, not {len(models)}.")
    return Comparison([analyze(m, input_size, model_kwargs, device, inputs=inputs, kwargs=kwargs) for m in models])
