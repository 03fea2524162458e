"""Every registered formula, called (issue 20): each op of the registry
(`formulas.FORMULAS`, `formulas.NAMED_FORMULAS`) is run on small tensors
built from its schema, and its formula is called on the result as
`netstat.metrics.op_cost` calls it (tensors as shapes, packed weights as
`PackedWeight`s, `out` the output shapes). The schema test in
test_formulas.py only binds signatures; this one runs the formula's body.

Arguments come from the schema, by type and name (`_value`), on a few
candidate shapes; `OVERRIDES` holds what an op needs that no rule gives (a
vector for `mv`, a packed quantized weight). Every overload that runs is
checked; a registered op none of whose overloads runs fails the test, so a
new formula cannot go untested. (A named op this torch build lacks, which
netstat cannot meet either, is left out.)"""

from __future__ import annotations

import contextlib
import functools
import warnings
from math import prod
from typing import Any, Callable, Iterator

import torch

from netstat import formulas, ops
from netstat.formulas import Cost
from netstat.quantized import describe_packed

Q8, QINT8, LONG = torch.quint8, torch.qint8, torch.long

# ---------------------------------------------------------------------------
# Arguments from the schema.
# ---------------------------------------------------------------------------

# Shapes tried in turn for the tensor arguments: the first the op accepts is used.
SHAPES = ((2, 3, 4, 4), (3, 3), (2, 3, 3), (2, 3, 4, 4, 4), (3,))

Rule = Callable[[tuple], Any]  # an argument's value from the candidate shape


def _spatial(value: int) -> Rule:
    """One `value` per spatial dimension (conv / pool geometry)."""
    return lambda shape: [value] * max(len(shape) - 2, 1)


INTS: dict[str, Rule] = {
    "dim": lambda s: 1, "dim0": lambda s: 0, "dim1": lambda s: 1, "split_size": lambda s: 2, "chunks": lambda s: 2,
    "N": lambda s: s[0], "C": lambda s: s[1], "HxW": lambda s: prod(s[2:]), "steps": lambda s: 3,
}
INT_LISTS: dict[str, Rule] = {
    "kernel_size": _spatial(2), "stride": _spatial(1), "padding": _spatial(0), "dilation": _spatial(1),
    "output_padding": _spatial(0), "output_size": lambda s: list(s[2:]), "input_size": list, "input_sizes": list,
    "size": list, "shape": list, "sizes": lambda s: [s[1], 1], "dims": lambda s: list(range(len(s))),
    "dim": lambda s: [1], "repeats": lambda s: [1] * len(s), "normalized_shape": lambda s: [s[-1]],
    "pad": lambda s: [1, 1], "split_sizes": lambda s: [1, s[0] - 1],
}
OPTIONAL_TENSORS: dict[str, Rule] = {"running_mean": lambda s: s[1:2], "running_var": lambda s: s[1:2]}
FLOATS = {"p": 0.5, "eps": 1e-5}
LONG_TENSORS = {"index", "indices"}
BOOL_TENSORS = {"mask", "condition"}
# Argument types no rule builds (named tensors, TorchScript's values): an op with one needs an override.
UNBUILT = ("Dimname", "Generator", "Any", "Dict", "Device", "AnyEnumType", "complex", "__torch__", "List[t]", "str", "List[str]")


def _tensor(shape, dtype=torch.float, device="cpu") -> torch.Tensor:
    """Zeros on `device`; a quantized dtype on the CPU (the only device with
    quantized kernels), its values left as they come (any byte is a value)."""
    if dtype in (Q8, QINT8, torch.quint4x2):
        return torch._empty_affine_quantized(shape, scale=0.1, zero_point=0, dtype=dtype)
    return torch.zeros(shape, dtype=dtype, device=device)


