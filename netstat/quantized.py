"""Quantized models: the weights a packed-params object holds.

A `torch.ao.nn.quantized` Conv / Linear / Embedding keeps its int8 weight
(and fp32 bias) inside a TorchBind `ScriptObject` ("packed params", prepacked
for fbgemm / qnnpack), not in an `nn.Parameter`, so `model.parameters()` sees
none of it. This module reads those objects:

- `packed_params(model)`: every packed weight and bias of a model, once each,
  with its element count and its bytes in its own dtype (qint8 / quint8: 1
  byte, the fp32 bias: 4); `metrics.param_totals` counts them as parameters.
- `describe_packed(obj)`: the shape-bearing, hashable description of one
  packed object that the trace records in place of the object itself, so that
  a formula (`quantized::conv2d`'s) is a function of shapes like any other.
- `float_difference(...)`: why a torchvision int8 model has fewer parameters
  than its weights entry publishes (the float model's `num_params`): the
  parameters folding each BatchNorm into its conv removes, and the float
  modules it lacks that the published count includes, both counted on the
  float model torchvision's quantizable builder makes (on meta).

Dynamic-quantized RNNs (`torch.ao.nn.quantized.dynamic.LSTM` / `GRU`) hold
their weights in `rnn.CellParamsBase` objects, which have no `unpack`; they are
read through the module's own `_weight_bias()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import torch

Shape = tuple[int, ...]

_CONV = ("Conv2dPackedParamsBase", "Conv3dPackedParamsBase")
_LINEAR = ("LinearPackedParamsBase",)
_EMBEDDING = ("EmbeddingPackedParamsBase",)


@dataclass(frozen=True)
class PackedWeight:
    """What a packed-params object holds, as a formula needs it: the unpacked
    weight's shape (conv: Cout x Cin/g x k..., transposed conv: Cin x Cout/g x
    k..., linear: out x in, embedding: rows x dim) and dtype, the bias's shape
    (None without one), and a conv's geometry."""

    kind: str  # "conv", "linear" or "embedding"
    shape: Shape
    dtype: torch.dtype
    bias: Shape | None = None
    bias_dtype: torch.dtype | None = None
    stride: Shape = ()
    padding: Shape = ()
    dilation: Shape = ()
    output_padding: Shape = ()
    groups: int = 1
    transposed: bool = False
    source: int = field(default=0, compare=False, repr=False)  # id() of the packed object: which weight, not its shape

    @property
    def numel(self) -> int:
        return _numel(self.shape) + (_numel(self.bias) if self.bias is not None else 0)

    @property
    def nbytes(self) -> int:
        """Weight bytes in its own dtype (1 per int8 element) plus the bias's."""
        weight = _numel(self.shape) * self.dtype.itemsize
        return weight + (_numel(self.bias) * self.bias_dtype.itemsize if self.bias is not None and self.bias_dtype else 0)


@dataclass(frozen=True)
class PackedParam:
    """One tensor held in packed form: `module` is the path of the module
    holding it, `name` "weight" or "bias" (an RNN's "weight_ih_l0", ...)."""

    module: str
    name: str
    numel: int
    dtype: torch.dtype

    @property
    def nbytes(self) -> int:
        return self.numel * self.dtype.itemsize


