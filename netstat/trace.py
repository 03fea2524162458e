"""One traced forward pass: module hooks + a TorchDispatchMode (DESIGN §2).

Global module forward hooks keep a stack of the modules being run (their
paths and call order); a `TorchDispatchMode` sees every aten op, including the
functional ones module hooks miss (`x + identity`, `torch.cat`, `F.relu6`), and
records it with its tensors and the innermost module on the stack.

Every tensor value gets an id (`tid`) and the id of the allocation it lives in
(`storage`): a view shares its base's storage, an in-place op makes a new value
in the same storage. Those ids are the dataflow graph on which receptive
fields, liveness and memory access are computed.

The user's module is never run: `trace_model` traces a `netstat.copying.working_copy` of it
(its parameters and buffers replaced by fresh tensors on the device, all else
deep-copied), so nothing a forward does -- a buffer update, a cached anchor, a
flag, a device move -- reaches the user's model, also when the forward raises.
Hooks are process-global and removed in a `finally`.

On meta, an op with a shape rule (`netstat.shapes`) gets its outputs from the
rule instead of from PyTorch's meta kernel: many of those kernels are Python
decompositions whose first call imports `torch._dynamo` (about 1.7 s), which
nothing here needs. `run_trace(..., shape_rules=False)` traces with the meta
kernels only (tests/test_shapes.py holds the two to the same records).
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import sys
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakIdKeyDictionary

from netstat import formulas, shapes
from netstat.copying import has_meta_tensors
from netstat.errors import ArgumentError, ModelRunError, UsageError, first_line, is_out_of_memory


@dataclass(frozen=True)
class TensorRef:
    """A tensor value seen in the trace: identity, allocation, shape and layout."""

    tid: int
    storage: int
    shape: tuple[int, ...]
    dtype: torch.dtype
    stride: tuple[int, ...] = ()

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def nbytes(self) -> int:
        return self.numel * self.dtype.itemsize


@dataclass
class OpRecord:
    index: int
    func: Any  # the OpOverload, e.g. aten.convolution.default
    args: tuple  # tensors replaced by TensorRef
    kwargs: dict
    inputs: list[TensorRef]
    outputs: list[TensorRef]
    module: str  # path of the innermost running module ("" is the root)
    allocates: list[bool]  # per output: a new allocation (not a view / in-place result)

    @property
    def name(self) -> str:
        return str(self.func)  # "aten.convolution.default"

    @property
    def packet(self):
        return self.func.overloadpacket


@dataclass
class ModuleCall:
    """One call of a module's forward: ops [first_op, end_op) ran inside it."""

    path: str
    type: str
    depth: int
    first_op: int
    end_op: int = -1
    inputs: list[TensorRef] = field(default_factory=list)
    outputs: list[TensorRef] = field(default_factory=list)
    call: int = 0  # 0 for the first call of this module, 1 for the second, ...
    is_leaf: bool = True


PHASES = ("forward", "backward", "optimizer")


@dataclass
class SavedTensor:
    """An allocation autograd saved for backward (once, however often saved)."""

    storage: int
    nbytes: int
    module: str  # the innermost module running when it was first saved
    op: int  # the index of the op whose save it was (the last op recorded then)
    unpacked: int = -1  # the last op index recorded before its last unpack in backward


@dataclass
class Trace:
    """The recorded ops of one forward (inference) or one training step
    (`phase_ends` with a backward and an optimizer phase), and what the
    memory walk (netstat.memory) needs."""

    ops: list[OpRecord]
    modules: list[ModuleCall]
    inputs: list[TensorRef]
    outputs: list[TensorRef]
    weights: dict[int, str]  # tid -> parameter / buffer name
    device: str
    buffers: set[int] = field(default_factory=set)  # the tids in `weights` that are buffers
    notes: list[str] = field(default_factory=list)
    detector: Any = None  # netstat.detection.DetectorCounts when the model is a torchvision detector
    phase_ends: dict[str, int] = field(default_factory=dict)  # phase -> one past its last op (a training step)
    storage_bytes: dict[int, int] = field(default_factory=dict)  # storage -> its allocation's bytes (a step: every one; a forward: the weights)
    resident: set[int] = field(default_factory=set)  # allocated before and alive after: parameters, buffers, optimizer state
    to_end: set[int] = field(default_factory=set)  # made in the step and alive at its end: gradients, the loss
    saved: dict[int, SavedTensor] = field(default_factory=dict)  # storage -> the activation autograd saved
    grad_storages: dict[str, int] = field(default_factory=dict)  # parameter name -> its gradient's storage
    state_storages: dict[str, list[int]] = field(default_factory=dict)  # parameter name -> its optimizer state's storages

    def phase_of(self, index: int) -> str:
        for phase in PHASES:
            if index < self.phase_ends.get(phase, len(self.ops)):
                return phase
        return PHASES[-1]


