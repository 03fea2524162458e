"""netstat.shapes against its oracle, PyTorch's meta kernels.

- Every bundled zoo model and every torchvision classification model, traced
  on meta with the shape rules and without them (`run_trace(...,
  shape_rules=False)`), gives the same records: op, argument descriptions,
  input and output tensors (ids, storages, shapes, dtypes, strides), module
  and allocations, and the same module calls and outputs.
- Every rule, on a table of calls in several layouts (contiguous, channels
  last, transposed, sliced, broadcast, odd strides of size-1 dims), gives
  exactly the layout of the meta kernel's output wherever it does not decline.
- A fresh process that profiles zoo models (and a small transformer) never
  imports torch._dynamo; one that imported it first gets the same numbers.

The largest RegNets are left out (TOO_SLOW): building them is most of the
file's time, and their blocks are the smaller RegNets'.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any, Iterator

import pytest
import torch

from netstat import shapes, spec
from netstat import trace as netstat_trace
from netstat.zoo import list_models
from conftest import HAS_TORCHVISION

aten = torch.ops.aten

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning")


def _torchvision_classifiers() -> list[str]:
    if not HAS_TORCHVISION:
        return []
    import torchvision.models as tvm

    return [f"torchvision:{name}" for name in tvm.list_models(module=tvm)]


# RegNet's builder cannot run on meta (it computes its widths with tensors), so
# netstat builds it on CPU and initialises its weights: the largest take 1-13 s
# to build, and their blocks are those of the smaller RegNets compared here.
_REGNET = "built on CPU ({}); the same blocks as the smaller RegNets"
TOO_SLOW = {
    "torchvision:regnet_y_128gf": _REGNET.format("13 s"),
    **{f"torchvision:regnet_{size}": _REGNET.format("1-2 s") for size in ("x_8gf", "x_16gf", "x_32gf", "y_8gf", "y_16gf", "y_32gf")},
}
MODELS = [name for name in list_models() + _torchvision_classifiers() if name not in TOO_SLOW]


# -- whole models -----------------------------------------------------------------


def _records(trace) -> list[tuple]:
    return [(op.name, op.args, op.kwargs, op.inputs, op.outputs, op.module, op.allocates) for op in trace.ops]


def _first_difference(fast, oracle) -> str:
    """The first op whose record differs, said in one line each."""
    for i, (a, b) in enumerate(zip(_records(fast), _records(oracle))):
        if a != b:
            return f"op {i}:\n  rules: {a}\n  meta:  {b}"
    return f"{len(fast.ops)} ops with the rules, {len(oracle.ops)} without"


@pytest.mark.parametrize("name", MODELS)
def test_a_trace_with_rules_records_what_the_meta_kernels_give(name):
    source = spec.resolve(name)
    model = source.instantiate("meta")
    fast = netstat_trace.run_trace(model, source.inputs, "meta")
    oracle = netstat_trace.run_trace(model, source.inputs, "meta", shape_rules=False)
    assert _records(fast) == _records(oracle), _first_difference(fast, oracle)
    assert fast.modules == oracle.modules
    assert (fast.inputs, fast.outputs, fast.weights) == (oracle.inputs, oracle.outputs, oracle.weights)


# -- rule by rule -------------------------------------------------------------------


def meta(shape, layout: str = "c", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A meta tensor of `shape` laid out: c contiguous, cl channels last, t last
    two dims transposed, s every other element of the last dim, e expanded
    along dim 0."""
    shape = tuple(shape)
    if layout == "c" or (layout == "cl" and len(shape) not in (4, 5)):
        return torch.empty(shape, dtype=dtype, device="meta")
    if layout == "cl":
        fmt = torch.channels_last if len(shape) == 4 else torch.channels_last_3d
        return torch.empty(shape, dtype=dtype, device="meta", memory_format=fmt)
    if layout == "t" and len(shape) >= 2:
        return torch.empty((*shape[:-2], shape[-1], shape[-2]), dtype=dtype, device="meta").transpose(-1, -2)
    if layout == "s" and shape:
        return torch.empty((*shape[:-1], 2 * shape[-1]), dtype=dtype, device="meta")[..., ::2]
    if layout == "e" and shape:
        return torch.empty((1, *shape[1:]), dtype=dtype, device="meta").expand(shape)
    return torch.empty(shape, dtype=dtype, device="meta")


