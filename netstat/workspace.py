"""Kernel workspaces: bytes a kernel allocates and frees inside one op,
beyond its inputs and outputs (issue 25). A meta kernel allocates only its
outputs, so the liveness walk (netstat.memory) adds these as a transient at
the op: live at the op's high point, gone after it.

One rule per op, a pure function of the op's recorded shapes, strides and
arguments (`RULES`); an op without a rule takes none.

`aten.convolution_backward` on CPU (oneDNN, PyTorch's "Mkldnn" convolution
backend). Measured with torch.profiler on this project's CPU
(`tests/test_workspace.py` runs real kernels against the rule): for an input
in PyTorch's default (NCHW, contiguous) layout oneDNN computes in its
channel-blocked layout (nChw16c on AVX-512, nChw8c otherwise), so

- the input gradient needs a blocked copy of the incoming gradient, of the
  weight and of the result, which is then copied out to the plain output:
  beyond the outputs, about one blocked incoming gradient;
- the weight gradient needs a blocked copy of the input and of the incoming
  gradient, held together (while the input gradient already exists);

so the rule is blocked(grad_output) + blocked(input) when the weight
gradient is asked for, else blocked(grad_output) + blocked(weight) (the
input gradient's copies, less its output); "blocked" pads the
channels to a multiple of the block (16 on AVX-512, else 8) when there are
at least 8 of them (a stem's 3 channels stay plain). Some kernels need less
(oneDNN's depthwise weight gradient for kernels above 3 x 3 uses a small
scratch instead of the two copies): the rule is then an upper bound, by at
most one blocked input (`tests/test_workspace.py` states each measured
case). Dilated kernels go to oneDNN's GEMM-based kernel instead, whose
scratch is per thread: one image's im2col buffer and four weight-sized
accumulators, times the threads (`torch.get_num_threads()` where netstat
runs: the real step's threads are assumed to be the same; measured exact at
1, 4 and 8 threads, an upper bound at 2, where oneDNN used one buffer). Channels-last (NHWC) inputs, which oneDNN takes as
they are, need a small scratch only (measured: up to two copies of the
weight): none is counted. Transposed
convolutions and kernels other than oneDNN's (a batch of one with a 3 x 3 or
smaller kernel and no groups under 20480 input elements goes to PyTorch's
own kernel, whose im2col buffer is not modelled) take none.

Recurrent layers (`RNN_NOTE`, bounded from above). On CPU PyTorch runs an
`nn.LSTM` through oneDNN (ATen's `use_mkldnn` in RNN.cpp: a CPU float32
input, or bfloat16 where oneDNN supports it, with oneDNN enabled, a
non-empty input and no projection; `nn.GRU` and `nn.RNN` run ATen's own
cells, which the trace counts, so they take none). With grad enabled each
layer and direction is one `aten.mkldnn_rnn_layer` call returning a
workspace that autograd keeps until that layer's backward (under no_grad it
returns none: the inference profile is unaffected). Its size is oneDNN's
`set_workspace_sizes` / `set_offsets` (src/cpu/rnn/rnn_utils) for one layer
and direction, seven parts each rounded up to a 4096-byte page: the gates
T*N*ld(G*H), the projected h T*N*ld(H), the states and the diff states of
the layer and of the iteration 2*(T+1)*N*ld(max(I, H)) each (three parts),
and the c states and their diffs 2*(T+1)*N*H each, in float32, where
ld(d) rounds d up to 16 floats and adds 16 more when the result is a
multiple of 256 (`good_ld`). Exact against the real kernel for 30 random
(T, N, I, H) (`tests/test_workspace.py` checks a few). bfloat16 is counted
at 4 bytes an element (meant as an upper bound; not measured here). A
packed-sequence input is not counted.

netstat traces the reference cell, whose saved tensors stay in the walk; the
workspace is added on top (`recurrent_spans`), held from the LSTM call's
first forward op to the last backward op of that module (or the end of the
backward), and the kernel's own scratch (`lstm_layer_scratch`, an allowance
fitted from above on 50 random shapes) is a transient at the call's first
forward op and at that last backward op (`recurrent_scratch`). That is an
upper bound: the real step holds the workspace instead of the reference
cell's saved gates, and for a shorter time (sequencer2d_s: +11 %).
"""

from __future__ import annotations

from typing import Callable

from netstat.trace import ModuleCall, OpRecord, TensorRef, Trace

RNN_NOTE = (
    "This model runs a recurrent layer: on CPU PyTorch's oneDNN LSTM kernel keeps a workspace for backward (its gates "
    "and states of every time step), which netstat adds from the layer's forward to its backward on top of the reference "
    "cell it traces, so the training peak is an upper bound that may over-estimate (timm's sequencer2d_s at batch 4 "
    "SGD: 11 % above the real CPU step); GRU and RNN layers run PyTorch's own cells, counted as traced."
)
RNN_MODULES = ("LSTM", "GRU", "RNN")
_FLOATS = ("torch.float32", "torch.bfloat16", "torch.float16")