class Recorder(TorchDispatchMode):
    """Records every aten op; tensor identity through a weak id map."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        """False: TorchDispatchMode would wrap `__torch_dispatch__` in
        `torch._disable_dynamo`, whose first call imports torch._dynamo. A
        process that has not imported it cannot be compiling anything; one
        that has gets `CompileSafeRecorder` (`recorder_class`)."""
        return False

    def __init__(self, memoize: bool = False, rules: bool = False, by_storage: bool = False) -> None:
        super().__init__()
        self.memoize = memoize  # on meta: reuse shape inference for repeated identical calls
        self.rules = rules  # on meta: netstat.shapes gives the outputs of the ops it has rules for
        self.by_storage = by_storage  # a training step: storage identity by StorageImpl (see register)
        self.memo: dict[Any, Any] = {}
        self.ids: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.refs: dict[int, TensorRef] = {}
        self._tids = itertools.count()
        self._storages = itertools.count()
        self.ops: list[OpRecord] = []
        self.stack: list[str] = []
        self.failed_op: str | None = None
        self.by_impl: dict[int, int] = {}  # StorageImpl address -> storage id (by_storage)
        self.sizes: dict[int, int] = {}  # storage id -> its allocation's bytes (by_storage)
        self._kept: list[Any] = []  # every storage seen, so that no address is reused (by_storage)

    # -- tensor identity -------------------------------------------------
    def register(self, t: torch.Tensor, storage: int | None = None) -> TensorRef:
        """A new tensor value. With `by_storage` (a training step) its
        allocation is also known by its StorageImpl: autograd keeps a saved
        output as a shallow copy (a new tensor on the same storage), and the
        backward's read of it must be a read of the forward's allocation. The
        storages are kept referenced so that no address is reused (on meta
        they hold no memory)."""
        key = _storage_key(t) if self.by_storage else None
        if storage is None and key is not None:
            storage = self.by_impl.get(key)
        ref = TensorRef(
            tid=next(self._tids),
            storage=next(self._storages) if storage is None else storage,
            shape=tuple(t.shape),
            dtype=t.dtype,
            stride=tuple(t.stride()) if t.layout == torch.strided else (),
        )
        self.ids[t] = ref.tid
        self.refs[ref.tid] = ref
        if key is not None and key not in self.by_impl:
            self.by_impl[key] = ref.storage
            self.sizes[ref.storage] = t.untyped_storage().nbytes()
            self._kept.append(t.untyped_storage())
        return ref

    def ref(self, t: torch.Tensor) -> TensorRef:
        tid = self.ids.get(t)
        return self.register(t) if tid is None else self.refs[tid]

    # -- the hook ----------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.by_storage and func.namespace == "prim":  # a training step's FakeTensorMode device queries (prim.device): not ops of the model
            return func(*args, **kwargs)
        in_tensors = [t for t in _flat((args, kwargs), []) if isinstance(t, torch.Tensor)]
        in_refs = [self.ref(t) for t in in_tensors]
        described = (_tree_map(self._describe, args), _tree_map(self._describe, kwargs))  # before an in-place op renames its input
        try:
            out = self._run(func, args, kwargs)
        except Exception:
            self.failed_op = str(func)
            raise
        flat_out = _flat(out, [])
        out_refs, allocates = [], []
        aliases = _return_aliases(func, flat_out)
        unsafe_view = func.overloadpacket.__name__ in formulas.UNSAFE_VIEWS
        for t, alias in zip(flat_out, aliases):
            if not isinstance(t, torch.Tensor):
                continue
            same = next((r for x, r in zip(in_tensors, in_refs) if x is t), None)
            if same is not None:  # in-place or returns self: a new value, same allocation
                ref = self.register(t, storage=same.storage)
                allocates.append(False)
            elif unsafe_view:  # a view the schema does not declare
                ref = self.register(t, storage=in_refs[0].storage)
                allocates.append(False)
            elif alias is not None:  # a view of an input
                base = _aliased_input(func, args, kwargs, alias)
                storage = self.ref(base).storage if base is not None else None
                ref = self.register(t, storage=storage)
                allocates.append(storage is None)
            else:
                ref = self.register(t)
                allocates.append(True)
            out_refs.append(ref)
        self.ops.append(
            OpRecord(
                index=len(self.ops),
                func=func,
                args=described[0],
                kwargs=described[1],
                inputs=in_refs,
                outputs=out_refs,
                module=self.stack[-1] if self.stack else "",
                allocates=allocates,
            )
        )
        return out

    def _run(self, func, args, kwargs):
        """Run the op; on meta, an op with a shape rule gets fresh empty
        outputs of the layout the rule gives (an in-place one returns its
        input), and an op already seen with identical shapes, strides and
        arguments skips its (often Python) shape inference: a functional op
        gets fresh empty outputs of the remembered layout, an in-place op that
        kept its input's layout returns that input. Repeated blocks make this
        common."""
        if self.rules:
            layout = shapes.infer(func, args, kwargs)
            if layout is not None:
                return _tree_map(_from_layout, layout)
        inplace = _is_inplace(func)
        if not self.memoize or not (inplace or _is_functional(func)):
            return func(*args, **kwargs)
        try:
            key = (func, _signature(args), _signature(kwargs))
            hash(key)
        except TypeError:
            return func(*args, **kwargs)
        layout = self.memo.get(key)
        if layout is not None:
            return args[0] if inplace else _tree_map(_from_layout, layout)
        out = func(*args, **kwargs)
        if not all(t.is_meta for t in _flat(out, []) if isinstance(t, torch.Tensor)):
            return out  # a value on CPU (torch.arange(n) in a forward) is data, not just a layout
        if not inplace:
            self.memo[key] = _tree_map(_layout_of, out)
        elif out is args[0] and _layout_of(out) == _layout_of(args[0]):
            self.memo[key] = True  # nothing about the tensor changed but its (absent) data
        return out

    def _describe(self, x: Any) -> Any:
        """A tensor by its TensorRef; a quantized module's packed weight (a
        TorchBind ScriptObject) by its unpacked shape (netstat.quantized);
        anything else as is."""
        if isinstance(x, torch.Tensor):
            return self.ref(x)
        if isinstance(x, torch.ScriptObject):
            from netstat.quantized import describe_packed

            return describe_packed(x)
        return x


def _storage_key(t: torch.Tensor) -> int | None:
    try:
        return t.untyped_storage()._cdata
    except (RuntimeError, NotImplementedError):  # a tensor without storage (sparse, some subclasses)
        return None


def _flat(tree: Any, out: list) -> list:
    """Flatten aten arguments (nested lists / tuples / dicts); much cheaper
    than pytree on the hot path."""
    if isinstance(tree, (list, tuple)):
        for x in tree:
            _flat(x, out)
    elif isinstance(tree, dict):
        for x in tree.values():
            _flat(x, out)
    else:
        out.append(tree)
    return out


def _tree_map(fn, tree: Any) -> Any:
    if isinstance(tree, (list, tuple)):
        return type(tree)(_tree_map(fn, x) for x in tree) if not hasattr(tree, "_fields") else type(tree)(*(_tree_map(fn, x) for x in tree))
    if isinstance(tree, dict):
        return {k: _tree_map(fn, v) for k, v in tree.items()}
    return fn(tree)


class CompileSafeRecorder(Recorder):
    """The recorder with the dynamo-disabled `__torch_dispatch__` that
    TorchDispatchMode gives by default: for a process that has imported
    torch._dynamo, where a compiled region could be running."""

    __torch_dispatch__ = Recorder.__torch_dispatch__

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return True


def recorder_class() -> type[Recorder]:
    """Recorder, or CompileSafeRecorder once torch._dynamo is imported (importing it costs nothing then)."""
    return CompileSafeRecorder if "torch._dynamo" in sys.modules else Recorder


def _layout_of(x: Any) -> Any:
    return shapes.Layout(tuple(x.shape), tuple(x.stride()), x.dtype) if isinstance(x, torch.Tensor) else x


def _from_layout(x: Any) -> Any:
    return torch.empty_strided(x.shape, x.stride, dtype=x.dtype, device="meta") if isinstance(x, shapes.Layout) else x


def _signature(tree: Any) -> Any:
    """A hashable description of arguments: tensors by layout, the rest by value."""
    if isinstance(tree, torch.Tensor):
        return ("tensor", tuple(tree.shape), tuple(tree.stride()), tree.dtype, tree.device.type)
    if isinstance(tree, (list, tuple)):
        return tuple(_signature(x) for x in tree)
    if isinstance(tree, dict):
        return tuple(sorted((k, _signature(v)) for k, v in tree.items()))
    return tree


def _is_functional(func) -> bool:
    """Neither returns an alias of an input nor writes to one."""
    schema = func._schema
    return not schema.is_mutable and all(r.alias_info is None for r in schema.returns)


def _is_inplace(func) -> bool:
    """Writes into its first argument and returns it (relu_, add_)."""
    returns = func._schema.returns
    info = returns[0].alias_info if len(returns) == 1 else None
    first = func._schema.arguments[0].alias_info if func._schema.arguments else None
    return info is not None and info.is_write and first is not None and set(first.before_set) == set(info.before_set)


def _return_aliases(func, flat_out) -> list[Any]:
    """Per flattened output, the alias set it shares with an input (or None)."""
    returns = func._schema.returns
    if len(returns) == 1 and len(flat_out) != 1:  # Tensor(a)[] -> a list of views
        info = returns[0].alias_info
        return [info] * len(flat_out)
    infos = [r.alias_info for r in returns]
    return infos + [None] * (len(flat_out) - len(infos))


def _aliased_input(func, args, kwargs, alias) -> torch.Tensor | None:
    """The input argument a returned view aliases (same alias set in the schema)."""
    wanted = set(alias.before_set)
    for i, arg in enumerate(func._schema.arguments):
        info = arg.alias_info
        # A Tensor(a)[] return (split, unbind, chunk) reports an empty alias set: its base is the aliased argument.
        if info is not None and (set(info.before_set) & wanted or (not wanted and not info.is_write)):
            value = args[i] if i < len(args) else kwargs.get(arg.name)
            if isinstance(value, torch.Tensor):
                return value
            if isinstance(value, (list, tuple)) and value and isinstance(value[0], torch.Tensor):
                return value[0]
    return None


def module_paths(model: torch.nn.Module) -> dict[int, str]:
    """Each module's first path (an aliased submodule has several)."""
    paths: dict[int, str] = {}
    for name, mod in model.named_modules(remove_duplicate=False):
        paths.setdefault(id(mod), name)
    return paths


