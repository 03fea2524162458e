"""The builds `netstat explain` traces: which variants and inputs, and what it reads from each.

A build is one model variant at one input. The variants are netstat's own
models or builder arguments, never a lookup table of numbers:

| axis | values tried | traced |
|---|---|---|
| variant | the model as netstat builds it; the known variants in `VARIANTS` (ResNet v1, AlexNet two-tower, VGG with / without BN, GoogLeNet / Inception v3 aux heads) | at the default input, and a variant's own input (AlexNet two-tower: 227) |
| classes | 1000 (the build's own); 1001 (TF-slim's background class), for zoo classifiers | at the default input |
| input | the model's default; 224, 227, 256, 299, 320, 384 (square, same batch and channels) | the default variant, compute only |
| batch | 1; N in 2 .. 256 when the quoted figure is N times a batch-1 candidate | re-traced at N to confirm |

So a ResNet-50 compute figure costs at most 9 traces on meta (2 variants,
1001 classes, 6 other input sizes), each done once per run (`Builds`).
Another input than the model's own counts as two steps away from the plain
count (a quote usually names its input), a variant or the class count as one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INPUT_SIZES = (224, 227, 256, 299, 320, 384)
BATCHES = (2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class Variant:
    """A model variant: a zoo model and builder arguments, and what it is."""

    label: str
    zoo: str
    kwargs: tuple[tuple[str, Any], ...]
    sentence: str
    sizes: tuple[int, ...] = ()  # its own input sizes, traced too (compute figures)


def _v1(depth: int) -> Variant:
    return Variant("ResNet v1 (stride on the first 1x1)", f"resnet{depth}", (("stride_in_1x1", True),),
                   "the original ResNet (He et al. 2015, Caffe), whose downsampling blocks stride their first 1x1 conv; "
                   "torchvision's (v1.5) strides the 3x3, which costs more")


def _bn(name: str, with_bn: bool) -> Variant:
    other = f"{name}_bn" if with_bn else name.removesuffix("_bn")
    return Variant("with batch norm" if with_bn else "without batch norm", other, (),
                   f"VGG {'with' if with_bn else 'without'} batch norm after each conv ({other})")


def _aux(name: str) -> Variant:
    return Variant("with auxiliary heads", name, (("aux_logits", True),),
                   "the training-only auxiliary classifiers built (their params; they do not run at inference)")


# zoo name -> its other variants.
VARIANTS: dict[str, tuple[Variant, ...]] = {
    **{f"resnet{d}": (_v1(d),) for d in (50, 101, 152)},
    "alexnet": (Variant("two-tower (the paper's two GPUs)", "alexnet", (("two_tower", True),),
                        "the paper's own AlexNet (Krizhevsky et al. 2012, Fig. 2; Caffe's bvlc_alexnet): 96-256-384-384-256 "
                        "channels, conv2 / 4 / 5 split in two groups, one per GPU", (227,)),),
    **{f"vgg{d}": (_bn(f"vgg{d}", True),) for d in (11, 13, 16, 19)},
    **{f"vgg{d}_bn": (_bn(f"vgg{d}_bn", False),) for d in (11, 13, 16, 19)},
    "googlenet": (_aux("googlenet"),),
    "inception_v3": (_aux("inception_v3"),),
}


@dataclass(frozen=True)
class Build:
    """One variant at one input: what is traced."""

    variant: str  # "" for the model as given
    kwargs: tuple[tuple[str, Any], ...]
    zoo: str | None  # the zoo model to build (None: the model as given)
    input_size: tuple[int, ...] | None  # None: the model's default
    sentence: str = ""
    steps: int = 0  # how many axes differ from the model as given (0: none)
    batch: int = 1

    def describe(self) -> str:
        """'ResNet v1 (stride on the first 1x1), 1x3x224x224' or the like."""
        parts = [self.variant or "as built"]
        if self.input_size is not None:
            parts.append("input " + "x".join(map(str, self.input_size)))
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant or None, "model": self.zoo, "model_kwargs": dict(self.kwargs),
                "input_size": list(self.input_size) if self.input_size else None, "batch": self.batch}


@dataclass
class Part:
    """A part of the model: a layer type or a top-level module."""

    label: str
    params: int
    weights: int  # params without biases
    madds: int


@dataclass
class Stats:
    """What the conventions read from one build's trace."""

    input_shape: tuple[int, ...]
    params: int
    bias: int
    weights: int  # conv / linear weights: no bias, no normalisation params
    norm: int  # params of normalisation layers
    norm_buffers: int  # their running statistics
    madds: int
    flops: int
    activation_bytes: int
    peak_activation_bytes: int
    classes: dict[str, Any]  # op class -> crosscheck.ClassStat
    peers: dict[str, int]  # peer -> its rule's total on this trace
    classifier: Part | None
    parts: list[Part] = field(default_factory=list)


def builds(analysis, compute: bool) -> list[Build]:
    """The builds searched for a model: variants and 1001 classes at the
    default input, and (for compute figures) the other input sizes."""
    source = analysis.source
    zoo = source.zoo_name
    found = [Build("", (), zoo, None)]
    if zoo is not None:
        for v in VARIANTS.get(zoo, ()):
            found.append(Build(v.label, v.kwargs, v.zoo, None, v.sentence, 1))
            found += [Build(v.label, v.kwargs, v.zoo, _square(source.input_shape, size), f"{v.sentence}; input {size}x{size}", 2)
                      for size in v.sizes if compute]
        if _classifier(zoo):
            found.append(Build("1001 classes", (("num_classes", 1001),), zoo, None,
                               "a 1001-way classifier (TF-slim's extra background class)", 1))
    shape = source.input_shape
    if compute and shape is not None and len(shape) == 4 and len(source.inputs.to_dict()) == 1:
        for size in INPUT_SIZES:
            if (size, size) != tuple(shape[2:]):
                found.append(Build("", (), zoo, _square(shape, size), f"input {size}x{size}", 2))
    return found


