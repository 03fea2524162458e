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

import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from netstat.errors import UsageError

DEFAULT_INPUT = (1, 3, 224, 224)
# torchvision models whose natural input differs from 224 (their weights' crop size).
_TORCHVISION_INPUTS = {"inception_v3": (1, 3, 299, 299)}


@dataclass
class ModelSource:
    """A named way to obtain a model and the input it expects."""

    name: str
    input_shape: tuple[int, ...] | None
    factory: Callable[[], Any] | None = None  # builds a fresh model (current default device applies)
    module: Any = None  # a user's own instance: profiled as is, never modified
    zoo_name: str | None = None
    notes: list[str] = field(default_factory=list)  # said with the profile (stderr / JSON)

    @property
    def owned(self) -> bool:
        """True when netstat builds the model itself (so it may be built on any device)."""
        return self.module is None

    def build(self, device: Any = "cpu"):
        """The model on `device`: freshly built when netstat owns it, else the user's instance."""
        import torch

        if self.module is not None:
            return self.module
        if self.zoo_name is not None:
            from netstat.zoo import get_model

            return get_model(self.zoo_name, device=device)
        with torch.device(device):
            model = self.factory()
        if not isinstance(model, torch.nn.Module):
            raise UsageError(f"The factory for '{self.name}' returned {type(model).__name__}, not a torch.nn.Module.")
        return model.eval()


def resolve(spec: Any, input_size: tuple[int, ...] | None = None) -> ModelSource:
    """Turn a spec (string or nn.Module) into a ModelSource; `input_size`
    overrides the model's default input."""
    import torch

    if isinstance(spec, ModelSource):
        if input_size is not None:
            spec.input_shape = tuple(input_size)
        return spec
    if isinstance(spec, torch.nn.Module):
        return ModelSource(name=type(spec).__name__, input_shape=input_size, module=spec)
    if not isinstance(spec, str) or not spec.strip():
        raise UsageError(f"A model must be a name or an nn.Module, not {spec!r}.")
    spec = spec.strip()
    prefix, sep, rest = spec.partition(":")
    if sep and prefix in ("torchvision", "timm"):
        source = _from_hub_package(prefix, rest)
    elif sep:
        source = _from_factory(prefix, rest, spec)
    else:
        from netstat.zoo import get_spec

        zoo = get_spec(spec)
        source = ModelSource(name=zoo.name, input_shape=zoo.input_shape, zoo_name=zoo.name)
    if input_size is not None:
        source.input_shape = tuple(input_size)
    return source


def _from_hub_package(package: str, name: str) -> ModelSource:
    if importlib.util.find_spec(package) is None:
        raise UsageError(f"'{package}:{name}' needs the {package} package, which is not installed.", hint=f"pip install {package}")
    if package == "torchvision":
        import torchvision.models as tvm

        available = set(tvm.list_models())
        if name not in available:
            raise UsageError(f"torchvision has no model '{name}'.", hint=_closest(name, available))
        detection = name in tvm.list_models(module=tvm.detection)
        # R-CNN-style detectors resize to min_size (800): set it to the input's size instead.
        resizable = detection and not name.startswith("ssd")
        source = ModelSource(name=f"torchvision:{name}", input_shape=_TORCHVISION_INPUTS.get(name, DEFAULT_INPUT))
        if resizable:
            source.input_shape = (1, 3, 800, 800)
            source.notes.append("torchvision detector: min_size / max_size follow the input so that its transform does not resize it.")
        elif detection:
            size = 320 if name.startswith("ssdlite") else 300
            source.input_shape = (1, 3, size, size)
            source.notes.append(f"torchvision {name} resizes every input to {size}x{size} before its backbone runs.")

        def factory():
            kwargs = _torchvision_no_download_kwargs(name)
            if resizable:
                h, w = source.input_shape[-2:]
                kwargs.update(min_size=min(h, w), max_size=max(h, w))
            return tvm.get_model(name, weights=None, **kwargs)

        source.factory = factory
        return source
    else:
        import timm

        if not timm.is_model(name):
            raise UsageError(f"timm has no model '{name}'.", hint=_closest(name, timm.list_models()))

        def factory():
            return timm.create_model(name, pretrained=False)

        cfg = timm.get_pretrained_cfg(name)
        size = getattr(cfg, "input_size", None) if cfg is not None else None
        shape = (1, *size) if size else DEFAULT_INPUT
        return ModelSource(name=f"timm:{name}", input_shape=shape, factory=factory)


def _torchvision_no_download_kwargs(name: str) -> dict[str, Any]:
    """Segmentation / detection builders also default to downloading a
    backbone; ask for none."""
    import inspect

    import torchvision.models as tvm

    params = inspect.signature(tvm.get_model_builder(name)).parameters
    return {"weights_backbone": None} if "weights_backbone" in params else {}


def _closest(name: str, candidates) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.5)
    return f"Did you mean {', '.join(close)}?" if close else ""


def _from_factory(location: str, attr: str, spec: str) -> ModelSource:
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
    return ModelSource(name=spec, input_shape=None, factory=factory)


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
