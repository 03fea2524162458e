"""Kernel workspaces (netstat.workspace, issue 25): the rule for oneDNN's
convolution backward against a real CPU `aten.convolution_backward`, whose
peak is measured with the tool netstat's real-step check uses
(torch.profiler's allocation events, netstat.training.measure), and the
workspace's place in the liveness walk."""

from __future__ import annotations

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from netstat.trace import ModuleCall, OpRecord, TensorRef
from netstat.workspace import RNN_NOTE, blocked_bytes, channel_block, conv_backward, rnn_note, uses_onednn

aten = torch.ops.aten


def ref(t: torch.Tensor, tid: int) -> TensorRef:
    return TensorRef(tid, tid, tuple(t.shape), t.dtype, tuple(t.stride()))


def measured_workspace(grad, x, w, groups, stride, padding, dilation, mask) -> int:
    """Peak bytes allocated inside one real convolution_backward beyond the
    outputs it returns: the highest running sum of the profiler's allocation
    events (frees negative), less the outputs' bytes."""
    args = (grad, x, w, [w.shape[0]], stride, padding, dilation, False, [0, 0], groups, mask)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = aten.convolution_backward(*args)
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"), key=lambda e: e.start_ns())
    running = peak = 0
    for e in events:
        running += e.nbytes()
        peak = max(peak, running)
    return peak - sum(t.untyped_storage().nbytes() for t in out if t is not None)