def _value(arg, shape: tuple, device: str, dtype: torch.dtype) -> Any:
    """A value for a required argument of the schema, by its type and name."""
    kind, name = str(arg.type).replace("SymInt", "int"), arg.name
    if kind.startswith(UNBUILT):
        raise LookupError(f"no rule for {kind} {name}")
    if kind == "Tensor":
        tensor_dtype = LONG if name in LONG_TENSORS else torch.bool if name in BOOL_TENSORS else dtype
        return _tensor(shape, tensor_dtype, device)
    if kind == "Optional[Tensor]" and name in OPTIONAL_TENSORS:
        return _tensor(OPTIONAL_TENSORS[name](shape), dtype, device)
    if kind.startswith("Optional["):
        return None
    if kind == "List[Tensor]":
        return [_tensor(shape, dtype, device)] * 2
    rules = {"int": INTS, "List[int]": INT_LISTS}.get(kind)
    if rules is not None:
        return rules[name](shape) if name in rules else (1 if kind == "int" else [1])
    if kind in ("float", "number"):
        return FLOATS.get(name, 1.0)
    if kind == "bool":
        return False
    if kind == "List[bool]":
        return [True, True, True]
    raise LookupError(f"no rule for {kind} {name}")


# ---------------------------------------------------------------------------
# What no rule gives.
# ---------------------------------------------------------------------------


class T:
    """A tensor argument in `OVERRIDES`: made with this shape and dtype on the device the op runs on."""

    def __init__(self, *shape: int, dtype: torch.dtype = torch.float):
        self.shape, self.dtype = shape, dtype


def _conv_weight(dims: int, transposed: bool = False) -> Callable[[], torch.ScriptObject]:
    """A packed quantized conv weight, 3 -> 2 channels, kernel 2 (what a quantized Conv module holds)."""

    def pack() -> torch.ScriptObject:
        weight = _tensor((3, 2) + (2,) * dims if transposed else (2, 3) + (2,) * dims, QINT8)
        geometry = ([1] * dims, [0] * dims) + (([0] * dims,) if transposed else ()) + ([1] * dims, 1)
        prepack = getattr(torch.ops.quantized, ("conv_transpose" if transposed else "conv") + f"{dims}d_prepack")
        return prepack(weight, None, *geometry)

    return pack


def _linear_weight(fp16: bool = False) -> Callable[[], torch.ScriptObject]:
    """A packed quantized linear weight, 4 -> 2 features (int8, or fp16 for the fp16 dynamic ops)."""
    if fp16:
        return lambda: torch.ops.quantized.linear_prepack_fp16(torch.rand(2, 4), None)
    return lambda: torch.ops.quantized.linear_prepack(_tensor((2, 4), QINT8), None)


def _per_row(dtype: torch.dtype) -> Callable[[], torch.Tensor]:
    """A 5 x 8 table quantized per row, as a quantized Embedding's."""
    return lambda: torch.quantize_per_channel(torch.rand(5, 8), torch.full((5,), 0.1), torch.zeros(5), 0, dtype)


def _embedding_weight(dtype: torch.dtype) -> Callable[[], torch.ScriptObject]:
    return lambda: torch.ops.quantized.embedding_bag_prepack(_per_row(dtype)())


