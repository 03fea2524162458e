"""Resolve what the user names into something that builds a model.

A spec is one of:
  - a zoo name or alias:       "resnet50", "mobilenet_v3"
  - a torchvision model:       "torchvision:resnet50"
  - a timm model:              "timm:resnet50"
  - a Hugging Face model:      "hf:path/to/saved_model", "hf:google/vit-base-patch16-224@image-classification" (netstat.hf)
  - a factory in a package:    "mypkg.models:build"
  - a factory in a file:       "path/to/my_model.py:build"
  - a module instance:         an nn.Module (Python API), or "file.py:model" naming one; copied, never run or modified.

`ModelSource.instantiate` is the one way any command gets a model to run.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from netstat.errors import UsageError, shortened_path
from netstat.inputs import Inputs, InputSpec


@dataclass
class ModelSource:
    """A named way to obtain a model and the inputs it expects; `instantiate`
    is the one way any command gets a model to run."""

    name: str
    inputs: Inputs = field(default_factory=Inputs)  # what the forward is called with (empty: no default)
    factory: Callable[..., Any] | None = None  # builds a fresh model (current default device applies)
    module: Any = None  # a user's own instance: only ever copied, never run or modified
    zoo_name: str | None = None
    notes: list[str] = field(default_factory=list)  # said with the profile (stderr / JSON)
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # passed to the factory / builder
    published: dict[str, Any] | None = None  # what the model's source publishes for it (torchvision weights meta)
    follows_input: bool = False  # an R-CNN detector: its transform's min_size / max_size follow the input
    proposals: int | None = None  # a detector's box-head proposals (None: the model's own maximum)
    detections: int | None = None  # a detector's detections (None: the model's own maximum)
    inputs_given: bool = False  # the caller gave the inputs (their batch is the caller's), not the model's default

    @property
    def owned(self) -> bool:
        """True when netstat builds the model itself (so it may be built on any device)."""
        return self.module is None

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """The first tensor input's shape (None: no default input)."""
        return self.inputs.first_shape

    def _build(self, device: Any = "cpu"):
        """netstat's own fresh build on `device` (`instantiate` copies a user's instance instead)."""
        import torch

        kwargs = dict(self.model_kwargs)
        if self.follows_input and self.input_shape is not None:  # so that the detector's transform does not resize the input
            kwargs.setdefault("min_size", min(self.input_shape[-2:]))
            kwargs.setdefault("max_size", max(self.input_shape[-2:]))
        if self.zoo_name is not None:
            from netstat.zoo import get_model

            return get_model(self.zoo_name, device, **kwargs)
        from netstat.zoo import call_builder

        assert self.factory is not None, "a model source is a zoo name or a factory"
        with torch.device(device):
            model = call_builder(self.factory, kwargs, self.name)
        if not isinstance(model, torch.nn.Module):
            raise UsageError(f"The factory for '{self.name}' returned {type(model).__name__}, not a torch.nn.Module.")
        return model.eval()

    def instantiate(self, device: str = "meta", seed: int = 0):
        """A model netstat may run and change, on `device`: netstat's own
        build (initialised from `seed`, the caller's RNG untouched; built on
        CPU and copied when the factory cannot build on meta) or a working
        copy of the user's instance (netstat.copying.working_copy); a
        detector's box counts fixed (netstat.detection). The one way every
        command -- trace, training step, cross-check, ERF, bench -- gets its model."""
        from netstat.detection import fix_counts
        from netstat.isolation import own_modes

        with own_modes(seed):
            model = self._instance_on(device)
        fix_counts(model, self.proposals, self.detections)
        return model

    def _instance_on(self, device: str):
        from netstat.errors import ModelRunError, NetstatError, first_line
        from netstat.copying import has_meta_tensors, working_copy

        if not self.owned:
            if device != "meta" and has_meta_tensors(self.module):
                raise UsageError(f"{self.name} has parameters on the meta device, which hold no values: it can only be traced on meta.")
            return working_copy(self.module, device)
        try:
            model = self._build(device)
        except NetstatError:
            raise
        except Exception as err:  # noqa: BLE001 - a user factory that breaks on this device
            if device != "meta":
                raise ModelRunError(f"Building '{self.name}' on {device} failed: {first_line(err)}.") from None
            return working_copy(self._instance_on("cpu"), "meta")
        if device != "meta" and has_meta_tensors(model):
            raise UsageError(f"The factory of {self.name} builds its model on the meta device, which holds no values, and this needs a model on {device}.",
                             hint="Let the factory build on the current default device (netstat sets it).")
        return model


def resolve(spec: Any, input_size: Any = None, model_kwargs: dict[str, Any] | None = None, *, inputs: Inputs | None = None) -> ModelSource:
    """Turn a spec (string or nn.Module) into a ModelSource.

    `input_size` overrides the model's default input: one shape (1, 3, 224, 224),
    or a list with one entry per positional argument of forward, each a shape
    or an `InputSpec` (shape and dtype). `inputs` overrides it with a whole
    `netstat.inputs.Inputs` (keyword inputs, real example tensors); give one
    of the two. `model_kwargs` go to the factory."""
    import torch

    if inputs is not None and input_size is not None:
        raise UsageError("Give the inputs either as shapes (input_size) or as example inputs, not both.")
    given = inputs if inputs is not None else Inputs.from_shapes(input_size)
    kwargs = dict(model_kwargs or {})
    if isinstance(spec, ModelSource):  # a copy: the caller's source keeps its inputs
        source = dataclasses.replace(spec, notes=list(spec.notes), model_kwargs={**spec.model_kwargs, **kwargs})
        if given:
            source.inputs, source.inputs_given = given, True
        return source
    if isinstance(spec, torch.nn.Module):
        if kwargs:
            raise UsageError("model_kwargs build a model from a spec; an nn.Module instance is already built.")
        source = ModelSource(name=type(spec).__name__, module=spec, notes=_hook_notes(spec))
    elif not isinstance(spec, str) or not spec.strip():
        raise UsageError(f"A model must be a name or an nn.Module, not {spec!r}.")
    else:
        source = _from_string(spec.strip(), kwargs)
    source.model_kwargs = kwargs
    if given:
        source.inputs, source.inputs_given = given, True
    return source