LAYOUTS = ("c", "cl", "t", "s", "e")
SHAPES = ((2, 8, 6, 5), (1, 8, 6, 5), (1, 8, 1, 1), (2, 3, 1, 5))  # size-1 dims give odd strides under cl / t


def _names(text: str) -> list:
    return [op for op in shapes._core.overloads(*text.split()) if op is not None]


def _scalars(op) -> list[float]:
    """A scalar for each required argument after `self` (clamp_min's min, ...)."""
    args = op._schema.arguments[1:]
    return [0.5 for a in args if not a.kwarg_only and not a.has_default_value()]


def _elementwise_cases(x: torch.Tensor) -> Iterator[tuple]:
    from netstat.shapes import elementwise as ew

    for op in _names(ew.UNARY + " " + ew.UNARY_TO_FLOAT):
        yield op, (x, *_scalars(op)), {}
    for op in _names(ew.INPLACE_UNARY):
        yield op, (x, *_scalars(op)), {}
    for op in _names(ew.BINARY + " " + ew.BINARY_TO_FLOAT + " " + ew.COMPARISON):
        scalar = op._schema.arguments[1].type.kind() != "TensorType"
        others = [2, 0.5] if scalar else [meta(x.shape, "c"), meta(x.shape[1:]), meta((x.shape[1], 1, 1)), meta((1, x.shape[1], 1, 1), "cl"), meta(()), torch.tensor(2.0)]
        for other in others:
            yield op, (x, other), {}
            if not scalar and isinstance(other, torch.Tensor) and other.is_meta:
                yield op, (other, x), {}
    for op in _names(ew.INPLACE_BINARY):
        scalar = op._schema.arguments[1].type.kind() != "TensorType"
        for other in [3] if scalar else [meta(x.shape[-1:]), meta((x.shape[1], 1, 1)), meta(x.shape, "t")]:
            yield op, (meta(x.shape, "c"), other), {}
    yield aten.add.Tensor, (x, meta(x.shape, "c", torch.float16)), {}
    yield aten.add.Tensor, (meta(x.shape, "c", torch.float16), torch.tensor(2.0, dtype=torch.float64)), {}
    yield aten.div.Tensor, (meta(x.shape, "c", torch.int64), 2), {}
    yield aten.gelu.default, (x,), {"approximate": "tanh"}
    yield aten.clamp.default, (x, 0.0, 6.0), {}
    yield aten.clamp_.default, (x, None, 6.0), {}
    yield aten.hardtanh.default, (x, 0.0, 6.0), {}
    yield aten.masked_fill.Scalar, (x, meta(x.shape, "c", torch.bool), 0.0), {}
    yield aten.masked_fill.Scalar, (x, meta(x.shape[-2:], "c", torch.bool), float("-inf")), {}


def _norm_cases(x: torch.Tensor) -> Iterator[tuple]:
    c = x.shape[1]
    w = meta((c,))
    for training in (False, True):
        yield aten.native_batch_norm.default, (x, w, w, w, w, training, 0.1, 1e-5), {}
        yield aten.native_batch_norm.default, (x, None, None, w, w, training, 0.1, 1e-5), {}
        yield aten._native_batch_norm_legit.default, (x, w, w, w, w, training, 0.1, 1e-5), {}
    yield aten._native_batch_norm_legit_no_training.default, (x, w, w, w, w, 0.1, 1e-5), {}
    yield aten._native_batch_norm_legit.no_stats, (x, w, w, True, 0.1, 1e-5), {}
    yield aten.native_batch_norm.default, (x.half(), w, w, w, w, False, 0.1, 1e-5), {}
    for normalized in (x.shape[-1:], x.shape[-2:]):
        yield aten.native_layer_norm.default, (x, list(normalized), meta(normalized), meta(normalized), 1e-6), {}
        yield aten.native_layer_norm.default, (x.half(), list(normalized), None, None, 1e-6), {}
    for groups in (1, 2, 4):
        yield aten.native_group_norm.default, (x, w, w, x.shape[0], c, x.shape[2] * x.shape[3], groups, 1e-5), {}
    yield aten.native_group_norm.default, (x.half(), None, None, x.shape[0], c, x.shape[2] * x.shape[3], 2, 1e-5), {}