def _quantized_overrides() -> dict[str, dict[str, Any]]:
    """torch.ops.quantized's ops take packed weights; the dynamic linears a float input."""
    table: dict[str, dict[str, Any]] = {}
    for dims in (1, 2, 3):
        conv = _conv_weight(dims)
        for name in (f"conv{dims}d", f"conv{dims}d_relu"):  # conv2d / conv3d's legacy overload: `weight`
            table[f"quantized::{name}"] = {"packed_weight": conv, **({"weight": conv} if dims > 1 else {})}
        table[f"quantized::conv{dims}d_unpack"] = {"packed_weights": conv}
        table[f"quantized::conv_transpose{dims}d"] = {"packed_weight": _conv_weight(dims, transposed=True)}
        table[f"quantized::conv{dims}d_prepack"] = {"weight": T(2, 3, *(2,) * dims, dtype=QINT8)}
    for name in ("conv2d_add", "conv2d_add_relu"):
        table[f"quantized::{name}"] = {"packed_weight": _conv_weight(2), "qaccum": T(2, 2, 3, 3, dtype=Q8)}
    for name in formulas.named.QUANTIZED_LINEARS:
        fp16, float_input = name.endswith("fp16"), "dynamic" in name or "fp32" in name
        table[f"quantized::{name}"] = {"W_prepack": _linear_weight(fp16), "X": T(3, 4) if float_input else T(3, 4, dtype=Q8)}
    table["quantized::linear_unpack"] = {"W_prepack": _linear_weight()}
    table["quantized::linear_unpack_fp16"] = {"W_prepack": _linear_weight(fp16=True)}
    table["quantized::linear_prepack"] = {"W": T(2, 4, dtype=QINT8)}
    table["quantized::linear_prepack_fp16"] = {"W": T(2, 4)}
    table["quantized::embedding_bag_prepack"] = {"weight": _per_row(Q8)}
    table["quantized::embedding_bag_unpack"] = {"W_prepack": _embedding_weight(Q8)}
    table["quantized::embedding_byte"] = {"weight": _embedding_weight(Q8), "indices": T(2, dtype=LONG)}
    table["quantized::embedding_4bit"] = {"weight": _embedding_weight(torch.quint4x2), "indices": T(2, dtype=LONG)}
    for name in formulas.named.QUANTIZED_ELEMENTWISE:
        if name.startswith("batch_norm"):  # float statistics and affine of 3 channels
            table[f"quantized::{name}"] = {"mean": T(3), "var": T(3), "weight": T(3), "bias": T(3)}
    table["quantized::clamp"] = {"min": 0.0}
    table["quantized::cat_out"] = table["quantized::cat_relu_out"] = {"out": T(2, 6, 4, 4, dtype=Q8)}  # two (2, 3, 4, 4) on dim 1
    return table