def _hook_notes(module: Any) -> list[str]:
    """A note when the user's module carries hooks (netstat runs a copy without them)."""
    from netstat.copying import HOOKS_NOTE, user_hooks

    n = user_hooks(module)
    return [HOOKS_NOTE.format(n=n, s="" if n == 1 else "s")] if n else []


def _from_string(spec: str, kwargs: dict[str, Any]) -> ModelSource:
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in ("torchvision", "timm"):
        return _from_hub_package(prefix, rest, kwargs)
    if sep and prefix == "hf":
        return _from_hugging_face(rest, kwargs)
    if sep:
        return _from_factory(prefix, rest, spec, kwargs)
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        raise UsageError(f"'{spec}' names a file but no factory in it.", hint=f"Write {spec}:build, where build() returns the model.")
    from netstat.zoo import get_spec

    zoo = get_spec(spec)
    return ModelSource(name=zoo.name, inputs=Inputs((InputSpec(tuple(zoo.input_shape)),)), zoo_name=zoo.name)


def _from_hub_package(package: str, name: str, kwargs: dict[str, Any]) -> ModelSource:
    from netstat import hub

    if importlib.util.find_spec(package) is None:
        raise UsageError(f"'{package}:{name}' needs the {package} package, which is not installed.", hint=f"pip install {package}")
    name, _, weights = name.partition("@")
    if package == "timm" and weights:
        raise UsageError(f"timm models take no @weights ('{package}:{name}@{weights}').", hint="Pass timm's arguments as model_kwargs.")
    found = hub.torchvision_model(name, weights or None, kwargs) if package == "torchvision" else hub.timm_model(name)
    source = ModelSource(name=f"{package}:{name}" + (f"@{weights}" if weights else ""), factory=found.factory, notes=found.notes, published=found.published,
                          inputs=Inputs(tuple(InputSpec(tuple(shape), dtype) for shape, dtype in found.inputs)))
    if found.resizes_to_input:
        source.follows_input = True
        source.notes.append("torchvision detector: min_size / max_size follow the input so that its transform does not resize it.")
    return source


def _from_hugging_face(name: str, kwargs: dict[str, Any]) -> ModelSource:
    """`hf:NAME[@HEAD]`: built from its config.json on meta, offline (netstat.hf)."""
    from netstat.hf import hf_model

    factory, inputs, notes = hf_model(name, kwargs)
    return ModelSource(name=f"hf:{name.removesuffix('@')}", inputs=inputs, factory=factory, notes=notes)


def _from_factory(location: str, attr: str, spec: str, kwargs: dict[str, Any]) -> ModelSource:
    if not attr:
        raise UsageError(f"'{spec}' names no factory after the colon.", hint="Write path/to/file.py:build or package.module:build.")
    if location.endswith(".py") or "/" in location or "\\" in location:
        path = Path(location)
        try:
            found = path.is_file()
        except OSError as err:  # a name too long for the file system, a loop of links
            raise UsageError(f"Cannot use the file '{shortened_path(location)}': {err.strerror or err}.") from None
        if not found:
            raise UsageError(f"The file '{shortened_path(location)}' does not exist.")
        module = import_file(path)
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as err:
            raise UsageError(f"Cannot import module '{location}': {err}.") from None
    factory = getattr(module, attr, None)
    if factory is None:
        raise UsageError(f"'{location}' has no factory named '{attr}'.")
    import torch

    if isinstance(factory, torch.nn.Module):  # a model instance, not a factory: copied, never run
        if kwargs:
            raise UsageError(f"'{spec}' is a model instance, not a factory: it takes no model_kwargs.")
        return ModelSource(name=spec, module=factory, notes=_hook_notes(factory))
    if not callable(factory):
        raise UsageError(f"'{location}:{attr}' is not callable.")
    missing = [a for a in required_arguments(factory) or () if a not in kwargs]
    if missing:
        raise UsageError(
            f"The factory '{spec}' needs the argument{'s' if len(missing) > 1 else ''} {', '.join(missing)}, and netstat calls it with none.",
            hint=f"Give {'them defaults' if len(missing) > 1 else 'it a default'}, or write a factory that takes no arguments.",
        )
    shape = factory_input_shape(factory, spec)
    return ModelSource(name=spec, inputs=Inputs((InputSpec(shape),)) if shape else Inputs(), factory=factory)


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
    """The module in the file at `path`, imported once per version of the
    file: two specs naming factories of one file (`compare a.py:x a.py:y`)
    share one import, and an edited file is imported again."""
    resolved = path.resolve()
    mod_name = f"netstat_user_{abs(hash(str(resolved)))}"
    stamp = resolved.stat().st_mtime_ns
    loaded = sys.modules.get(mod_name)
    if loaded is not None and getattr(loaded, "__netstat_stamp__", None) == stamp:
        return loaded
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
    setattr(module, "__netstat_stamp__", stamp)
    return module