def channel_block() -> int:
    """oneDNN's channel block on this CPU: 16 floats with AVX-512, else 8."""
    import torch

    return 16 if "AVX512" in torch.backends.cpu.get_cpu_capability() else 8


def blocked_bytes(ref: TensorRef, block: int) -> int:
    """Bytes of `ref` in oneDNN's channel-blocked layout: dim 1 padded to a
    multiple of `block` when it has at least 8 channels."""
    if len(ref.shape) < 2:
        return ref.numel * ref.dtype.itemsize
    channels = ref.shape[1]
    padded = -(-channels // block) * block if channels >= 8 else channels
    return ref.numel // max(channels, 1) * padded * ref.dtype.itemsize


def _plain(ref: TensorRef) -> bool:
    """Is `ref` in the default contiguous (row-major, NCHW) layout?"""
    expected, step = [], 1
    for size in reversed(ref.shape):
        expected.append(step)
        step *= size
    return not ref.stride or all(s == e for s, e, n in zip(ref.stride, reversed(expected), ref.shape) if n > 1)


def uses_onednn(inp: TensorRef, weight: TensorRef, groups: int) -> bool:
    """PyTorch's choice of oneDNN for a CPU convolution (ATen's `use_mkldnn`
    for a floating-point input): groups, a kernel above 3 x 3, a batch above
    one or more than 20480 input elements."""
    import torch

    if not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled) or str(inp.dtype) not in _FLOATS:
        return False
    kernel = weight.shape[2:]
    return groups > 1 or all(k > 3 for k in kernel) or inp.shape[0] > 1 or inp.numel > 20480


def conv_backward(op: OpRecord, block: int, threads: int) -> int:
    """The oneDNN workspace of one `aten.convolution_backward` (module docstring)."""
    grad_out, inp, weight = op.args[0], op.args[1], op.args[2]
    transposed, dilation, groups, mask = op.args[7], op.args[6], op.args[9], op.args[10]
    if transposed or not all(isinstance(r, TensorRef) for r in (grad_out, inp, weight)):
        return 0
    if not (_plain(inp) and uses_onednn(inp, weight, groups)):
        return 0
    if not (mask[0] or mask[1]):
        return 0
    if any(d > 1 for d in dilation):
        return threads * gemm_scratch(grad_out, weight, groups)
    return blocked_bytes(grad_out, block) + blocked_bytes(inp if mask[1] else weight, block)


def gemm_scratch(grad_out: TensorRef, weight: TensorRef, groups: int) -> int:
    """Per thread, the scratch of oneDNN's GEMM-based convolution backward
    (dilated kernels): one image's im2col buffer (input channels per group x
    kernel elements x output positions) and four weight-sized accumulators."""
    positions = 1
    for size in grad_out.shape[2:]:
        positions *= size
    kernel = weight.numel // max(weight.shape[0], 1)  # input channels per group x kernel elements
    return (kernel * positions + 4 * weight.numel) * weight.dtype.itemsize


RULES: dict[str, Callable[[OpRecord, int, int], int]] = {  # (op, channel block, threads) -> bytes
    "aten.convolution_backward.default": conv_backward,
}


def workspaces(trace: Trace) -> dict[int, int]:
    """Op index -> workspace bytes, for the ops of `trace` that have a rule
    and need one (a real CPU step's kernels; the trace itself ran on meta)."""
    import torch

    block, threads = channel_block(), torch.get_num_threads()
    out = {}
    for op in trace.ops:
        rule = RULES.get(op.name)
        need = rule(op, block, threads) if rule is not None else 0
        if need > 0:
            out[op.index] = need
    return out


def rnn_note(calls: list[ModuleCall]) -> str | None:
    """RNN_NOTE when one of the module calls is an LSTM, GRU or RNN layer's."""
    return RNN_NOTE if any(call.type in RNN_MODULES for call in calls) else None


PAGE = 4096  # bytes: oneDNN aligns each part of an RNN workspace to a page