def _square(shape: tuple[int, ...], size: int) -> tuple[int, ...]:
    return (shape[0], shape[1], size, size)


def _classifier(zoo: str) -> bool:
    from netstat.zoo import get_spec

    return get_spec(zoo).task == "classification"


def with_batch(build: Build, shape: tuple[int, ...], batch: int) -> Build:
    """The same build at batch `batch` (its input otherwise the same)."""
    size = (batch, *(build.input_size or shape)[1:])
    return Build(build.variant, build.kwargs, build.zoo, size, build.sentence, build.steps + 1, batch)


class Builds:
    """One analysis per build, traced once per run."""

    def __init__(self, model: Any, analysis) -> None:
        self.model, self.first = model, analysis
        self.stats: dict[Build, Stats] = {}
        self.failed: dict[Build, str] = {}  # builds that cannot run (a model fixed to one input size), and why

    def __call__(self, build: Build) -> Stats | None:
        """The build's counts; None when it cannot run (not a candidate). The
        model as given must run: its error is the caller's."""
        from netstat.errors import ModelRunError, UsageError, first_line

        if build not in self.stats and build not in self.failed:
            try:
                self.stats[build] = stats_of(self._analysis(build))
            except (ModelRunError, UsageError) as err:
                if build == Build("", (), build.zoo, None):
                    raise
                self.failed[build] = first_line(err)
        return self.stats.get(build)

    def _analysis(self, build: Build):
        from netstat.analysis import analyze

        if build == Build("", (), build.zoo, None):
            return self.first
        model = build.zoo if build.zoo is not None else self.first.source
        size = build.input_size
        if size is None and build.zoo is not None:
            size = self.first.source.input_shape
        return analyze(model, size, dict(build.kwargs) or None)


def stats_of(analysis) -> Stats:
    """Counts of one traced build (netstat's profile, and the peers' rules on its trace)."""
    from netstat.crosscheck import peer_rules

    prof, model = analysis.profile, analysis.model
    classes, predicted = peer_rules(analysis)
    totals = prof.totals
    parts = _type_parts(prof, model) + _module_parts(prof, model)
    return Stats(
        input_shape=tuple(analysis.source.input_shape or ()),
        params=totals["params"],
        bias=sum(p.numel() for n, p in model.named_parameters() if n.rsplit(".", 1)[-1] == "bias"),
        weights=_plain_weights(model),
        norm=sum(sum(p.numel() for p in m.parameters(recurse=False)) for m in _norms(model)),
        norm_buffers=sum(b.numel() for m in _norms(model) for n, b in m.named_buffers(recurse=False) if n != "num_batches_tracked"),
        madds=totals["madds"],
        flops=totals["flops"],
        activation_bytes=totals["activation_bytes"],
        peak_activation_bytes=totals["peak_activation_bytes"],
        classes=classes,
        peers={peer: sum(counts.values()) for peer, counts in predicted.items()},
        classifier=_classifier_part(prof, model),
        parts=parts,
    )


def _norms(model) -> list:
    from torch import nn

    kinds = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
    return [m for m in model.modules() if isinstance(m, kinds)]


def _plain_weights(model) -> int:
    """Params that are neither a bias nor a normalisation layer's."""
    norm = {id(p) for m in _norms(model) for p in m.parameters(recurse=False)}
    return sum(p.numel() for n, p in model.named_parameters() if n.rsplit(".", 1)[-1] != "bias" and id(p) not in norm)


def _weights(module) -> tuple[int, int]:
    """(params, params without biases) of a module and its children."""
    params = sum(p.numel() for p in module.parameters())
    bias = sum(p.numel() for n, p in module.named_parameters() if n.rsplit(".", 1)[-1] == "bias")
    return params, params - bias


def _type_parts(prof, model) -> list[Part]:
    """One part per leaf layer type with parameters (Conv2d, Linear, BatchNorm2d...)."""
    found: dict[str, list[int]] = {}
    for module in model.modules():
        if next(module.children(), None) is None:
            params, weights = _weights(module)
            entry = found.setdefault(type(module).__name__, [0, 0])
            entry[0] += params
            entry[1] += weights
    madds = {row.name: row.madds for row in prof.by_type}
    return [Part(f"{name} layers", p, w, madds.get(name, 0)) for name, (p, w) in found.items() if p]


def _module_parts(prof, model) -> list[Part]:
    """One part per top-level module that ran (features, classifier, layer3...)."""
    rows = prof.by_module(depth=1)
    parts = []
    for name, module in model.named_children():
        if name in rows:
            params, weights = _weights(module)
            parts.append(Part(f"module '{name}'", params, weights, rows[name].madds))
    return parts


def _classifier_part(prof, model) -> Part | None:
    """The last nn.Linear that ran: the classifier."""
    from torch import nn

    rows = prof.by_module()
    linears = [(path, m) for path, m in model.named_modules() if isinstance(m, nn.Linear) and path in rows]
    if not linears:
        return None
    path, module = linears[-1]
    params, weights = _weights(module)
    return Part(f"classifier '{path}'", params, weights, rows[path].madds)