# By op name (an in-place op shares its op's; another library's op by its
# qualified name): argument name -> a value, a `T`, or a function that makes it.
OVERRIDES: dict[str, dict[str, Any]] = {
    # vectors, and products whose operands differ in rank
    "mv": {"self": T(3, 4), "vec": T(4)},
    "dot": {"self": T(4), "tensor": T(4)},
    "vdot": {"self": T(4), "other": T(4)},
    "addmv": {"self": T(3), "mat": T(3, 4), "vec": T(4)},
    "addbmm": {"self": T(3, 5), "batch1": T(2, 3, 4), "batch2": T(2, 4, 5)},
    # an LSTM layer (mode 2; another mode is uncounted): 5 steps, batch 2, 8 inputs, 4 hidden units
    "mkldnn_rnn_layer": {
        "input": T(5, 2, 8), "weight0": T(16, 8), "weight1": T(16, 4), "weight2": T(16), "weight3": T(16),
        "hx_": T(2, 4), "cx_": T(2, 4), "batch_sizes": [], "mode": 2, "hidden_size": 4, "has_biases": True,
    },
    # batch 2, length 5, embed 16 in 4 heads
    "_native_multi_head_attention": {
        "query": T(2, 5, 16), "key": T(2, 5, 16), "value": T(2, 5, 16), "embed_dim": 16, "num_head": 4,
        "qkv_weight": T(48, 16), "qkv_bias": T(48), "proj_weight": T(16, 16), "proj_bias": T(16),
    },
    # geometry the candidate shape does not give
    "convolution_backward": {"grad_output": T(2, 2, 1, 1), "bias_sizes": [2]},  # weight (2, 3, 4, 4) on 4 x 4
    "_slow_conv2d_forward": {"weight": T(2, 3, 2, 2)},
    "thnn_conv2d": {"weight": T(2, 3, 2, 2)},
    "col2im": {"self": T(2, 12, 9)},  # 3 channels x 2 x 2 taps, 3 x 3 positions, into 4 x 4
    # a 2 x 2 window at stride 1 on the candidate (2, 3, 4, 4) and (2, 3, 4, 4, 4)
    "avg_pool2d_backward": {"grad_output": T(2, 3, 3, 3)},
    "avg_pool3d_backward": {"grad_output": T(2, 3, 3, 3, 3)},
    "max_pool2d_with_indices_backward": {"grad_output": T(2, 3, 3, 3), "indices": T(2, 3, 3, 3, dtype=LONG)},
    "native_group_norm_backward": {"mean": T(2, 1), "rstd": T(2, 1)},  # (N, groups)
    "grid_sampler": {"grid": T(2, 4, 4, 2)},
    "grid_sampler_2d": {"grid": T(2, 4, 4, 2)},
    "prelu": {"weight": T(3)},
    "index": {"indices": [T(2, dtype=LONG)]},
    "index_add": {"index": T(3, dtype=LONG)},
    "index_fill": {"index": T(3, dtype=LONG)},
    "clamp": {"min": 0.0},
    "clip": {"min": 0.0},
    **{f"{kind}_pad{d}d": {"padding": [1] * 2 * d} for kind in ("reflection", "replication") for d in (1, 2, 3)},
    # complex and quantized tensors
    "_conj": {"self": T(3, dtype=torch.cfloat)},
    "imag": {"self": T(3, dtype=torch.cfloat)},
    "view_as_real": {"self": T(3, dtype=torch.cfloat)},
    "view_as_complex": {"self": T(3, 2)},
    "_empty_affine_quantized": {"dtype": Q8},
    "_empty_per_channel_affine_quantized": {"dtype": Q8},
    "quantize_per_tensor_dynamic": {"dtype": Q8},
    "quantize_per_channel": {"scales": T(2), "zero_points": T(2, dtype=LONG), "axis": 0, "dtype": Q8},
    "q_per_channel_scales": {"self": _per_row(Q8)},
    "q_per_channel_zero_points": {"self": _per_row(Q8)},
    "q_per_channel_axis": {"self": _per_row(Q8)},
    "quantized_batch_norm": {"mean": T(3), "var": T(3), "weight": T(3), "bias": T(3)},
    "_batch_norm_no_update": {"weight": T(3), "bias": T(3)},  # meta's decomposition needs the affine
    "_batch_norm_with_update": {"weight": T(3), "bias": T(3)},
    "mkldnn_max_pool2d": {"self": lambda: torch.zeros(2, 3, 4, 4).to_mkldnn()},
    # torchvision's detection ops: 3 boxes (x1, y1, x2, y2); 2 RoIs (batch index, box) pooled to 2 x 2
    "torchvision::nms": {"dets": T(3, 4), "scores": T(3)},
    "torchvision::roi_align": {"rois": T(2, 5), "pooled_height": 2, "pooled_width": 2},
    # torch.optim's record_function bookkeeping
    "profiler::_record_function_enter_new": {"name": "step"},
    "profiler::_record_function_exit": {"record": lambda: torch.ops.profiler._record_function_enter_new("step")},
    **_quantized_overrides(),
}
# Ops whose input is quantized; the ops of torch.ops.quantized are too.
QUANTIZED_INPUT = {"quantized_max_pool1d", "quantized_max_pool2d", "quantized_max_pool3d", "quantized_batch_norm", "int_repr", "q_scale",
                   "q_zero_point", "dequantize"}
# Ops that run on the CPU only (their tensors are made there); an op without a meta kernel falls back to the CPU by itself.
CPU_ONLY = {"_local_scalar_dense", "mkldnn_convolution", "mkldnn_max_pool2d", "nonzero", "masked_select", "meshgrid"}
# Quantized ops only oneDNN's engine has (not the default x86 one).
ONEDNN_ONLY = {"quantized::conv2d_add", "quantized::conv2d_add_relu", "quantized::linear_tanh", "quantized::linear_leaky_relu"}
# Ops with no kernel on this machine (CUDA, a custom backend): the outputs their call would give.
NO_KERNEL_OUTPUTS = {"cudnn_convolution": [(2, 2, 1, 1)], "convolution_overrideable": [(2, 2, 1, 1)]}


