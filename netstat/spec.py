"""Resolve what the user names into something that builds a model.

A spec is one of:
  - a zoo name or alias:       "resnet50", "mobilenet_v3"
  - a torchvision model:       "torchvision:resnet50"
  - a timm model:              "timm:resnet50"
  - a factory in a package:    "mypkg.models:build"
  - a factory in a file:       "path/to/my_model.py:build"
  - an nn.Module instance (Python API only): used as it is, never modified.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import numbers
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from netstat.errors import UsageError

DEFAULT_INPUT = (1, 3, 224, 224)
DTYPES = {"float32": "float32", "fp32": "float32", "float": "float32", "float16": "float16", "fp16": "float16", "half": "float16",
          "bfloat16": "bfloat16", "bf16": "bfloat16", "float64": "float64", "fp64": "float64", "double": "float64",
          "int64": "int64", "long": "int64", "int32": "int32", "int": "int32", "int16": "int16", "int8": "int8", "uint8": "uint8", "bool": "bool"}


@dataclass(frozen=True)
class InputSpec:
    """One positional argument of a model's forward: its shape and dtype name."""

    shape: tuple[int, ...]
    dtype: str = "float32"

    def describe(self) -> str:
        size = "x".join(map(str, self.shape))
        return size if self.dtype == "float32" else f"{size}:{self.dtype}"


@dataclass
class ModelSource:
    """A named way to obtain a model and the inputs it expects."""

    name: str
    input_shape: tuple[int, ...] | None  # the first input's shape
    factory: Callable[..., Any] | None = None  # builds a fresh model (current default device applies)
    module: Any = None  # a user's own instance: only ever copied, never run or modified
    zoo_name: str | None = None
    notes: list[str] = field(default_factory=list)  # said with the profile (stderr / JSON)
    input_dtype: str = "float32"  # the first input's dtype
    more_inputs: tuple[InputSpec, ...] = ()  # the forward's second, third, ... arguments
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # passed to the factory / builder
    published: dict[str, Any] | None = None  # what the model's source publishes for it (torchvision weights meta)
    follows_input: bool = False  # an R-CNN detector: its transform's min_size / max_size follow the input
    proposals: int | None = None  # a detector's box-head proposals (None: the model's own maximum)
    detections: int | None = None  # a detector's detections (None: the model's own maximum)

    @property
    def owned(self) -> bool:
        """True when netstat builds the model itself (so it may be built on any device)."""
        return self.module is None

    @property
    def inputs(self) -> list[InputSpec]:
        if self.input_shape is None:
            return []
        return [InputSpec(tuple(self.input_shape), self.input_dtype), *self.more_inputs]

    def set_inputs(self, inputs: list[InputSpec]) -> None:
        self.input_shape, self.input_dtype = inputs[0].shape, inputs[0].dtype
        self.more_inputs = tuple(inputs[1:])

    def build(self, device: Any = "cpu"):
        """The model on `device`: freshly built when netstat owns it, else the user's instance."""
        import torch

        if self.module is not None:
            return self.module
        kwargs = dict(self.model_kwargs)
        if self.follows_input:  # so that the detector's transform does not resize the input
            kwargs.setdefault("min_size", min(self.input_shape[-2:]))
            kwargs.setdefault("max_size", max(self.input_shape[-2:]))
        if self.zoo_name is not None:
            from netstat.zoo import get_model

            return get_model(self.zoo_name, device, **kwargs)
        from netstat.zoo import call_builder

        with torch.device(device):
            model = call_builder(self.factory, kwargs, self.name)
        if not isinstance(model, torch.nn.Module):
            raise UsageError(f"The factory for '{self.name}' returned {type(model).__name__}, not a torch.nn.Module.")
        return model.eval()


def resolve(spec: Any, input_size: Any = None, model_kwargs: dict[str, Any] | None = None) -> ModelSource:
    """Turn a spec (string or nn.Module) into a ModelSource.

    `input_size` overrides the model's default input: one shape (1, 3, 224, 224),
    or a list with one entry per positional argument of forward, each a shape
    or an `InputSpec` (shape and dtype). `model_kwargs` go to the factory."""
    import torch

    inputs = as_inputs(input_size)
    kwargs = dict(model_kwargs or {})
    if isinstance(spec, ModelSource):  # a copy: the caller's source keeps its inputs
        source = dataclasses.replace(spec, notes=list(spec.notes), model_kwargs={**spec.model_kwargs, **kwargs})
        if inputs:
            source.set_inputs(inputs)
        return source
    if isinstance(spec, torch.nn.Module):
        if kwargs:
            raise UsageError("model_kwargs build a model from a spec; an nn.Module instance is already built.")
        source = ModelSource(name=type(spec).__name__, input_shape=None, module=spec)
    elif not isinstance(spec, str) or not spec.strip():
        raise UsageError(f"A model must be a name or an nn.Module, not {spec!r}.")
    else:
        source = _from_string(spec.strip(), kwargs)
    source.model_kwargs = kwargs
    if inputs:
        source.set_inputs(inputs)
    return source


