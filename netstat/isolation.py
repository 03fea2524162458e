"""The caller's world is not netstat's: `own_modes()` around every build,
trace, training step, cross-check and real forward.

Inside it, whatever the caller had set is set aside, and restored on the way
out, also when the model raises:

- inference mode off (inside `torch.inference_mode()` composite ops such as
  `aten.conv2d` reach the recorder undecomposed, and tensors made there
  cannot be saved for backward), grad mode on (the inference trace sets
  no_grad itself; a training step needs grad);
- autocast off on every device type (a trace counts the model's own
  precision; `--amp` is netstat's own autocast, entered inside);
- the default dtype float32 (a zoo model is built in it);
- the global RNG forked: netstat's own models are initialised from seed
  `seed` (the same weights every time, which a CPU fallback through a
  detector's top-k needs), and the caller's generator state is unchanged.

Threads, flags and backends netstat changes for a measurement are restored
by the code that changes them (netstat.bench.environment, netstat.trace.
reference_kernels).
"""

from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def own_modes(seed: int | None = None) -> Iterator[None]:
    """netstat's modes for the block (see the module docstring); `seed`
    None leaves the (forked) generator where the caller's was."""
    import torch

    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    dtype = torch.get_default_dtype()
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.random.fork_rng(devices=devices))
        stack.enter_context(torch.inference_mode(False))
        stack.enter_context(torch.enable_grad())
        for device_type in _autocast_types():
            stack.enter_context(torch.autocast(device_type, enabled=False))
        torch.set_default_dtype(torch.float32)
        stack.callback(torch.set_default_dtype, dtype)
        if seed is not None:  # the CPU generator only: torch.manual_seed would also queue a seed for CUDA's
            torch.default_generator.manual_seed(seed)
        yield


def _autocast_types() -> list[str]:
    import torch

    types = ["cpu"]
    if torch.cuda.is_available():
        types.append("cuda")
    return types
