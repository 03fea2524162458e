"""One traced training step on meta: forward, loss, backward, optimizer step.

The one recorder of the inference trace (`netstat.trace.Recorder`, with
`by_storage`: a saved output is a shallow copy that shares its allocation)
sees every aten op of the whole step, and the result is the one `Trace` type
with its phases; two things are added for training:

- `torch.autograd.graph.saved_tensors_hooks`: every tensor autograd saves for
  backward, the op and layer that saved it, and when the backward unpacks it.
- Layers in backward: at each module's forward post-hook, the autograd nodes
  its call created (reachable from its outputs, newer than its inputs) are
  claimed for it, and a pre-hook on each node names that layer while the
  node's backward ops run.

The optimizer is the real `torch.optim` one, per parameter (`foreach=False`,
PyTorch's default on CPU; see `netstat.training.OPTIMIZERS`), so its state
tensors and update ops are recorded as they happen.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch.utils._pytree import tree_flatten

from netstat.trace import PHASES, HierarchyHooks, Recorder, SavedTensor, Trace, recorder_class, reference_kernels
from netstat.workspace import rnn_note

StepTrace = Trace  # a training step's trace: the one Trace type, with its phases


class _SavedHooks:
    """Pack / unpack hooks: note each saved tensor, give it back unchanged."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.saved: dict[int, SavedTensor] = {}

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        ref = self.rec.ref(t)
        if ref.storage not in self.saved:
            module = self.rec.stack[-1] if self.rec.stack else ""
            self.saved[ref.storage] = SavedTensor(ref.storage, self.rec.sizes.get(ref.storage, ref.nbytes), module, len(self.rec.ops) - 1)
        return t

    def unpack(self, t: torch.Tensor) -> torch.Tensor:
        entry = self.saved.get(self.rec.ref(t).storage)
        if entry is not None:
            entry.unpacked = len(self.rec.ops)  # the next op recorded is the node's first
        return t


class _LayerHooks(HierarchyHooks):
    """The inference trace's module stack, and the autograd nodes each module
    call created, so that the backward ops run by those nodes are recorded
    under that module's path."""

    def __init__(self, model: torch.nn.Module, rec: Recorder) -> None:
        super().__init__(model, rec)
        self.claimed: dict[Any, str] = {}
        self.floors: list[int] = []
        self.newest = -1  # the highest sequence number of a node seen so far

    def pre(self, module, inputs) -> None:
        if self.paths.get(id(module)) is not None:
            self.floors.append(max([self.newest] + [_sequence(t.grad_fn) for t in _tensors(inputs) if t.grad_fn is not None]))
        super().pre(module, inputs)

    def post(self, module, inputs, output) -> None:
        path = self.paths.get(id(module))
        if path is not None and self.open:
            self._claim(_tensors(output), path, self.floors.pop())
        super().post(module, inputs, output)

    def _claim(self, outputs: list[torch.Tensor], path: str, floor: int) -> None:
        """Every unclaimed node reachable from `outputs` and created after the
        call began (sequence number above `floor`; AccumulateGrad's is the
        maximum) belongs to this call: inner modules claimed theirs first."""
        todo = [t.grad_fn for t in outputs if t.grad_fn is not None]
        while todo:
            node = todo.pop()
            if node is None or node in self.claimed or _sequence(node) <= floor:
                continue
            self.claimed[node] = path
            node.register_prehook(functools.partial(self._enter, path))
            if _sequence(node) < _ACCUMULATE:
                self.newest = max(self.newest, _sequence(node))
            todo.extend(next_node for next_node, _ in node.next_functions if next_node is not None)

    def _enter(self, path: str, grad_outputs) -> None:
        self.rec.stack[:] = [path]


_ACCUMULATE = 2**64 - 1  # AccumulateGrad's sequence number


def _sequence(node) -> int:
    return node._sequence_nr()


def _tensors(tree: Any) -> list[torch.Tensor]:
    return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]


def sum_of_outputs(output: Any) -> torch.Tensor:
    """The default loss: the model's own `loss` output when it gives one (a
    Hugging Face model given labels), else the sum of every floating-point
    output element."""
    own = output.get("loss") if isinstance(output, dict) else None
    if isinstance(own, torch.Tensor) and own.requires_grad:
        return own
    parts = [t.sum() for t in _tensors(output) if t.is_floating_point() and t.requires_grad]
    if not parts:
        raise ValueError("the model returns no floating-point output that depends on its parameters")
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