def good_ld(dim: int, itemsize: int = 4) -> int:
    """oneDNN's leading dimension for a GEMM operand (rnn_utils `get_good_ld`):
    `dim` rounded up to 64 bytes, plus 64 bytes when a multiple of 256 elements."""
    step = 64 // itemsize
    ld = -(-dim // step) * step
    return ld + step if ld % 256 == 0 else ld


def lstm_layer_workspace(steps: int, batch: int, input_size: int, hidden: int, gates: int = 4) -> int:
    """Bytes of the workspace oneDNN's training LSTM keeps for one layer and
    one direction (module docstring; float32)."""
    wide, states = good_ld(max(input_size, hidden)), 2 * (steps + 1) * batch
    parts = (steps * batch * good_ld(gates * hidden), steps * batch * good_ld(hidden),
             states * wide, states * hidden, states * wide, states * wide, states * hidden)
    return sum(_pages(4 * n) for n in parts)


def _pages(nbytes: int) -> int:
    """`nbytes` rounded up to whole 4096-byte pages."""
    return -(-nbytes // PAGE) * PAGE


def lstm_layer_scratch(steps: int, batch: int, input_size: int, hidden: int, gates: int = 4) -> tuple[int, int]:
    """An allowance, (forward, backward) bytes, for what oneDNN's LSTM kernel
    allocates and frees inside one layer's forward and backward op: its
    weights in oneDNN's padded layout (once in forward; three times in
    backward: the copy, the diff weights and their reorder), the scratch
    gates (twice in backward), an input copy (forward) or the diff states
    and a contiguous incoming gradient (backward), and a few pages. Fitted
    from above to the real kernel: `tests/test_workspace.py` states how far."""
    weights = (input_size + hidden) * good_ld(gates * hidden) * 4 + 2 * gates * hidden * 4
    scratch = _pages(steps * batch * good_ld(gates * hidden) * 4)
    forward = weights + scratch + steps * batch * input_size * 4 + 12 * PAGE
    states = steps * batch * (2 * good_ld(max(input_size, hidden)) + good_ld(hidden)) * 4
    backward = 3 * weights + 2 * scratch + states + 16 * PAGE
    return forward, backward


def lstm_workspace(steps: int, batch: int, input_size: int, hidden: int, layers: int = 1, directions: int = 1) -> int:
    """All of an `nn.LSTM` call's oneDNN workspaces: one per layer and
    direction, layers after the first taking `directions * hidden` inputs."""
    per_direction = lstm_layer_workspace(steps, batch, input_size, hidden)
    per_direction += (layers - 1) * lstm_layer_workspace(steps, batch, directions * hidden, hidden)
    return directions * per_direction


def lstm_dims(call: ModuleCall) -> tuple[int, int, int, int, int, int] | None:
    """(steps, batch, input size, hidden, layers, directions) of a traced
    `nn.LSTM` call that PyTorch runs on oneDNN on CPU, from its input and
    outputs (output, h_n, c_n); None for any other call."""
    import torch

    if call.type != "LSTM" or len(call.outputs) != 3 or not call.inputs:
        return None
    inp, (out, h_n, c_n) = call.inputs[0], call.outputs
    bf16 = str(inp.dtype) == "torch.bfloat16" and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    if not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled and (str(inp.dtype) == "torch.float32" or bf16)):
        return None
    if inp.numel == 0 or h_n.shape[-1] != c_n.shape[-1] or len(c_n.shape) not in (2, 3):  # a projection: ATen's own cell
        return None
    hidden, stacks = c_n.shape[-1], c_n.shape[0]
    batch = c_n.shape[1] if len(c_n.shape) == 3 else 1
    directions = max(out.shape[-1] // hidden, 1)
    steps = out.numel // max(batch * out.shape[-1], 1)
    return steps, batch, inp.shape[-1], hidden, stacks // directions, directions


def _last_backward_op(trace: Trace, path: str) -> int:
    """The last backward op run for the module at `path` (the backward's last op where none)."""
    start, end = trace.phase_ends.get("forward", 0), trace.phase_ends.get("backward", len(trace.ops))
    mine = [op.index for op in trace.ops[start:end] if op.module == path]
    return max(mine) if mine else end - 1


def recurrent_spans(trace: Trace) -> list[tuple[int, int, int]]:
    """(first op, last op, bytes) of each LSTM call's oneDNN workspace in a
    training step: from the call's first forward op to the last backward op
    run for that module."""
    spans = []
    for call in trace.modules:
        dims = lstm_dims(call)
        if dims is not None:
            spans.append((call.first_op, _last_backward_op(trace, call.path), lstm_workspace(*dims)))
    return spans


def recurrent_scratch(trace: Trace) -> dict[int, int]:
    """Op index -> bytes: each LSTM call's in-kernel allowance
    (`lstm_layer_scratch`, its largest layer) at the call's first forward op
    and at its last backward op."""
    out: dict[int, int] = {}
    for call in trace.modules:
        dims = lstm_dims(call)
        if dims is None:
            continue
        steps, batch, inp, hidden, layers, directions = dims
        sizes = [lstm_layer_scratch(steps, batch, inp, hidden)]
        if layers > 1:
            sizes.append(lstm_layer_scratch(steps, batch, directions * hidden, hidden))
        for op, need in ((call.first_op, max(f for f, _ in sizes)), (_last_backward_op(trace, call.path), max(b for _, b in sizes))):
            out[op] = out.get(op, 0) + need
    return out