def _reduction_cases(x: torch.Tensor) -> Iterator[tuple]:
    for dims, keepdim in (([-1, -2], True), ([2, 3], False), ([1], True), ([], False), ([0], True)):
        yield aten.mean.dim, (x, dims, keepdim), {}
        yield aten.sum.dim_IntList, (x, dims, keepdim), {}
        yield aten.amax.default, (x, dims, keepdim), {}
        yield aten.amin.default, (x, dims, keepdim), {}
        yield aten.linalg_vector_norm.default, (x, 2, dims, keepdim), {}
    yield aten.mean.dim, (x, None), {}
    yield aten.sum.dim_IntList, (x, [1]), {"dtype": torch.float64}
    for dim in (0, 1, -1):
        yield aten._softmax.default, (x, dim, False), {}
        yield aten._log_softmax.default, (x, dim, False), {}
        yield aten._safe_softmax.default, (x, dim), {}
    yield aten._softmax.default, (x.half(), -1, True), {}


def _joining_cases(x: torch.Tensor) -> Iterator[tuple]:
    yield aten.roll.default, (x, [1, 2], [2, 3]), {}
    yield aten.roll.default, (x, [3]), {}
    for dim in (0, 1, -1):
        yield aten.cat.default, ([x, x], dim), {}
        yield aten.cat.default, ([x, meta(x.shape)], dim), {}
        yield aten.stack.default, ([x, x], dim), {}
    yield aten.stack.default, ([x, x], 4), {}
    yield aten.cat.default, ([x, x.half()], 1), {}
    yield aten.cat.default, ([meta((1, 1, 64)), meta((1, 196, 64), "t")], 1), {}