@dataclass
class StepSetup:
    """What one step runs: the model (netstat may change it), inputs, optimizer, loss."""

    model: torch.nn.Module
    inputs: Any  # netstat.inputs.Inputs, batch already applied
    make_optimizer: Callable[[list], Any] | None  # trainable parameters -> a torch.optim optimizer; None: stop after backward
    loss: Callable[[Any], torch.Tensor]
    dtype: torch.dtype | None = None  # parameters and float inputs in this dtype (None: as built)
    amp: torch.dtype | None = None  # run the forward and loss under torch.autocast to this dtype
    memoize: bool = True  # reuse meta shape inference for repeated identical ops


class StepFailure(Exception):
    """A step that raised, with the phase and the layer it was running."""

    def __init__(self, err: Exception, phase: str, where: str | None) -> None:
        super().__init__(str(err))
        self.err, self.phase, self.where = err, phase, where


def run_step(setup: StepSetup) -> StepTrace:
    """Trace forward, loss, backward and one optimizer step of `setup.model`
    (put in training mode) on zero inputs, on meta. With `amp`, on fake CPU
    tensors (netstat.training.precision): autocast needs a device's dispatch
    keys, which meta tensors lack. Hooks are removed in a `finally`."""
    from netstat.training.precision import fake_inputs, fake_mode

    model = setup.model.train()
    if setup.dtype is not None:
        model.to(setup.dtype)
    mode, model = fake_mode(model, setup.amp)
    rec = recorder_class()(memoize=setup.memoize and mode is None, by_storage=True)
    hooks = _LayerHooks(model, rec)
    saved = _SavedHooks(rec)
    handles = [
        torch.nn.modules.module.register_module_forward_pre_hook(hooks.pre),
        torch.nn.modules.module.register_module_forward_hook(hooks.post),
    ]
    inputs = setup.inputs.cast(str(setup.dtype).removeprefix("torch.")) if setup.dtype is not None else setup.inputs
    try:
        args, kwargs = fake_inputs(inputs.materialise("meta"), mode)
    except (RuntimeError, ValueError, OverflowError) as err:  # a size no tensor can have
        raise StepFailure(err, "forward", None) from err
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = setup.make_optimizer(trainable) if setup.make_optimizer is not None else None
    input_refs = [rec.register(x) for x in _tensors((args, kwargs))]
    fixed = {rec.ref(t).storage for t in [*model.parameters(), *model.buffers()]}
    weights = {rec.ref(t).tid: name for name, t in [*model.named_parameters(), *model.named_buffers()]}
    ends: dict[str, int] = {}
    autocast = torch.autocast("cpu", dtype=setup.amp) if setup.amp is not None else contextlib.nullcontext()
    try:
        with mode or contextlib.nullcontext(), reference_kernels(), rec:
            with torch.autograd.graph.saved_tensors_hooks(saved.pack, saved.unpack), autocast:
                loss = setup.loss(model(*args, **kwargs))
            ends["forward"] = len(rec.ops)
            for h in handles:
                h.remove()
            hooks.close_open()
            rec.stack[:] = [""]
            loss.backward()
            ends["backward"] = len(rec.ops)
            if optimizer is not None:
                optimizer.step()
            ends["optimizer"] = len(rec.ops)
    except Exception as err:
        phase = next((p for p in PHASES if p not in ends), PHASES[-1])
        raise StepFailure(err, phase, rec.stack[-1] if rec.stack else None) from err
    finally:
        for h in handles:
            h.remove()
    return _step_trace(rec, hooks, saved, model, optimizer, ends, input_refs, fixed, weights, loss)


def _step_trace(rec, hooks, saved, model, optimizer, ends, input_refs, fixed, weights, loss) -> StepTrace:
    names = {id(p): name for name, p in model.named_parameters()}
    grads = {names[id(p)]: rec.ref(p.grad).storage for p in model.parameters() if p.grad is not None}
    states: dict[str, list[int]] = {}
    if optimizer is not None:
        for p, state in optimizer.state.items():
            # Adam's step count is a 0-d CPU tensor (capturable=False): not on the parameters' device.
            states[names[id(p)]] = [rec.ref(v).storage for v in state.values() if isinstance(v, torch.Tensor) and v.dim() > 0]
    state_storages = {s for kept in states.values() for s in kept}
    return Trace(
        ops=rec.ops,
        modules=hooks.calls,
        inputs=input_refs,
        outputs=[rec.ref(loss)],
        weights=weights,
        device="meta",
        phase_ends=ends,
        storage_bytes=dict(rec.sizes),
        resident=fixed | {r.storage for r in input_refs} | state_storages,
        to_end=set(grads.values()) | {rec.ref(loss).storage},
        saved={s: entry for s, entry in saved.saved.items() if s not in fixed},
        grad_storages=grads,
        state_storages=states,
        notes=[note] if (note := rnn_note(hooks.calls)) else [],
    )