def case(batch, channels, size, kernel, groups, stride=1, dilation=1, mask=(True, True, False), channels_last=False):
    """(measured workspace, the rule's) for one real convolution's backward."""
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(batch, channels, size, size).contiguous(memory_format=fmt)
    w = torch.randn(channels, channels // groups, kernel, kernel).contiguous(memory_format=fmt)
    padding = [kernel // 2 * dilation] * 2
    y = torch.nn.functional.conv2d(x, w, None, stride, padding, dilation, groups)
    grad = torch.randn_like(y)
    geometry = ([stride] * 2, padding, [dilation] * 2)
    measured = measured_workspace(grad, x, w, groups, *geometry, list(mask))
    op = OpRecord(0, aten.convolution_backward.default, (ref(grad, 1), ref(x, 2), ref(w, 3), [channels], *geometry, False, [0, 0], groups, list(mask)),
                  {}, [], [], "", [])
    return measured, conv_backward(op, channel_block(), torch.get_num_threads()), grad.nbytes, x.nbytes


# oneDNN reorders: blocked copies of the incoming gradient and the input (and the weight)
EXACT = {
    "dense 3x3": dict(batch=8, channels=64, size=28, kernel=3, groups=1),
    "pointwise 1x1": dict(batch=8, channels=64, size=28, kernel=1, groups=1),
    "depthwise 3x3": dict(batch=8, channels=64, size=28, kernel=3, groups=64),
    "grouped 3x3": dict(batch=8, channels=64, size=28, kernel=3, groups=4),
    "depthwise 3x3 stride 2": dict(batch=8, channels=128, size=14, kernel=3, groups=128, stride=2),
    "20 channels, padded to the block": dict(batch=8, channels=20, size=28, kernel=3, groups=1),
    "weight gradient only (a first layer)": dict(batch=8, channels=64, size=28, kernel=3, groups=1, mask=(False, True, False)),
}
# oneDNN takes a per-thread scratch instead of the reorders: the rule is an upper bound
BOUND = {
    "depthwise 7x7": dict(batch=8, channels=64, size=28, kernel=7, groups=64),
}


@pytest.mark.parametrize("name", list(EXACT))
def test_onednn_convolution_backward_workspace_matches_the_rule(name):
    measured, rule, grad_bytes, _ = case(**EXACT[name])
    assert measured > 0.9 * grad_bytes  # a real workspace, at least one blocked gradient
    # within 2%: the rule leaves out the small scratch of a 1x1 weight gradient (40 KiB at 8 x 64 x 56 x 56)
    assert abs(rule - measured) <= 0.02 * measured, (measured, rule)


@pytest.mark.parametrize("name", list(BOUND))
def test_onednn_convolution_backward_workspace_is_bounded_by_the_rule(name):
    measured, rule, _, _ = case(**BOUND[name])
    assert measured <= rule <= measured + blocked_bytes(TensorRef(0, 0, (8, 64, 28, 28), torch.float32), channel_block()) + 64 * 1024, (measured, rule)


@pytest.mark.parametrize("threads", [1, 4])
def test_dilated_convolution_backward_scratch_is_per_thread(threads):
    # oneDNN's GEMM-based kernel: per thread one image's im2col (64 x 3 x 3 x 28 x 28 floats)
    # and four weight-sized accumulators (64 x 64 x 3 x 3 floats)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        measured, rule, _, _ = case(8, 64, 28, 3, 1, dilation=2)
    finally:
        torch.set_num_threads(before)
    assert rule == threads * 4 * (64 * 9 * 28 * 28 + 4 * 64 * 64 * 9)
    assert abs(rule - measured) <= 0.02 * measured, (measured, rule)


def test_channels_last_convolution_backward_needs_little_and_counts_none():
    measured, rule, grad_bytes, _ = case(8, 64, 28, 3, 1, channels_last=True)
    weight_bytes = 64 * 64 * 3 * 3 * 4
    assert rule == 0
    assert measured <= 2 * weight_bytes + 0.05 * grad_bytes  # two copies of the weight, against 1.5 MiB of gradient


def test_blocked_bytes_pads_channels_to_the_block_and_leaves_a_stem_plain():
    t = TensorRef(0, 0, (2, 20, 5, 5), torch.float32)
    assert blocked_bytes(t, 8) == 2 * 24 * 5 * 5 * 4
    assert blocked_bytes(t, 16) == 2 * 32 * 5 * 5 * 4
    assert blocked_bytes(TensorRef(0, 0, (2, 3, 5, 5), torch.float32), 16) == 2 * 3 * 5 * 5 * 4


def test_onednn_choice_follows_aten():
    big = TensorRef(0, 0, (1, 64, 56, 56), torch.float32)
    small = TensorRef(0, 0, (1, 8, 16, 16), torch.float32)
    w3 = TensorRef(1, 1, (8, 8, 3, 3), torch.float32)
    w5 = TensorRef(1, 1, (8, 8, 5, 5), torch.float32)
    assert uses_onednn(big, w3, 1)  # more than 20480 input elements
    assert not uses_onednn(small, w3, 1)  # batch 1, 3x3, no groups, 2048 elements: PyTorch's own kernel
    assert uses_onednn(small, w5, 1) and uses_onednn(small, w3, 2)
    assert not uses_onednn(TensorRef(0, 0, (4, 8, 16, 16), torch.int64), w3, 1)


def test_training_peak_includes_the_convolution_workspace():
    from netstat.spec import resolve
    from netstat.training import training_profile
    from netstat.training.memory import walk
    from netstat.workspace import workspaces

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(32, 32, 3, padding=1))
    step = training_profile(resolve(model, input_size=(4, 3, 32, 32)), 4, "sgd").step
    spaces = workspaces(step)
    backward = [op for op in step.ops if op.name == "aten.convolution_backward.default"]
    assert len(backward) == 2 and set(spaces) == {op.index for op in backward}
    # the second conv's backward: blocked (8 | 16 channels) incoming gradient, input and weight, written out
    block = channel_block()
    padded = -(-32 // block) * block
    second = backward[0]
    # 4 bytes x (gradient and input: batch 4 x channels x 32 x 32, each)
    assert spaces[second.index] == 4 * 2 * 4 * padded * 32 * 32
    with_ws, without = walk(step, block=1), walk(step, block=1, workspace=False)
    assert with_ws.timeline[second.index] - without.timeline[second.index] == spaces[second.index]
    assert with_ws.peak_bytes >= without.peak_bytes


def test_recurrent_layers_get_the_note():
    lstm = ModuleCall("rnn", "LSTM", 1, 0)
    assert rnn_note([lstm]) == RNN_NOTE and rnn_note([ModuleCall("fc", "Linear", 1, 0)]) is None


class _Recurrent(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.LSTM(8, 16, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]


def test_a_recurrent_model_s_training_profile_and_fit_carry_the_note():
    from netstat.spec import resolve
    from netstat.training import training_profile
    from netstat.training.fit import fit

    source = resolve(_Recurrent(), input_size=(2, 5, 8))
    assert RNN_NOTE in training_profile(source, 2, "sgd").notes
    assert RNN_NOTE in fit(_Recurrent(), "1MiB", input_size=(2, 5, 8)).notes
    assert RNN_NOTE not in fit(torch.nn.Linear(8, 8), "1MiB", input_size=(2, 8)).notes


# --------------------------------------------------------------------------- recurrent layers (oneDNN's LSTM)


class _Kernels(torch.utils._python_dispatch.TorchDispatchMode):
    """Records the workspace each real `aten.mkldnn_rnn_layer` returns."""

    def __init__(self) -> None:
        super().__init__()
        self.workspaces: list[torch.Tensor | None] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func is aten.mkldnn_rnn_layer.default:
            self.workspaces.append(out[3])
        return out


LSTM_SHAPES = {  # (steps, batch, input size, hidden, layers, bidirectional, batch_first)
    "one layer": (12, 3, 16, 32, 1, False, False),
    "two layers, both directions": (10, 3, 16, 32, 2, True, False),
    "batch first, wide input": (7, 5, 300, 48, 1, False, True),
    "hidden 256 (oneDNN pads the leading dimension)": (9, 2, 8, 256, 1, False, False),
}


@pytest.mark.parametrize("name", list(LSTM_SHAPES))
def test_lstm_workspace_formula_is_the_real_kernel_s_workspace(name):
    from netstat.analysis import analyze
    from netstat.workspace import lstm_dims, lstm_workspace

    steps, batch, inp, hidden, layers, both, first = LSTM_SHAPES[name]
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(inp, hidden, num_layers=layers, bidirectional=both, batch_first=first)
    x = torch.randn(*((batch, steps, inp) if first else (steps, batch, inp)))
    kernels = _Kernels()
    with kernels:
        lstm(x)
    real = sum(ws.untyped_storage().nbytes() for ws in kernels.workspaces)
    assert len(kernels.workspaces) == layers * (2 if both else 1)
    assert lstm_workspace(steps, batch, inp, hidden, layers, 2 if both else 1) == real
    # the same dimensions read back from a traced call of the layer
    call = next(c for c in analyze(lstm, input_size=tuple(x.shape)).trace.modules if c.type == "LSTM")
    assert lstm_dims(call) == (steps, batch, inp, hidden, layers, 2 if both else 1)


def test_lstm_without_grad_gru_rnn_and_projections_keep_no_onednn_workspace():
    x = torch.randn(6, 2, 8)
    kernels = _Kernels()
    with kernels, torch.no_grad():
        torch.nn.LSTM(8, 16)(x)  # inference: oneDNN's kernel, no workspace
    assert kernels.workspaces == [None]
    kernels = _Kernels()
    with kernels, pytest.warns(UserWarning, match="projections"):
        torch.nn.LSTM(8, 16, proj_size=4)(x)  # ATen's own cell
    with kernels:
        torch.nn.GRU(8, 16)(x)
        torch.nn.RNN(8, 16)(x)
    assert kernels.workspaces == []  # the no_grad LSTM above shows the mode sees oneDNN's kernel
    from netstat.analysis import analyze
    from netstat.workspace import lstm_dims

    for layer in (torch.nn.GRU(8, 16), torch.nn.RNN(8, 16), torch.nn.LSTM(8, 16, proj_size=4)):
        calls = [c for c in analyze(layer, input_size=(6, 2, 8)).trace.modules if c.type in ("GRU", "RNN", "LSTM")]
        assert calls and all(lstm_dims(c) is None for c in calls)


def _kernel_peaks(lstm: torch.nn.LSTM, x: torch.Tensor) -> tuple[int, int]:
    """Measured (bytes a real forward allocates beyond what it returns, the
    peak of its backward), from torch.profiler's allocation events."""

    def peak(fn):
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            fn()
        running = high = 0
        for e in sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"), key=lambda e: e.start_ns()):
            running += e.nbytes()
            high = max(high, running)
        return high, running

    outputs = []
    high, end = peak(lambda: outputs.append(lstm(x)[0]))
    backward, _ = peak(lambda: outputs[0].sum().backward())
    return high - end, backward


@pytest.mark.parametrize("shape", [(20, 5, 24, 48), (50, 4, 32, 64), (2, 7, 100, 256), (36, 6, 3, 128)])
def test_lstm_kernel_scratch_allowance_bounds_the_real_kernel(shape):
    from netstat.workspace import lstm_layer_scratch

    steps, batch, inp, hidden = shape
    torch.manual_seed(0)
    forward, backward = _kernel_peaks(torch.nn.LSTM(inp, hidden), torch.randn(steps, batch, inp, requires_grad=True))
    allow_forward, allow_backward = lstm_layer_scratch(steps, batch, inp, hidden)
    assert forward <= allow_forward <= 1.5 * forward, (forward, allow_forward)
    assert backward <= allow_backward <= 2 * backward, (backward, allow_backward)


class _Recurrent2(torch.nn.Module):
    def __init__(self, kind, inp, hidden, layers, both) -> None:
        super().__init__()
        self.rnn = kind(inp, hidden, num_layers=layers, bidirectional=both, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]


@pytest.mark.parametrize("kind, inp, hidden, layers, both, size", [
    (torch.nn.LSTM, 16, 32, 2, True, (3, 12, 16)),
    (torch.nn.LSTM, 24, 48, 1, False, (5, 20, 24)),
])
def test_recurrent_model_s_predicted_step_peak_bounds_the_real_cpu_step(kind, inp, hidden, layers, both, size):
    from netstat.spec import resolve
    from netstat.training import training_profile
    from netstat.training.measure import measure_step

    torch.manual_seed(0)
    source = resolve(_Recurrent2(kind, inp, hidden, layers, both), input_size=size)
    predicted = training_profile(source, size[0], "sgd").peak_bytes
    real = measure_step(source, size[0], "sgd").peak_bytes
    assert real <= predicted <= 1.5 * real, (predicted, real)


def test_fit_s_batch_for_an_lstm_model_fits_its_real_cpu_step():
    from netstat.spec import resolve
    from netstat.training.fit import fit
    from netstat.training.measure import measure_step

    budget = 4 * 2**20
    result = fit(_Recurrent2(torch.nn.LSTM, 24, 48, 1, False), budget, input_size=(1, 20, 24))
    assert result.batch > 1 and RNN_NOTE in result.notes
    torch.manual_seed(0)
    source = resolve(_Recurrent2(torch.nn.LSTM, 24, 48, 1, False), input_size=(result.batch, 20, 24))
    assert measure_step(source, result.batch, "sgd").peak_bytes <= budget


def test_fit_s_batch_for_the_most_under_predicted_held_out_model_fits_its_real_cpu_step():
    """ghostnet_100 is the held-out model whose real step was most above the prediction (1.52% at
    batch 4, reports/training_memory.md; 1.86% here): without the 2% margin fit returned batch 10,
    whose real step (167,803,000 B) ran over the 160 MiB budget; with it, batch 9 runs within."""
    from netstat.spec import resolve
    from netstat.training.fit import fit
    from netstat.training.measure import measure_step

    budget = 160 * 2**20
    result = fit("timm:ghostnet_100", budget, input_size=(1, 3, 128, 128))
    assert result.batch > 1 and result.margin == 0.02
    real = measure_step(resolve("timm:ghostnet_100", input_size=(result.batch, 3, 128, 128)), result.batch, "sgd").peak_bytes
    assert real <= budget, (result.batch, real, budget)