def _spatial_cases(x: torch.Tensor) -> Iterator[tuple]:
    c, h = x.shape[1], x.shape[2]
    for k, s, p, d, ceil in ((2, 2, 0, 1, False), (3, 2, 1, 1, True), (3, 1, 1, 1, False), (3, 2, 0, 2, True), (2, [], 0, 1, True)):
        if h >= 3:
            yield aten.max_pool2d_with_indices.default, (x, [k, k], [s, s] if s else [], [p, p], [d, d], ceil), {}
            yield aten.avg_pool2d.default, (x, [k], [s] if s else [], [p], ceil), {}
    for size in ([1, 1], [3, 2], [7, 7]):
        yield aten._adaptive_avg_pool2d.default, (x, size), {}
        yield aten.adaptive_max_pool2d.default, (x, size), {}
    for size in ([12, 10], [3, 3]):
        yield aten.upsample_bilinear2d.default, (x, size, False), {}
        yield aten.upsample_bilinear2d.default, (x, size, True, 2.0, 2.0), {}
        yield aten.upsample_nearest2d.default, (x, size), {}
        yield aten._upsample_nearest_exact2d.default, (x, size), {}
        yield aten.upsample_bicubic2d.default, (x, size, False), {}
    yield aten.upsample_nearest1d.default, (x[0], [9]), {}
    yield aten.upsample_linear1d.default, (x[0], [9], False), {}
    yield aten.upsample_nearest3d.default, (x.unsqueeze(2), [2, 4, 4]), {}
    yield aten.upsample_trilinear3d.default, (x.unsqueeze(2), [2, 4, 4], False), {}
    yield aten.max_unpool2d.default, (x, meta(x.shape, "c", torch.int64), [2 * h, 2 * x.shape[3]]), {}
    for weight_layout in ("c", "cl"):
        for cout, k, s, p, d, g in ((4, 3, 1, 1, 1, 1), (8, 3, 2, 0, 1, 8), (6, 1, 1, 0, 1, 2), (4, 2, 2, 1, 2, 4)):
            weight = meta((cout, c // g, k, k), weight_layout)
            yield aten.convolution.default, (x, weight, meta((cout,)), [s, s], [p, p], [d, d], False, [0, 0], g), {}
            yield aten.convolution.default, (x, weight, None, [s], [p], [d], False, [0], g), {}
        weight = meta((c, 4, 2, 2), weight_layout)
        yield aten.convolution.default, (x, weight, None, [2, 2], [0, 0], [1, 1], True, [0, 0], 1), {}
        yield aten.convolution.default, (x, weight, None, [2, 2], [1, 1], [1, 1], True, [1, 1], 1), {}
    yield aten.convolution.default, (x[..., 0], meta((4, c, 3)), None, [1], [1], [1], False, [0], 1), {}


def _product_cases(layout: str) -> Iterator[tuple]:
    a, b = meta((5, 7), layout), meta((7, 3), layout)
    yield aten.mm.default, (a, b), {}
    for bias in (meta((3,)), meta((5, 3), layout), meta((1, 3)), meta((5, 1))):
        yield aten.addmm.default, (bias, a, b), {}
        yield aten.addmm.default, (bias, a, b), {"beta": 0.5, "alpha": 2}
    a3, b3 = meta((2, 5, 7), layout), meta((2, 7, 3), layout)
    yield aten.bmm.default, (a3, b3), {}
    yield aten.baddbmm.default, (meta((2, 5, 3), layout), a3, b3), {}
    yield aten.baddbmm.default, (meta((3,)), a3, b3), {"beta": 0.0}


def cases() -> Iterator[tuple]:
    """(op, args, kwargs): every rule's op, in every layout."""
    for layout in LAYOUTS:
        for shape in SHAPES:
            x = meta(shape, layout)
            for family in (_elementwise_cases, _norm_cases, _reduction_cases, _joining_cases, _spatial_cases):
                yield from family(x)
        yield from _product_cases(layout)
        yield from _elementwise_cases(meta((1, 197, 64), layout))
    yield aten.add.Tensor, (meta((5,)), meta(())), {}
    yield aten.mul.Tensor, (meta(()), meta(())), {}
    yield aten.relu.default, (meta(()),), {}
    yield aten.cat.default, ([meta((3,)), meta((4,))],), {}


def _layout(out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return tuple(out.shape), tuple(out.stride()), out.dtype
    if isinstance(out, shapes.Layout):
        return out.shape, out.stride, out.dtype
    return tuple(_layout(o) for o in out)


def _described(args) -> list:
    return [_layout(a) if isinstance(a, torch.Tensor) else a for a in args]


def test_each_rule_gives_its_meta_kernels_layout():
    wrong, held = [], set()
    for op, args, kwargs in cases():
        got = shapes.infer(op, args, kwargs)
        if got is None:
            continue
        held.add(op)
        want = op(*args, **kwargs)
        if isinstance(got, torch.Tensor):  # in place: the input itself
            ok = got is args[0] and want is args[0]
        else:
            ok = _layout(got) == _layout(want)
        if not ok:
            wrong.append(f"{op} {_described(args)} {kwargs}: rule {_layout(got)}, meta {_layout(want)}")
    assert not wrong, "\n".join(wrong[:20])
    assert set(shapes.RULES) <= held, f"rules never held to their meta kernel: {sorted(map(str, set(shapes.RULES) - held))}"


def test_a_rule_declines_what_the_op_rejects():
    """The meta kernel then runs and raises the op's own error."""
    rejected = [
        (aten.addmm.default, (meta((3,)), meta((5, 7)), meta((6, 3))), {}),
        (aten.convolution.default, (meta((1, 3, 8, 8)), meta((4, 5, 3, 3)), None, [1], [0], [1], False, [0], 1), {}),
        (aten.convolution.default, (meta((1, 3, 2, 2)), meta((4, 3, 3, 3)), None, [1], [0], [1], False, [0], 1), {}),
        (aten.add.Tensor, (meta((2, 3)), meta((4,))), {}),
        (aten.max_pool2d_with_indices.default, (meta((1, 3, 2, 2)), [3, 3], [1, 1], [2, 2], [1, 1], False), {}),
        (aten.cat.default, ([meta((1, 2, 3)), meta((1, 3, 4))], 1), {}),
        (aten.native_layer_norm.default, (meta((2, 5)), [4], None, None, 1e-5), {}),
        (aten.add.Tensor, (meta((2, 3)), torch.zeros(2, 3)), {}),
        (aten.convolution.default, (meta((1, 3, 8, 8)), meta((4, 1, 3, 3)), None, [0], [0], [1], False, [0], 3), {}),
    ]
    for op, args, kwargs in rejected:
        assert shapes.infer(op, args, kwargs) is None, op
        with pytest.raises(Exception):
            op(*args, **kwargs)


# -- torch._dynamo ----------------------------------------------------------------------

_TRANSFORMER = """
    import torch
    from torch import nn

    class TinyViT(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch = nn.Conv2d(3, 64, 16, 16)
            self.cls = nn.Parameter(torch.zeros(1, 1, 64))
            layer = nn.TransformerEncoderLayer(64, 4, 128, batch_first=True, activation="gelu", norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = nn.Linear(64, 10)

        def forward(self, x):
            x = self.patch(x).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
            return self.head(self.encoder(x)[:, 0])
"""

PROFILES = textwrap.dedent(_TRANSFORMER) + textwrap.dedent("""
    import json, sys
    if sys.argv[1] == "dynamo":
        import torch._dynamo
    import netstat
    compared = {}
    for name in ("resnet50", "vgg16", "mobilenet_v3_large", "efficientnet_b0", "densenet121", "deeplabv3_resnet50", "segnet", "inception_v3", "vit"):
        if sys.argv[1] == "dynamo" and name not in ("resnet50", "mobilenet_v3_large", "vit"):
            continue
        p = netstat.profile(TinyViT(), input_size=(1, 3, 64, 64)) if name == "vit" else netstat.profile(name)
        if name in ("resnet50", "mobilenet_v3_large", "vit"):
            compared[name] = json.loads(json.dumps(p.to_dict(), default=str))
    print(json.dumps({"dynamo": "torch._dynamo" in sys.modules, "profiles": compared}))
""")


def _profiles(mode: str) -> dict:
    """What PROFILES prints, run in a fresh process."""
    import json

    done = subprocess.run([sys.executable, "-c", PROFILES, mode], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_profiling_never_imports_dynamo_and_gives_the_same_numbers_where_it_was():
    """Eight zoo models and a small transformer (nn.TransformerEncoder: attention's
    math path) in a fresh process; then the process a torch.compile user has,
    torch._dynamo imported first, gets the same numbers."""
    plain, dynamo = _profiles("plain"), _profiles("dynamo")
    assert not plain["dynamo"], "profiling imported torch._dynamo"
    assert dynamo["dynamo"]
    assert plain["profiles"] == dynamo["profiles"]


def test_the_recorder_keeps_dynamo_off_only_while_it_is_not_imported():
    """TorchDispatchMode wraps a mode's __torch_dispatch__ in torch._disable_dynamo
    unless _should_skip_dynamo says no; netstat's recorder says no, and takes the
    wrapped twin once the process has torch._dynamo (it may be compiling)."""
    assert not netstat_trace.Recorder._should_skip_dynamo()
    assert netstat_trace.CompileSafeRecorder._should_skip_dynamo()
    assert netstat_trace.CompileSafeRecorder.__torch_dispatch__ is not netstat_trace.Recorder.__torch_dispatch__
