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
  ``mypkg.models:res*`` narrows by glob.

The inputs a model is measured at: a zoo model's own, and a factory's own
``input_shape`` attribute (``build.input_shape = (1, 3, 32, 32)``): a change
of those is the model's change. Any other model (a factory without the
attribute, a module instance, a torchvision / timm model) is measured at the
`inputs` given (``--input``, a `netstat.inputs.Inputs`), else at the inputs
`recorded` for it (a baseline's entry: so `check` re-measures exactly what was
pinned), else at its default (torchvision's / timm's, else 1x3x224x224).

A pattern without a colon matches only zoo names; one with ``prefix:`` only
names with that prefix, so a baseline can hold zoo and user models side by side.

A pattern that names user code never names nothing quietly: when its module
fails to import, or it matches no factory any more, `select` raises, even
when a baseline pins models under it (`pinned`), so that an update never
empties a baseline because a file broke.
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
from netstat.inputs import DEFAULT_INPUT, Inputs, InputSpec

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


RecordedFn = Callable[[str], "Inputs | None"]  # a model's name -> the inputs a baseline records for it


def select(patterns: Sequence[str], inputs: Any = None, pinned: Callable[[str], int] | None = None, recorded: RecordedFn | None = None) -> list[Selected]:
    """The models the patterns name, sorted and without duplicates, each with
    its inputs (see the module docstring: `inputs` given, one shape or an
    Inputs; `recorded(name)`). A pattern that names nothing is a UsageError,
    unless `pinned(pattern)` (the number of baseline entries it matches) is
    not 0 and it names no user code: those zoo / hub models are gone, and
    are reported as removed."""
    given = Inputs.from_shapes(inputs)
    chosen: dict[str, Selected] = {}
    for pattern in patterns:
        count = pinned(pattern) if pinned is not None else 0
        allowed = bool(count) and not names_user_code(pattern)
        try:
            found = _select_one(pattern, lambda name: _inputs_of(name, given, recorded))
        except UsageError as err:
            if not allowed:
                raise _kept(err, pattern, count) from None
            found = []
        if not found and not allowed:
            raise _kept(_matches_nothing(pattern), pattern, count)
        for item in found:
            chosen.setdefault(item.name, item)
    return [chosen[k] for k in sorted(chosen)]


def _kept(err: UsageError, pattern: str, count: int) -> UsageError:
    """`err`, saying that the baseline's `count` models under `pattern` stay as they are."""
    if not count:
        return err
    models = f"{count} model{'s' if count != 1 else ''}"
    kept = f"The baseline keeps its {models} under '{pattern}' as they are: fix the code, or remove them from the baseline by hand."
    return UsageError(err.message, hint=f"{err.hint} {kept}".strip())


def _matches_nothing(pattern: str) -> UsageError:
    if not names_user_code(pattern):
        return UsageError(f"No model matches '{pattern}'.", hint="Run 'netstat list' for the zoo, or check the module path.")
    location, _, glob = pattern.rpartition(":")
    return UsageError(f"No factory of '{location}' matches '{glob}'.", hint="A glob selects nn.Module subclasses, and functions annotated '-> nn.Module', that need no arguments.")


def _inputs_of(name: str, given: Inputs | None, recorded: RecordedFn | None) -> Inputs | None:
    """The inputs for a model without inputs of its own: given, else recorded (None: its default)."""
    if given:
        return given
    return recorded(name) if recorded is not None else None


def _select_one(pattern: str, inputs_for: Callable[[str], Inputs | None]) -> list[Selected]:
    from netstat.spec import ModelSource, resolve
    from netstat.zoo import get_spec, list_models

    if ":" not in pattern:
        names = list_models(pattern) if _has_glob(pattern) else [get_spec(pattern).name]
        return [Selected(n, resolve(n)) for n in names]
    location, _, glob = pattern.rpartition(":")
    if location in HUB_PACKAGES:
        return [Selected(f"{location}:{n}", resolve(f"{location}:{n}", inputs=inputs_for(f"{location}:{n}"))) for n in _hub_names(location, glob)]
    if not _has_glob(glob):
        source = resolve(pattern)
        if source.factory is None or not source.inputs:  # a module instance, or a factory without an input_shape attribute
            source.inputs = inputs_for(pattern) or Inputs((InputSpec(DEFAULT_INPUT),))
        return [Selected(pattern, source)]
    module = _import_location(location)
    found = []
    for attr, factory in public_factories(module):
        if fnmatch.fnmatchcase(attr, glob):
            name = f"{location}:{attr}"
            found.append(Selected(name, ModelSource(name=name, inputs=_factory_inputs(factory, name, inputs_for(name)), factory=factory)))
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


def _factory_inputs(factory: Any, name: str, inputs: Inputs | None) -> Inputs:
    """The factory's own `input_shape` attribute, else `inputs`, else 224 x 224."""
    from netstat.spec import factory_input_shape

    own = factory_input_shape(factory, name)
    if own is not None:
        return Inputs((InputSpec(own),))
    return inputs or Inputs((InputSpec(DEFAULT_INPUT),))
