"""Model patterns -> the models they name, without running code to find out.

Selecting models (``models``, comma-separated patterns):

- ``resnet*``: zoo models by glob (an alias such as ``mobilenet_v3`` names
  its canonical model);
- ``torchvision:resnet*``: torchvision models by glob;
- ``mypkg.models:build`` or ``path/to/file.py:build``: that factory, called
  without arguments;
- ``mypkg.models:*`` or ``path/to/file.py:*``: the factories of that module
  that are known to build an nn.Module without calling anything to find out:
  the nn.Module subclasses, and the functions whose return annotation names
  an nn.Module subclass (``def build() -> nn.Module``, also as a string,
  looked up without eval), that the module defines (or lists in ``__all__``),
  whose names do not start with ``_`` and that need no arguments; any other
  callable (``main``, an unannotated function) is never called.
  ``mypkg.models:res*`` narrows by glob. A factory's input is its
  ``input_shape`` attribute (``build.input_shape = (1, 3, 32, 32)``), else
  the ``input_size`` given, else 1x3x224x224.

A pattern without a colon matches only zoo names; one with ``prefix:`` only
names with that prefix, so a baseline can hold zoo and user models side by side.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from netstat.errors import ArgumentError, UsageError

ALL_ZOO = "*"
HUB_PACKAGES = ("torchvision", "timm")  # 'torchvision:resnet*': netstat builds these by name


@dataclass(frozen=True)
class Selected:
    """One model to measure: its baseline key and how to build it."""

    name: str
    source: Any  # netstat.spec.ModelSource


def parse_patterns(models: str | Sequence[str] | None) -> list[str]:
    """'resnet*, vgg16' -> ['resnet*', 'vgg16']; None -> every zoo model."""
    if models is None:
        return [ALL_ZOO]
    items = models.split(",") if isinstance(models, str) else list(models)
    patterns = [p.strip() for p in items if p.strip()]
    if not patterns:
        raise ArgumentError("No model patterns: {models} is empty.", hint="Give a glob such as 'resnet*' or 'mypkg.models:*'.")
    return patterns


def names_user_code(pattern: str) -> bool:
    """Does the pattern import a user's module or file ('pkg.mod:build',
    'file.py:*')? Zoo names and 'torchvision:' / 'timm:' patterns do not."""
    return ":" in pattern and pattern.rpartition(":")[0] not in HUB_PACKAGES


def matches(name: str, pattern: str) -> bool:
    """Does a baseline key match a pattern? Zoo patterns match only zoo names;
    'prefix:glob' matches 'prefix:name' keys."""
    prefix, sep, glob = pattern.rpartition(":") if ":" in pattern else ("", "", pattern)
    key_prefix, key_sep, key_name = name.rpartition(":") if ":" in name else ("", "", name)
    if sep != key_sep or prefix != key_prefix:
        return False
    return fnmatch.fnmatchcase(key_name, glob)


def _has_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def select(patterns: Sequence[str], input_size: tuple[int, ...] | None = None, may_be_empty: Callable[[str], bool] | None = None) -> list[Selected]:
    """The models the patterns name, sorted and without duplicates. A pattern
    that names nothing is a UsageError, unless `may_be_empty(pattern)` (a
    pattern that matches baseline entries whose models are gone: they are
    then reported as removed)."""
    chosen: dict[str, Selected] = {}
    for pattern in patterns:
        allowed = may_be_empty is not None and may_be_empty(pattern)
        try:
            found = _select_one(pattern, input_size)
        except UsageError:
            if not allowed:
                raise
            found = []
        if not found and not allowed:
            raise UsageError(f"No model matches '{pattern}'.", hint="Run 'netstat list' for the zoo, or check the module path.")
        for item in found:
            chosen.setdefault(item.name, item)
    return [chosen[k] for k in sorted(chosen)]


def _select_one(pattern: str, input_size: tuple[int, ...] | None) -> list[Selected]:
    from netstat.spec import ModelSource, resolve
    from netstat.zoo import get_spec, list_models

    if ":" not in pattern:
        names = list_models(pattern) if _has_glob(pattern) else [get_spec(pattern).name]
        return [Selected(n, resolve(n)) for n in names]
    location, _, glob = pattern.rpartition(":")
    if location in ("torchvision", "timm"):
        return [Selected(f"{location}:{n}", resolve(f"{location}:{n}", input_size)) for n in _hub_names(location, glob)]
    if not _has_glob(glob):
        source = resolve(pattern, input_size)
        source.input_shape = _factory_input(source.factory, pattern, input_size)
        return [Selected(pattern, source)]
    module = _import_location(location)
    found = []
    for attr, factory in public_factories(module):
        if fnmatch.fnmatchcase(attr, glob):
            name = f"{location}:{attr}"
            found.append(Selected(name, ModelSource(name=name, input_shape=_factory_input(factory, name, input_size), factory=factory)))
    return found


def _hub_names(package: str, glob: str) -> list[str]:
    if importlib.util.find_spec(package) is None:
        raise UsageError(f"'{package}:{glob}' needs the {package} package, which is not installed.", hint=f"pip install {package}")
    if package == "torchvision":
        import torchvision.models as tvm

        return sorted(n for n in tvm.list_models() if fnmatch.fnmatchcase(n, glob))
    import timm

    return sorted(timm.list_models(glob))


def _import_location(location: str):
    from netstat.spec import import_file

    if location.endswith(".py") or "/" in location or "\\" in location:
        path = Path(location)
        if not path.is_file():
            raise UsageError(f"The file '{location}' does not exist.")
        return import_file(path)
    try:
        return importlib.import_module(location)
    except ImportError as err:
        raise UsageError(f"Cannot import module '{location}': {err}.") from None


def public_factories(module) -> list[tuple[str, Callable[..., Any]]]:
    """(name, factory) for every factory of a module that a glob selects:
    its `__all__` if it has one, else the public names it defines; of those,
    the nn.Module subclasses and the functions annotated to return one
    (`builds_module`), callable without arguments. Nothing is called."""
    namespace = vars(module)
    names = namespace.get("__all__")
    explicit = names is not None
    if names is None:
        names = [n for n in namespace if not n.startswith("_")]
    found = []
    for name in sorted(names):
        obj = namespace.get(name)
        if not explicit and getattr(obj, "__module__", None) != module.__name__:
            continue  # imported, not defined here
        if builds_module(obj) and _callable_without_arguments(obj):
            found.append((name, obj))
    return found


def builds_module(obj: Any) -> bool:
    """Is `obj` known to build an nn.Module without being called: an
    nn.Module subclass, or a function whose return annotation names one
    (a string annotation is looked up by name, never evaluated)?"""
    import torch

    if inspect.isclass(obj):
        return issubclass(obj, torch.nn.Module)
    if not inspect.isfunction(obj):
        return False
    try:
        returns = inspect.signature(obj, eval_str=False).return_annotation
    except (TypeError, ValueError, NameError):
        return False
    if isinstance(returns, str):
        returns = _lookup(returns, inspect.unwrap(obj).__globals__)
    return inspect.isclass(returns) and issubclass(returns, torch.nn.Module)


def _lookup(dotted: str, namespace: dict[str, Any]) -> Any:
    """'nn.Module' -> what it names in `namespace`, by static attribute
    lookups only (no eval, no properties, no module __getattr__)."""
    import builtins

    head, *rest = dotted.strip().split(".")
    obj = namespace.get(head, getattr(builtins, head, None))
    for part in rest:
        obj = inspect.getattr_static(obj, part, None)
    return obj


def _callable_without_arguments(obj: Callable[..., Any]) -> bool:
    from netstat.spec import required_arguments

    return required_arguments(obj) == []


def _factory_input(factory: Any, name: str, input_size: tuple[int, ...] | None) -> tuple[int, ...]:
    """The factory's own `input_shape` attribute, else `input_size`, else 224 x 224."""
    from netstat.spec import DEFAULT_INPUT, factory_input_shape

    return factory_input_shape(factory, name) or (tuple(input_size) if input_size is not None else DEFAULT_INPUT)
