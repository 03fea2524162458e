"""The working copy: what netstat runs instead of a user's module.

A deep copy whose parameters and buffers are fresh tensors on the device
(empty on meta, copies of the values elsewhere), so that whatever a forward
does happens to the copy. PyTorch's own module hooks (weight_norm,
spectral_norm, pruning masks, quantization observers) are part of the
module's behaviour and are copied; the user's hooks are neither copied nor
run, since a hook can reach the user's own objects (docs/ARCHITECTURE.md,
"The caller's world").
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import torch

from netstat.errors import UsageError, first_line


def working_copy(model: torch.nn.Module, device: str | torch.device) -> torch.nn.Module:
    """A copy of `model` to run instead of it: every parameter and buffer is a
    fresh tensor on `device` (an empty one on meta, a copy of the values
    elsewhere), everything else is deep-copied. Whatever the forward does --
    update a buffer, cache anchors, move a tensor, flip a flag -- happens to
    the copy; the user's model is only read. The copy has PyTorch's own
    module hooks (weight_norm, pruning, observers) but none of the user's
    (HOOKS_NOTE says why), and nothing the user's hooks hold is copied. Aliased submodules and tied
    weights stay aliased and tied (deepcopy's memo maps each tensor once)."""
    dev = torch.device(device)
    memo: dict[int, Any] = {}
    for m in model.modules():
        _keep_torch_hooks(m, memo)
    loose = (v for m in model.modules() for v in vars(m).values() if isinstance(v, torch.Tensor))  # e.g. weight_norm's computed weight
    for t in itertools.chain(model.parameters(), model.buffers(), loose):
        if id(t) not in memo:
            memo[id(t)] = _fresh(t, dev)
    try:
        return copy.deepcopy(model, memo)
    except Exception as err:  # noqa: BLE001 - a module holding a lock, a file, a C handle
        raise UsageError(
            f"{type(model).__name__} cannot be copied ({first_line(err)}), and netstat runs only a copy of a model it is given.",
            hint="Give a spec that builds the model instead (file.py:factory).",
        ) from None


_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")  # handle id -> the hook
_HOOK_FLAGS = ("_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called")  # handle id -> True


def _from_torch(hook: Any) -> bool:
    """A hook PyTorch itself registers as part of a module's behaviour
    (weight_norm, spectral_norm, pruning masks, quantization observers,
    parametrizations): defined in torch, it reaches only the module it
    runs on, which in a working copy is the copy."""
    target = getattr(hook, "func", hook)  # functools.partial
    owner = getattr(target, "__module__", None) or type(target).__module__
    return owner == "torch" or owner.startswith("torch.")


def _keep_torch_hooks(module: torch.nn.Module, memo: dict[int, Any]) -> None:
    """Map each of `module`'s hook dicts, in deepcopy's `memo`, to a copy
    holding only PyTorch's own hooks: the user's hooks are not copied (what
    they hold is never touched) and do not run (HOOKS_NOTE)."""
    kept: set[int] = set()
    for name in _HOOKS:
        hooks = vars(module).get(name)
        if hooks is not None:
            torch_hooks = {k: h for k, h in hooks.items() if _from_torch(h)}
            kept.update(torch_hooks)
            memo[id(hooks)] = type(hooks)((k, copy.deepcopy(h, memo)) for k, h in torch_hooks.items())
    for name in _HOOK_FLAGS:
        flags = vars(module).get(name)
        if flags is not None:
            memo[id(flags)] = type(flags)((k, v) for k, v in flags.items() if k in kept)


def user_hooks(model: torch.nn.Module) -> int:
    """How many forward / backward hooks of the user's (not PyTorch's own) the model's modules carry."""
    return sum(not _from_torch(h) for m in model.modules() for name in _HOOKS for h in (vars(m).get(name) or {}).values())


HOOKS_NOTE = (
    "{n} forward / backward hook{s} of yours registered on the model's modules did not run: netstat runs a working "
    "copy without them, since a hook can reach your own objects (a dict of features, a logger) and the promise is that "
    "a profile changes nothing of yours; PyTorch's own hooks (weight_norm, pruning, quantization observers) run. "
    "A hook that changes a module's output would change these counts."
)


def _fresh(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A tensor like `t` on `device`; a Parameter stays a Parameter with its requires_grad."""
    fresh = torch.empty_like(t, device="meta") if device.type == "meta" else t.detach().to(device, copy=True)
    return torch.nn.Parameter(fresh, requires_grad=t.requires_grad) if isinstance(t, torch.nn.Parameter) else fresh


def has_meta_tensors(model: torch.nn.Module) -> bool:
    return any(t.is_meta for t in itertools.chain(model.parameters(), model.buffers()))