def _numel(shape: Shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _class_name(obj: torch.ScriptObject) -> str:
    try:
        return obj._type().qualified_name().rpartition(".")[2]
    except Exception:  # noqa: BLE001 - a ScriptObject without a TorchBind type
        return ""


def _unpack(obj: torch.ScriptObject) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """(weight, bias) of a conv / linear / embedding packed object, else None."""
    name = _class_name(obj)
    if name in _CONV or name in _LINEAR:
        weight, bias = obj.unpack()
        return weight, bias
    if name in _EMBEDDING:
        return obj.unpack(), None
    return None


def describe_packed(obj: Any) -> Any:
    """A `PackedWeight` for a conv / linear / embedding packed-params object;
    anything else (an RNN's CellParamsBase, a user's TorchBind class) as is."""
    if not isinstance(obj, torch.ScriptObject):
        return obj
    unpacked = _unpack(obj)
    if unpacked is None:
        return obj
    weight, bias = unpacked
    name = _class_name(obj)
    kind = "conv" if name in _CONV else "linear" if name in _LINEAR else "embedding"
    geometry: dict[str, Any] = {}
    if kind == "conv":
        geometry = dict(
            stride=tuple(obj.stride()),
            padding=tuple(obj.padding()),
            dilation=tuple(obj.dilation()),
            output_padding=tuple(obj.output_padding()),
            groups=int(obj.groups()),
            transposed=bool(obj.transpose()),
        )
    return PackedWeight(
        kind=kind,
        shape=tuple(weight.shape),
        dtype=weight.dtype,
        bias=tuple(bias.shape) if bias is not None else None,
        bias_dtype=bias.dtype if bias is not None else None,
        source=id(obj),
        **geometry,
    )


# Containers a quantized Linear / Embedding keeps its packed object in; the
# tensors are credited to the module that runs (the container's parent).
_CONTAINERS = ("LinearPackedParams", "EmbeddingPackedParams")


def packed_params(model: torch.nn.Module) -> list[PackedParam]:
    """Every weight and bias `model` holds in packed form, each packed object
    once (an aliased module, or one object held twice, is not counted twice)."""
    seen: set[int] = set()
    found: list[PackedParam] = []
    for path, module in model.named_modules():
        owner = path.rpartition(".")[0] if type(module).__name__ in _CONTAINERS else path
        for value in vars(module).values():
            if isinstance(value, torch.ScriptObject) and id(value) not in seen:
                seen.add(id(value))
                found += _params_of(owner, module, value)
        if hasattr(module, "_all_weight_values") and callable(getattr(module, "_weight_bias", None)):
            found += _rnn_params(path, module, seen)
    return found


def _params_of(path: str, holder: torch.nn.Module, obj: torch.ScriptObject) -> list[PackedParam]:
    unpacked = _unpack(obj)
    if unpacked is None:
        return []
    weight, bias = unpacked
    # fp16 dynamic Linear: fbgemm unpacks to fp32, but the packed copy is fp16.
    dtype = torch.float16 if getattr(holder, "dtype", None) == torch.float16 else weight.dtype
    params = [PackedParam(path, "weight", weight.numel(), dtype)]
    if bias is not None:
        params.append(PackedParam(path, "bias", bias.numel(), bias.dtype))
    return params


def _rnn_params(path: str, module: torch.nn.Module, seen: set[int]) -> list[PackedParam]:
    """A dynamic-quantized RNN: `_weight_bias()` is {"weight": {name: t}, "bias": {name: t}}."""
    cells = [getattr(p, "param", None) for p in module._all_weight_values]
    if any(id(c) in seen for c in cells):
        return []
    seen.update(id(c) for c in cells)
    found = []
    for group in module._weight_bias().values():
        found += [PackedParam(path, name, t.numel(), t.dtype) for name, t in group.items() if t is not None]
    return found


def iter_packed(tree: Any) -> Iterator[PackedWeight]:
    """The `PackedWeight`s among a recorded op's arguments (nested lists too)."""
    if isinstance(tree, PackedWeight):
        yield tree
    elif isinstance(tree, (list, tuple)):
        for x in tree:
            yield from iter_packed(x)
    elif isinstance(tree, dict):
        for x in tree.values():
            yield from iter_packed(x)


@dataclass(frozen=True)
class FloatDifference:
    """Why a torchvision int8 model holds fewer parameters than its weights
    entry publishes (the float model's `num_params`): folding each BatchNorm
    into its conv removes `folded`, and `absent` are float modules (path ->
    parameters) that the int8 model does not have but the published count
    includes (quantized_inception_v3's AuxLogits)."""

    folded: int
    absent: dict[str, int]


def float_difference(weights: str, published: int, int8_params: int, ran: dict[str, bool]) -> FloatDifference | None:
    """Split `published - int8_params` for the torchvision weights entry named
    `weights`, from the float model its quantizable builder makes (on meta)
    and the same model fused: the int8 model is the fused one without some
    modules that never ran, and the published count is the float one with
    some of those. `ran`: each traced module path -> whether it ran as a leaf
    (an int8 ConvReLU2d does; its fused float twin holds a conv and a ReLU).
    None when no such split is exact."""
    models = _float_models(weights)
    if models is None:
        return None
    full, fused = models
    size, fused_size = _param_counts(full), _param_counts(fused)
    for lacking in _subsets(_outermost_unrun(fused_size, ran)):
        if fused_size[""] - sum(fused_size[p] for p in lacking) != int8_params:
            continue
        folded = size[""] - fused_size[""] - sum(size[p] - fused_size[p] for p in lacking)
        for counted in _subsets(lacking):
            if int8_params + folded + sum(size[p] for p in counted) == published:
                return FloatDifference(folded, {p: size[p] for p in counted})
    return None


def _float_models(weights: str) -> tuple[torch.nn.Module, torch.nn.Module] | None:
    """The float model of the quantizable builder behind `weights`, as built
    without weights, and a copy with each BatchNorm fused into its conv."""
    import copy
    import warnings

    import torchvision.models as tvm

    try:
        entry = tvm.get_weight(weights)
    except (ValueError, KeyError, AttributeError, TypeError):
        return None
    names = [n for n in tvm.list_models(module=tvm.quantization) if isinstance(entry, tvm.get_model_weights(n))]
    if not names:
        return None
    try:
        with warnings.catch_warnings(), torch.device("meta"):
            warnings.simplefilter("ignore")
            full = tvm.get_model(names[0], weights=None, quantize=False, num_classes=len(entry.meta["categories"])).eval()
            fused = copy.deepcopy(full)
            fused.fuse_model(is_qat=False)
    except Exception:  # noqa: BLE001 - a note must not fail the profile: it then says less
        return None
    return full, fused


def _param_counts(model: torch.nn.Module) -> dict[str, int]:
    """Parameters under each module path ("" the whole model)."""
    return {path: sum(p.numel() for p in module.parameters()) for path, module in model.named_modules()}


def _outermost_unrun(sizes: dict[str, int], ran: dict[str, bool]) -> list[str]:
    """The outermost module paths that hold parameters and never ran, nor
    are inside a module that ran as a leaf."""
    covered = [p + "." for p, leaf in ran.items() if leaf and p]
    found: list[str] = []
    for path, n in sizes.items():  # named_modules order: each module before its children
        inside = any(path.startswith(f) for f in covered + [f + "." for f in found])
        if path and n and path not in ran and not inside:
            found.append(path)
    return found


def _subsets(items: list[str]) -> Iterator[tuple[str, ...]]:
    """Every subset of `items`, smallest first (none when there are too many to try)."""
    from itertools import combinations

    if len(items) > 8:
        return iter([()])
    return (c for k in range(len(items) + 1) for c in combinations(items, k))