def _name(packet) -> str:
    """An aten op's name, out-of-place ('relu' for 'relu_'); another library's qualified name."""
    qualified = packet._qualified_op_name
    return ops.base_name(packet.__name__) if qualified.startswith("aten::") else qualified


def _override(value: Any, device: str) -> Any:
    if isinstance(value, T):
        return _tensor(value.shape, value.dtype, device)
    if isinstance(value, list) and value and isinstance(value[0], T):
        return [_override(v, device) for v in value]
    return value() if callable(value) else value


def _arguments(op, shape: tuple, device: str) -> tuple[tuple, dict]:
    """Positional and keyword arguments of a call of `op`: the required ones
    (`_value`, or `OVERRIDES`), an overridden defaulted one, and an empty
    tensor for each result buffer of an `out=` overload (the op resizes it).
    Once a defaulted argument is left out, the rest go by name."""
    name = _name(op.overloadpacket)
    overrides = OVERRIDES.get(name, {})
    dtype = Q8 if name in QUANTIZED_INPUT or name.startswith("quantized::") else torch.float
    args, kwargs = [], {}
    for position, arg in enumerate(op._schema.arguments):
        if arg.is_out:
            value = _tensor((0,), dtype, device)
        elif arg.name in overrides:
            value = _override(overrides[arg.name], device)
        elif arg.has_default_value():
            continue
        else:
            value = _value(arg, shape, device, dtype)
        if arg.kwarg_only or arg.is_out or kwargs or len(args) < position:
            kwargs[arg.name] = value
        else:
            args.append(value)
    return tuple(args), kwargs


# ---------------------------------------------------------------------------
# Running the op, and calling its formula as netstat.metrics.op_cost does.
# ---------------------------------------------------------------------------


def _described(tree: Any) -> Any:
    """The arguments as a trace records them for `metrics.op_cost`: a tensor
    by its shape, a packed quantized weight by its `PackedWeight`."""
    if isinstance(tree, torch.Tensor):
        return tuple(tree.shape)
    if isinstance(tree, (list, tuple)):
        return type(tree)(_described(x) for x in tree)
    if isinstance(tree, dict):
        return {k: _described(v) for k, v in tree.items()}
    return describe_packed(tree)


def _output_shapes(out: Any) -> list[tuple]:
    flat, _ = torch.utils._pytree.tree_flatten(out)
    return [tuple(t.shape) for t in flat if isinstance(t, torch.Tensor)]


@contextlib.contextmanager
def _quantized_engine(name: str) -> Iterator[None]:
    """oneDNN's quantized engine for the ops only it has (their weights packed under it too)."""
    engine = torch.backends.quantized.engine
    if name in ONEDNN_ONLY:
        torch.backends.quantized.engine = "onednn"
    try:
        yield
    finally:
        torch.backends.quantized.engine = engine


def _try(op, device: str) -> tuple[tuple, dict, list[tuple]] | Exception:
    """The first candidate call of `op` on `device` that runs, with the shapes
    of its outputs; else the exception the last candidate raised."""
    error: Exception = LookupError("no candidate")
    name = _name(op.overloadpacket)
    for shape in SHAPES:
        try:
            with _quantized_engine(name):
                args, kwargs = _arguments(op, shape, device)
                outputs = NO_KERNEL_OUTPUTS.get(name) or _output_shapes(op(*args, **kwargs))
            return args, kwargs, outputs
        except Exception as raised:  # noqa: BLE001 - not a valid call of this op: the next candidate
            error = raised
    return error


