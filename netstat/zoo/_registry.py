"""The model registry: `@register_model`, `get_model`, `list_models`, aliases.

Modelled on torchvision's registry. Every entry is a zero-argument-capable
builder function plus a `ModelSpec` that records where the architecture comes
from and the numbers its paper publishes, so tests and `netstat check --papers`
can hold the bundled model to them.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, field
from typing import Any, Callable

from netstat.catalog import family_matches
from netstat.tasks import TASKS
from netstat.errors import UsageError


@dataclass(frozen=True)
class Published:
    """Numbers a paper (or official repository) publishes for a model.

    `params` and `madds` are absolute counts (4.2e6, 569e6) in the paper's own
    convention (MAdds of conv + fc layers). `rtol_*` is the relative tolerance
    the bundled model is held to; anything looser than 2% must come with a
    one-line `note` that says why.
    """

    source: str
    params: float | None = None
    madds: float | None = None
    top1: float | None = None  # ImageNet top-1 accuracy in %, single crop
    rtol_params: float = 0.02
    rtol_madds: float = 0.02
    note: str = ""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    task: str
    year: int
    paper: str
    input_shape: tuple[int, ...]
    builder: Callable[..., Any] = field(repr=False, compare=False)
    published: Published | None = None
    # Dotted path under `torchvision.models` of the layer-for-layer equivalent
    # ("resnet50", "segmentation.fcn_resnet50") and the kwargs that make it so.
    torchvision: str | None = None
    torchvision_kwargs: dict[str, Any] = field(default_factory=dict, compare=False)
    aliases: tuple[str, ...] = ()
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        pub = self.published
        return {
            "name": self.name,
            "family": self.family,
            "task": self.task,
            "year": self.year,
            "paper": self.paper,
            "input_shape": list(self.input_shape),
            "aliases": list(self.aliases),
            "torchvision": self.torchvision,
            "published": None
            if pub is None
            else {
                "source": pub.source,
                "params": pub.params,
                "madds": pub.madds,
                "top1": pub.top1,
                "rtol_params": pub.rtol_params,
                "rtol_madds": pub.rtol_madds,
                "note": pub.note,
            },
            "note": self.note,
        }


_MODELS: dict[str, ModelSpec] = {}
_ALIASES: dict[str, str] = {}


def register_model(
    *,
    family: str,
    year: int,
    paper: str,
    input_shape: tuple[int, ...] = (1, 3, 224, 224),
    task: str = "classification",
    published: Published | None = None,
    torchvision: str | None = None,
    torchvision_kwargs: dict[str, Any] | None = None,
    aliases: tuple[str, ...] = (),
    note: str = "",
    name: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a builder under its function name (or `name`)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, not {task!r}")

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        key = name or fn.__name__
        if key in _MODELS or key in _ALIASES:
            raise ValueError(f"model {key!r} is already registered")
        spec = ModelSpec(
            name=key,
            family=family,
            task=task,
            year=year,
            paper=paper,
            input_shape=tuple(input_shape),
            builder=fn,
            published=published,
            torchvision=torchvision,
            torchvision_kwargs=dict(torchvision_kwargs or {}),
            aliases=tuple(aliases),
            note=note,
        )
        _MODELS[key] = spec
        for alias in aliases:
            register_alias(alias, key)
        return fn

    return wrap


def register_alias(alias: str, target: str) -> None:
    """Make `alias` resolve to the canonical model `target`."""
    if alias in _MODELS or (alias in _ALIASES and _ALIASES[alias] != target):
        raise ValueError(f"alias {alias!r} is already taken")
    _ALIASES[alias] = target


def resolve(name: str) -> str:
    """Canonical model name for `name` (a model or an alias), or a UsageError
    that names the closest matches."""
    key = name.strip().lower().replace("-", "_")
    if key in _MODELS:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    prefixed = sorted(n for n in _MODELS if n.startswith(key))
    if len(prefixed) > 1:
        shown = ", ".join(prefixed[:8]) + (" ..." if len(prefixed) > 8 else "")
        raise UsageError(f"'{name}' is ambiguous: it could be {shown}.", hint="Give the full model name.")
    close = difflib.get_close_matches(key, list(_MODELS) + list(_ALIASES), n=3, cutoff=0.5)
    close = prefixed + [c for c in close if c not in prefixed]
    hint = f"Did you mean {', '.join(close)}?" if close else "Run 'netstat list' to see every model."
    raise UsageError(f"Unknown model '{name}'.", hint=hint)


def get_spec(name: str) -> ModelSpec:
    return _MODELS[resolve(name)]


def published_top1(name: str) -> float | None:
    """The paper's top-1 accuracy of a bundled model, when its spec records one."""
    spec = _MODELS.get(resolve(name))
    return spec.published.top1 if spec.published is not None else None


def get_model(name: str, device: Any = None, **kwargs: Any):
    """Build a bundled model (architecture only, no weights downloaded).

    Built on CPU unless `device` is given; `device="meta"` allocates nothing
    and skips weight initialisation arithmetic, which is how `profile` builds.
    """
    import torch

    spec = get_spec(name)
    try:
        target = torch.device(device or "cpu")
    except (RuntimeError, TypeError):
        raise UsageError(f"Unknown device {device!r}.", hint="Use cpu, meta or cuda.") from None
    with target:
        model = call_builder(spec.builder, kwargs, spec.name)
    return model.eval()


def list_models(filter: str | None = None, task: str | None = None, family: str | None = None) -> list[str]:  # noqa: A002 - torchvision's name
    """Sorted canonical names, optionally filtered by a glob, task and family
    (a family and its variants: `netstat.catalog.family_matches`)."""
    names = sorted(_MODELS)
    if filter:
        names = [n for n in names if fnmatch.fnmatch(n, filter)]
    if task:
        names = [n for n in names if _MODELS[n].task == task]
    if family:
        names = [n for n in names if family_matches(_MODELS[n].family, family)]
    return names


def all_specs() -> list[ModelSpec]:
    return [_MODELS[n] for n in sorted(_MODELS)]


def call_builder(factory: Callable[..., Any], kwargs: dict[str, Any], name: str):
    """factory(**kwargs); an argument the builder does not take is the user's mistake."""
    try:
        return factory(**kwargs)
    except TypeError as err:
        if kwargs and "keyword argument" in str(err) and any(k in str(err) for k in kwargs):
            raise UsageError(f"'{name}' cannot be built with {_kwargs_text(kwargs)}: {str(err).rstrip('.')}.") from None
        raise


def _kwargs_text(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