def _from_string(spec: str, kwargs: dict[str, Any]) -> ModelSource:
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in ("torchvision", "timm"):
        return _from_hub_package(prefix, rest, kwargs)
    if sep:
        return _from_factory(prefix, rest, spec, kwargs)
    from netstat.zoo import get_spec

    zoo = get_spec(spec)
    return ModelSource(name=zoo.name, input_shape=zoo.input_shape, zoo_name=zoo.name)


def as_inputs(input_size: Any) -> list[InputSpec]:
    """None, one shape, or a list of shapes / InputSpecs -> a list of InputSpecs."""
    if input_size is None:
        return []
    if isinstance(input_size, InputSpec):
        return [input_size]
    items = list(input_size) if isinstance(input_size, (list, tuple)) else None
    if items and all(isinstance(d, (numbers.Number, str)) for d in items):  # one shape, not a list of them
        items = [tuple(items)]
    if not items:
        raise UsageError(f"An input size must be a shape such as (1, 3, 224, 224) or a list of them, not {input_size!r}.")
    return [_as_input(item) for item in items]


def _as_input(item: Any) -> InputSpec:
    if isinstance(item, InputSpec):
        shape, dtype = item.shape, item.dtype
    else:
        shape, dtype = item, "float32"
    whole = isinstance(shape, (list, tuple)) and all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in shape)
    dims = tuple(int(d) for d in shape) if whole else ()
    if not dims or any(d <= 0 for d in dims):
        raise UsageError(f"An input shape must be a sequence of positive integers such as (1, 3, 224, 224), not {item!r}.")
    if dtype not in DTYPES:
        raise UsageError(f"Unknown input dtype '{dtype}'.", hint=f"Use one of: {', '.join(sorted(set(DTYPES.values())))}.")
    return InputSpec(dims, DTYPES[dtype])


def _from_hub_package(package: str, name: str, kwargs: dict[str, Any]) -> ModelSource:
    from netstat import hub

    if importlib.util.find_spec(package) is None:
        raise UsageError(f"'{package}:{name}' needs the {package} package, which is not installed.", hint=f"pip install {package}")
    name, _, weights = name.partition("@")
    if package == "timm" and weights:
        raise UsageError(f"timm models take no @weights ('{package}:{name}@{weights}').", hint="Pass timm's arguments as model_kwargs.")
    found = hub.torchvision_model(name, weights or None, kwargs) if package == "torchvision" else hub.timm_model(name)
    source = ModelSource(name=f"{package}:{name}" + (f"@{weights}" if weights else ""), input_shape=None, factory=found.factory, notes=found.notes, published=found.published)
    source.set_inputs([InputSpec(shape, dtype) for shape, dtype in found.inputs])
    if found.resizes_to_input:
        source.follows_input = True
        source.notes.append("torchvision detector: min_size / max_size follow the input so that its transform does not resize it.")
    return source


def _from_factory(location: str, attr: str, spec: str, kwargs: dict[str, Any]) -> ModelSource:
    if not attr:
        raise UsageError(f"'{spec}' names no factory after the colon.", hint="Write path/to/file.py:build or package.module:build.")
    if location.endswith(".py") or "/" in location or "\\" in location:
        path = Path(location)
        if not path.is_file():
            raise UsageError(f"The file '{location}' does not exist.")
        module = import_file(path)
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as err:
            raise UsageError(f"Cannot import module '{location}': {err}.") from None
    factory = getattr(module, attr, None)
    if factory is None:
        raise UsageError(f"'{location}' has no factory named '{attr}'.")
    if not callable(factory):
        raise UsageError(f"'{location}:{attr}' is not callable.")
    missing = [a for a in required_arguments(factory) or () if a not in kwargs]
    if missing:
        raise UsageError(
            f"The factory '{spec}' needs the argument{'s' if len(missing) > 1 else ''} {', '.join(missing)}, and netstat calls it with none.",
            hint=f"Give {'them defaults' if len(missing) > 1 else 'it a default'}, or write a factory that takes no arguments.",
        )
    return ModelSource(name=spec, input_shape=factory_input_shape(factory, spec), factory=factory)


def required_arguments(factory: Callable[..., Any]) -> list[str] | None:
    """The names of the arguments `factory` cannot be called without; None
    when it has no signature to read (a builtin)."""
    import inspect

    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in params if p.kind in kinds and p.default is inspect.Parameter.empty]


def factory_input_shape(factory: Any, name: str) -> tuple[int, ...] | None:
    """A factory's own default input: its `input_shape` attribute
    (`build.input_shape = (1, 3, 32, 32)`), as `check` reads it too."""
    shape = getattr(factory, "input_shape", None)
    if shape is None:
        return None
    try:
        dims = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        dims = ()
    if not dims or any(d <= 0 for d in dims) or any(d != s for d, s in zip(dims, shape)):
        raise UsageError(f"The input_shape attribute of '{name}' is {shape!r}, not a tuple of positive integers such as (1, 3, 224, 224).")
    return dims


def import_file(path: Path):
    mod_name = f"netstat_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"Cannot load '{path}' as a Python file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 - the user's file: report, don't crash
        del sys.modules[mod_name]
        raise UsageError(f"Importing '{path}' failed: {type(err).__name__}: {err}.") from None
    return module