def run_trace(model: torch.nn.Module, inputs, device: str = "meta", *, shape_rules: bool = True) -> Trace:
    """Trace one inference forward of `model` on `inputs` (a
    `netstat.inputs.Inputs`, or shapes as `Inputs.from_shapes` takes them).

    `model` must be one netstat may change (`ModelSource.instantiate`): it
    is put in eval mode and run under no_grad on `device`, in netstat's own
    modes (netstat.isolation). The hooks are process-global and removed in
    a `finally`. On meta, `shape_rules=False` runs every op's meta kernel
    (the rules' oracle) instead of netstat.shapes.
    """
    from netstat.inputs import Inputs
    from netstat.isolation import own_modes

    inputs = inputs if isinstance(inputs, Inputs) else Inputs.from_shapes(inputs)
    dev = torch.device(device)
    meta = dev.type == "meta"
    rec = recorder_class()(memoize=meta, rules=meta and shape_rules)
    hooks = HierarchyHooks(model, rec)
    handles = [
        torch.nn.modules.module.register_module_forward_pre_hook(hooks.pre),
        torch.nn.modules.module.register_module_forward_hook(hooks.post),
    ]
    try:
        with own_modes():
            model.eval()
            args, kwargs = inputs.materialise(dev)
            input_refs = [rec.register(x) for x in tree_flatten((args, kwargs))[0] if isinstance(x, torch.Tensor)]
            weights = {rec.ref(t).tid: name for name, t in model.named_parameters()}
            buffers = {rec.ref(t).tid for _, t in model.named_buffers()}
            weights.update({rec.ref(t).tid: name for name, t in model.named_buffers()})
            held = {rec.ref(t).storage: t.numel() * t.element_size() for t in itertools.chain(model.parameters(), model.buffers())}
            with torch.no_grad(), reference_kernels(), rec:
                out = model(*args, **kwargs)
    except Exception as err:
        where = rec.stack[-1] if rec.stack else None
        raise _RunFailure(err, where, _module_type(model, where), rec.failed_op) from err
    finally:
        for h in handles:
            h.remove()
    hooks.close_open()
    outputs = [rec.ref(t) for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
    return Trace(ops=rec.ops, modules=hooks.calls, inputs=input_refs, outputs=outputs, weights=weights, buffers=buffers, device=str(dev),
                 storage_bytes=held, resident=set(held))


@contextlib.contextmanager
def reference_kernels():
    """Run PyTorch's reference (unfused) kernels while tracing, as meta always
    does: nn.MultiheadAttention's fast path, fused scaled-dot-product attention
    (flash / efficient / cuDNN) and oneDNN's LSTM each run as one op that hides
    its intermediate tensors, which made activation and memory-access bytes on
    CPU differ from meta's (ViT-B/16: 104 MB vs 258 MB of activations).
    Counting, not timing: `netstat bench` still runs the fused kernels."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fast, onednn = torch.backends.mha.get_fastpath_enabled(), torch.backends.mkldnn.enabled
    torch.backends.mha.set_fastpath_enabled(False)
    torch.backends.mkldnn.enabled = False
    try:
        with sdpa_kernel([SDPBackend.MATH]):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
        torch.backends.mkldnn.enabled = onednn


class HierarchyHooks:
    """Global forward pre/post hooks keeping the stack of running modules of
    one model (paths and call counts) and the ModuleCall of each call."""

    def __init__(self, model: torch.nn.Module, rec: Recorder) -> None:
        self.rec = rec
        self.paths = module_paths(model)
        self.leaves = {id(m) for m in model.modules() if next(iter(m.children()), None) is None}
        self.calls: list[ModuleCall] = []
        self.open: list[ModuleCall] = []
        self.seen: dict[str, int] = {}

    def pre(self, module, inputs) -> None:
        path = self.paths.get(id(module))
        if path is None:
            return
        n = self.seen.get(path, 0)
        self.seen[path] = n + 1
        call = ModuleCall(
            path=path,
            type=type(module).__name__,
            depth=0 if path == "" else path.count(".") + 1,
            first_op=len(self.rec.ops),
            inputs=[self.rec.ref(t) for t in tree_flatten(inputs)[0] if isinstance(t, torch.Tensor)],
            call=n,
            is_leaf=id(module) in self.leaves,
        )
        self.calls.append(call)
        self.open.append(call)
        self.rec.stack.append(path)

    def post(self, module, inputs, output) -> None:
        if self.paths.get(id(module)) is None or not self.open:
            return
        call = self.open.pop()
        self.rec.stack.pop()
        call.end_op = len(self.rec.ops)
        call.outputs = [self.rec.ref(t) for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor)]

    def close_open(self) -> None:
        """Calls still open: a forward that returned through a non-module path."""
        for call in self.open:
            call.end_op = len(self.rec.ops)


def _module_type(model: torch.nn.Module, path: str | None) -> str | None:
    if path is None:
        return None
    try:
        return type(model.get_submodule(path)).__name__
    except AttributeError:
        return None


class _RunFailure(Exception):
    """A forward that raised, with the layer it was running."""

    def __init__(self, err: Exception, where: str | None, type_name: str | None, op: str | None) -> None:
        super().__init__(str(err))
        self.err = err
        self.where = where
        self.type_name = type_name
        self.op = op

    def describe(self, model_name: str, inputs) -> str:
        first = str(self.err).strip().splitlines()[0] if str(self.err).strip() else type(self.err).__name__
        if self.where is None:
            layer = "before reaching any layer"
        elif self.where == "":
            layer = "in its top-level forward"
        else:
            layer = f"at layer '{self.where}' ({self.type_name})"
        return f"{model_name} cannot run on input {inputs.describe()}: it fails {layer}: {first.rstrip('.')}."


def trace_model(source, device: str = "meta") -> tuple[Trace, torch.nn.Module]:
    """Trace a `netstat.spec.ModelSource` on `device`, falling back from meta
    to CPU (with a note) when the forward needs real values. Returns the trace
    and the model it ran (`source.instantiate`: netstat's own build, or a
    working copy of the user's instance, which is never run)."""
    from netstat.detection import counts_of

    inputs = source.inputs
    if not inputs:
        raise ArgumentError("'{model}' has no default input size.", hint="Give it with {input_size}, or as the factory's input_shape attribute.", model=source.name)
    device = check_device(device)
    model = source.instantiate(device)
    check_arity(model, inputs, source.name)
    try:
        trace = run_trace(model, inputs, device)
    except _RunFailure as meta_failure:
        if device != "meta":
            raise ModelRunError(meta_failure.describe(source.name, inputs)) from None
        if not source.owned and has_meta_tensors(source.module):  # no values to fall back to
            raise ModelRunError(meta_failure.describe(source.name, inputs)) from None
        # Real values now matter (detectors keep the proposals that score
        # highest): netstat's own weights come from a fixed seed (instantiate).
        model = source.instantiate("cpu")
        try:
            trace = run_trace(model, inputs, "cpu")
        except _RunFailure as cpu_failure:
            failure = meta_failure if is_out_of_memory(cpu_failure.err) else cpu_failure  # the meta error says why
            raise ModelRunError(failure.describe(source.name, inputs)) from None
        trace.notes.append(
            f"The forward pass cannot run on the meta device ({first_line(meta_failure.err).rstrip('.')}); it was traced on CPU "
            "with real tensors instead, on an all-zeros input, so a branch that depends on the values always takes the same way."
        )
    trace.detector = counts_of(model)
    return trace, model


def check_arity(model: torch.nn.Module, inputs, name: str) -> None:
    """A forward that needs inputs that were not given, or gets keywords it
    does not take: say so before running."""
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    keywords = inputs.keywords
    unknown = [k for k in keywords if k not in params and not any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values())]
    if unknown:
        raise ArgumentError("{model}'s forward takes no input named {names}.", hint="Its inputs are: {known}.", model=name,
                            names=", ".join(unknown), known=", ".join(params) or "none")
    required = [p.name for p in params.values() if p.kind in kinds and p.default is inspect.Parameter.empty]
    missing = [n for n in required[len(inputs.args):] if n not in keywords]
    if missing:
        given = f"{len(inputs.args)} positional {'was' if len(inputs.args) == 1 else 'were'} given"
        raise ArgumentError(
            "{model}'s forward takes {n} inputs ({names}), but {given}.",
            hint="Give them with {input_size}.",
            model=name, n=len(required), names=", ".join(required), given=given + (f" and {', '.join(keywords)} by name" if keywords else ""),
        )


def check_device(device: str, meta: bool = True) -> str:
    """'meta' (when allowed), 'cpu', 'cuda' or 'cuda:N', normalised, or a
    UsageError saying why not: the one device check of every command."""
    text = str(device).strip().lower()
    if text == "cpu" or (meta and text == "meta"):
        return text
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ArgumentError("CUDA was asked for, but this machine has no CUDA device.", hint="Use {cpu_device}.")
        try:
            dev = torch.device(text)
        except RuntimeError:
            raise UsageError(f"Malformed device '{device}': expected cpu, cuda or cuda:N.") from None
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(f"There is no {text}: this machine has {torch.cuda.device_count()} CUDA device(s).")
        return text
    raise UsageError(f"Unknown device '{device}'.", hint=f"Use {'meta, ' if meta else ''}cpu or cuda (cuda:N).")