def _ran(op) -> tuple[tuple, dict, list[tuple]] | None:
    """(args, kwargs, output shapes) of a call of `op` that runs, tensors as
    shapes; None when none does. An aten op runs on meta, as netstat traces;
    on the CPU only when it has no meta kernel or is in `CPU_ONLY` (made-up
    arguments can crash a CPU kernel). Another library's op runs on the CPU."""
    name = _name(op.overloadpacket)
    on_meta = op.overloadpacket._qualified_op_name.startswith("aten::") and name not in CPU_ONLY
    result = _try(op, "meta") if on_meta else NotImplementedError()
    if isinstance(result, NotImplementedError):
        result = _try(op, "cpu")
    if isinstance(result, Exception):
        return None
    args, kwargs, out = result
    return _described(args), _described(kwargs), out


def _registered() -> Iterator[tuple[str, Any]]:
    """(name, op packet) of every entry of the registry; a named op this
    torch build lacks (netstat never meets it) is left out."""
    with contextlib.suppress(ImportError):
        import torchvision  # noqa: F401 - registers torch.ops.torchvision
    for packet in formulas.FORMULAS:
        yield str(packet), packet
    for qualified in formulas.NAMED_FORMULAS:
        namespace, name = qualified.split("::")
        with contextlib.suppress(AttributeError, RuntimeError):
            yield qualified, getattr(getattr(torch.ops, namespace), name)


def _has_out(op) -> bool:
    return any(a.is_out for a in op._schema.arguments)


def _overloads(packet) -> list:
    """The overloads of `packet` a trace can record, one per distinct input
    (an `out=` overload gives its formula what its functional one does).
    TorchScript's overloads on plain numbers (aten.add.int), with no tensor
    or TorchBind object, never reach a trace."""
    seen, found = set(), []
    for op in sorted((getattr(packet, name) for name in packet.overloads()), key=_has_out):
        arguments = [a for a in op._schema.arguments if not a.is_out]
        key = tuple((a.name, str(a.type)) for a in arguments)
        types = [str(a.type) for a in (*op._schema.arguments, *op._schema.returns)]
        if key not in seen and any("Tensor" in t or "__torch__" in t for t in types):
            seen.add(key)
            found.append(op)
    return found


@functools.cache
def examples() -> dict[str, list]:
    """For every registered op, the calls of its overloads that ran: (overload, args, kwargs, output shapes)."""
    found: dict[str, list] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, packet in _registered():
            ran = ((op, _ran(op)) for op in _overloads(packet))
            found[name] = [(op, *call) for op, call in ran if call is not None]
    return found


def _problem(op, args: tuple, kwargs: dict, out: list) -> str | None:
    """What is wrong with the formula's answer for this call, or None."""
    try:
        cost = formulas.cost_of(op, args, kwargs, out)
    except Exception as error:  # noqa: BLE001 - any crash is the finding
        return f"{op}: {error!r}"
    if not isinstance(cost, Cost):
        return f"{op}: returned {cost!r}"
    if not all(isinstance(n, int) and n >= 0 for n in (cost.madds, cost.flops)):
        return f"{op}: {cost}"
    return None


def test_overrides_name_registered_ops_and_their_arguments():
    """A misspelt entry in the tables would silently do nothing."""
    packets = {_name(packet): packet for _, packet in _registered()}
    names = {*OVERRIDES, *QUANTIZED_INPUT, *CPU_ONLY, *ONEDNN_ONLY, *NO_KERNEL_OUTPUTS}
    assert sorted(names - packets.keys()) == []
    for name, overrides in OVERRIDES.items():
        schema_names = {a.name for o in packets[name].overloads() for a in getattr(packets[name], o)._schema.arguments}
        assert sorted(overrides.keys() - schema_names) == [], name


def test_every_registered_formula_has_an_example():
    """An op with none needs an entry in `OVERRIDES`."""
    assert [name for name, calls in examples().items() if not calls] == []


def test_every_formula_returns_a_nonnegative_integer_cost():
    calls = [call for per_op in examples().values() for call in per_op]
    assert [problem for problem in (_problem(*call) for call in calls) if problem] == []
    assert len(calls) > 700  # the overloads, not one call per op
