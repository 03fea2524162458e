"""`benchmark()`: each model built and prepared once, then at each batch size
a cold start, the warm-up, the measurement (netstat.bench.protocol) and the
result with its settings, costs and warnings.

Nothing here prints: progress goes through the optional `progress` callback.
"""

from __future__ import annotations

import functools
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Sequence

from netstat.bench.environment import (
    DTYPES,
    KernelWork,
    OtherLoad,
    check_device,
    environment,
    free,
    gc_paused,
    measuring,
    sync_fn,
    torch_dtype,
    usable_cores,
)
from netstat.bench.protocol import Measurement, PhaseReport, Protocol, WarmUp, make_step, measure, warm_up
from netstat.bench.interleaved import Block, Plan, Rounds, check_precision, round_records, run_rounds, summarize_rounds, unique_names
from netstat.bench.probe import calibration, unsteady_warning
from netstat.bench.results import BenchProgress, BenchResult, BenchResults, BenchRun, ProgressFn
from netstat.bench.roofline import Roofline, measure_roofline
from netstat.bench.stats import NS, summarize
from netstat.errors import PARAMETERS, ArgumentError, ModelRunError, NetstatError, UsageError, first_line, is_out_of_memory
from netstat.inputs import DTYPES as INPUT_DTYPES, Inputs

MODES = ("latency", "throughput")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
MAX_BATCH = 2**31 - 1  # as a training step's --batch: beyond it no tensor of the input's shape can be indexed
UNSTABLE_IQR = 0.10  # warn when IQR / median reaches this
KERNEL_SHARE_WARNING = 0.05  # warn when the kernel's time is this share of the measured time


@dataclass(frozen=True)
class _Run:
    """The settings every model and batch of one `benchmark` call shares."""

    device: str
    threads: int
    dtype: str
    amp: bool
    channels_last: bool
    compile_mode: str | None
    cudnn_benchmark: bool
    mode: str
    costs: bool
    protocol: Protocol
    allocator: str

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")


class _Progress:
    """Sends BenchProgress events to the caller's callback, if any."""

    def __init__(self, progress: ProgressFn | None, total: int) -> None:
        self.progress, self.total = progress, total

    def emit(self, task: str, phase: str, fraction: float, index: int) -> None:
        if self.progress is not None:
            self.progress(BenchProgress(task, phase, fraction, index, self.total))

    def roofline(self, what: str, fraction: float) -> None:
        """measure_roofline's progress ("matmul" or "copy"), as task 0."""
        self.emit(f"roofline ({what})", "measure", fraction, 0)


@dataclass(frozen=True)
class _TaskProgress:
    """One task's (phase, fraction) reports, as events of `events`."""

    events: _Progress
    task: str
    index: int

    def __call__(self, phase: str, fraction: float) -> None:
        self.events.emit(self.task, phase, fraction, self.index)


@dataclass
class _Timing:
    """What timing one model at one batch size found."""

    warm: WarmUp
    calls: int  # per sample
    measurement: Measurement
    other: OtherLoad
    kernel: KernelWork


@dataclass
class _Model:
    """One model of the plan: its source, the batch sizes to time it at, and
    the analyses its costs come from, one per distinct input (a caller's
    Analysis for its own inputs: not traced again)."""

    source: Any
    batches: list[int]
    analyses: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.source.name

    def inputs(self, batch: int) -> Inputs:
        """The forward's inputs at `batch` (the one batch substitution)."""
        return self.source.inputs.with_batch(batch)

    def analysis(self, inputs: Inputs):
        """The Analysis of this model on `inputs`, made once."""
        from netstat.analysis import Analysis
        from netstat.spec import resolve

        key = _key(inputs)
        if key not in self.analyses:
            self.analyses[key] = Analysis(resolve(self.source, inputs=inputs))
        return self.analyses[key]


def _key(inputs: Inputs) -> str:
    """Inputs with the same names, shapes, dtypes and constants have the same key."""
    return repr(inputs.to_dict())


# --------------------------------------------------------------------------- benchmark()


def benchmark(
    model: Any,
    input_size: Any = None,
    *,
    device: str = "cpu",
    batches: Sequence[int] | None = None,
    threads: int | None = None,
    dtype: str = "fp32",
    amp: bool = False,
    channels_last: bool = False,
    compile_mode: str | None = None,
    cudnn_benchmark: bool = False,
    mode: str = "latency",
    min_time: float = 1.0,
    max_time: float = 10.0,
    roofline: bool = False,
    costs: bool = True,
    allocator: str = "steady",
    precision: float = 0.01,
    interleave: bool | None = None,
    drop_unsteady: bool = False,
    progress: ProgressFn | None = None,
    model_kwargs: dict[str, Any] | None = None,
    inputs: Any = None,
    kwargs: dict[str, Any] | None = None,
) -> BenchResults:
    """Measure one or more models at each batch size, following the protocol
    in netstat.bench's docstring: a name, spec, nn.Module, `ModelSource` or
    `Analysis` (its source; its profile gives the costs at its own inputs, no
    second trace), a list for several. Returns one BenchResult per model and
    batch, in order (a BenchResults list; `runs`: the interleaved measurements).

    Several models are measured interleaved (`interleave` None: if two or
    more), each with `min_time` / `max_time` of its own, until every median
    and ratio to the first model is known to ±`precision`; `drop_unsteady`
    leaves out the rounds the steadiness probe flagged.

    The inputs, as for `netstat.analyze` (default: the model's own):
    `input_size` (shapes, InputSpecs or a whole `netstat.Inputs`), or real
    examples `inputs` / `kwargs`. `batches` sets the first dimension of every
    tensor input (default: the input's own batch). `model_kwargs` go to the
    builder. `compile_mode` None runs eagerly, else one of COMPILE_MODES.
    `dtype` casts the model and its floating-point inputs (token ids stay
    int64); `amp` keeps both in fp32 under autocast to `dtype`. An
    out-of-memory batch is reported (status "oom") and skipped. `allocator`
    "steady" keeps freed memory in glibc's heap while measuring, "system"
    leaves malloc alone. The caller's inference mode, autocast and RNG are
    set aside and restored (netstat.isolation).
    """
    from netstat.inputs import example_inputs
    from netstat.isolation import own_modes

    run = _checked_run(device, batches, threads, dtype, amp, channels_last, compile_mode, cudnn_benchmark, mode, costs,
                       min_time, max_time, precision, allocator)
    plan = _plan(model, input_size, model_kwargs, example_inputs(inputs, kwargs), batches)
    together = len(plan) > 1 if interleave is None else interleave
    rounds = Plan.from_options(precision, min_time, max_time, len(plan), drop_unsteady) if together else None
    with own_modes():
        return _measure(plan, run, rounds, roofline, progress)


def _measure(plan: list[_Model], run: _Run, rounds: Plan | None, roofline: bool, progress: ProgressFn | None) -> BenchResults:
    """The plan measured with the run's settings held: interleaved with a
    rounds plan, else one model after another."""
    batches = {b for m in plan for b in m.batches}
    tasks = len(batches) if rounds is not None else sum(len(m.batches) for m in plan)
    first = 1 if roofline else 0
    events = _Progress(progress, tasks + first)
    with measuring(run.threads, run.cudnn_benchmark, run.allocator) as malloc:
        machine = {**environment(run.device), "allocator": malloc}
        roof = _roofline(run.device, run.dtype, events) if roofline else None
        if rounds is not None:
            return _bench_together(plan, run, rounds, machine, roof, events, first)
        return BenchResults(_bench_all(plan, run, machine, roof, events, first))


def _checked_run(device, batches, threads, dtype, amp, channels_last, compile_mode, cudnn_benchmark, mode, costs,
                 min_time, max_time, precision, allocator) -> _Run:
    """The run's settings, each checked (one UsageError sentence for the first bad one)."""
    from netstat.allocator import describe

    device = _validate(device, batches, threads, dtype, amp, mode, compile_mode)
    describe(allocator)  # validates the policy before anything is built
    check_precision(precision)
    protocol = replace(Protocol.from_times(min_time, max_time), rel_precision=precision)
    return _Run(device, threads or usable_cores(), dtype, amp, channels_last, compile_mode, cudnn_benchmark,
                mode, costs, protocol, allocator)


def _one_of(value: Any, choices: Sequence[str], what: str) -> None:
    """A UsageError listing the choices when `value` is not one of them."""
    if value not in choices:
        raise UsageError(f"Unknown {what} '{value}'.", hint=f"Use one of: {', '.join(choices)}.")


def _validate(device, batches, threads, dtype, amp, mode, compile_mode) -> str:
    """One UsageError sentence for the first bad argument; the device, normalised."""
    _one_of(dtype, tuple(DTYPES), "dtype")
    if amp and dtype == "fp32":
        raise ArgumentError(
            "{amp} runs an fp32 model under autocast to a lower precision: give {dtype} fp16 or bf16 with it."
        )
    _one_of(mode, MODES, "mode")
    if compile_mode is not None:
        _one_of(compile_mode, COMPILE_MODES, "compile mode")
    if threads is not None and threads < 1:
        raise ArgumentError("{threads} must be a positive integer, not {given}.", given=threads)
    if batches is not None:
        if not batches or any(int(b) != b or b < 1 for b in batches):
            raise UsageError(f"Every batch size must be a positive integer, not {list(batches)}.")
        if any(b > MAX_BATCH for b in batches):
            raise UsageError(f"Every batch size must be at most {MAX_BATCH:,}, not {max(batches):,}.")
    return check_device(device)


def _plan(model: Any, input_size: Any, model_kwargs: dict[str, Any] | None, examples: Inputs | None,
          batches: Sequence[int] | None) -> list[_Model]:
    """Each model resolved (netstat.spec; an Analysis's own source, its
    analysis kept for the costs when nothing overrides its inputs or builder
    arguments) with the batch sizes to time it at."""
    from netstat.analysis import Analysis
    from netstat.spec import resolve

    overridden = input_size is not None or examples is not None or bool(model_kwargs)
    plan = []
    for spec in list(model) if isinstance(model, (list, tuple)) else [model]:
        given = spec if isinstance(spec, Analysis) else None
        source = resolve(given.source if given else spec, input_size, model_kwargs, inputs=examples)
        if source.input_shape is None:
            raise ArgumentError("'{model}' has no default input shape.", hint="Give one with {input_size}.", model=source.name)
        entry = _Model(source, list(batches) if batches else [source.input_shape[0]])
        if given is not None and not overridden:
            entry.analyses[_key(source.inputs)] = given
        plan.append(entry)
    return plan


def _roofline(device: str, dtype: str, events: _Progress) -> Roofline:
    """The device's ceilings, reported as task 0."""
    events.emit("roofline", "measure", 0.0, 0)
    roof = measure_roofline(device, dtype, progress=events.roofline)
    events.emit("roofline", "done", 1.0, 0)
    return roof


def _bench_all(plan: list[_Model], run: _Run, machine: dict[str, Any], roof: Roofline | None, events: _Progress,
               index: int) -> list[BenchResult]:
    """Every model of the plan, built once, at each of its batch sizes."""
    results: list[BenchResult] = []
    for model in plan:
        events.emit(model.name, "build", 0.0, index)
        net = _prepare(model.source, run.device, run.dtype, run.amp, run.channels_last, run.compile_mode)
        for batch in model.batches:
            task = f"{model.name} · batch {batch}"
            result = _bench_one(net, model, batch, run, _TaskProgress(events, task, index))
            _annotate(result, model, run, machine, roof)
            results.append(result)
            events.emit(task, "done" if result.status == "ok" else "skipped", 1.0, index)
            index += 1
        del net
        free(run.device)
    return results


def _annotate(result: BenchResult, model: _Model, run: _Run, machine: dict[str, Any], roof: Roofline | None) -> None:
    """The record beside the timing: environment, settings, protocol, roofline, costs."""
    result.env = {**machine, **_settings(run, result)}
    result.protocol = run.protocol.to_dict()
    result.roofline = roof
    if run.costs and result.status == "ok":
        counted, warning = _costs(model.analysis(model.inputs(result.batch)), run.dtype, run.amp)
        for key, value in counted.items():
            setattr(result, key, value)
        if warning:
            result.warnings.append(warning)
    if run.threads > usable_cores():
        result.warnings.append(f"{run.threads} threads on {usable_cores()} usable cores: threads compete for cores.")


def _settings(run: _Run, result: BenchResult) -> dict[str, Any]:
    """The settings this result was measured with (its `env`, beside the machine)."""
    import torch

    return {
        "device": run.device,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "dtype": run.dtype,
        "amp": run.amp,
        "channels_last": run.channels_last,
        "compile": run.compile_mode,
        "cudnn_benchmark": run.cudnn_benchmark,
        "mode": run.mode,
        "batch": result.batch,
        "input_shape": list(result.input_shape),
    }


def _costs(analysis, dtype: str, amp: bool) -> tuple[dict[str, int | None], str | None]:
    """MAdds, FLOPs and memory-access bytes from the analysis's profile (on
    meta, the same detector box counts as the timed model), the bytes scaled
    to the element size when the whole model runs in fp16/bf16."""
    empty = {"madds": None, "flops": None, "memory_access_bytes": None}
    try:
        totals = analysis.profile.totals
    except Exception as err:  # noqa: BLE001 - costs are an extra: report, keep the timing
        return empty, f"Could not count MAdds/FLOPs: {first_line(err)}."
    mac = totals.get("memory_access_bytes")
    if mac is not None and dtype != "fp32" and not amp:
        mac = mac // 2  # profiled in fp32 (4 bytes); fp16/bf16 tensors take 2
    return {"madds": totals.get("madds"), "flops": totals.get("flops"), "memory_access_bytes": mac}, None


# --------------------------------------------------------------------------- one model


def _prepare(source, device: str, dtype: str, amp: bool, channels_last: bool, compile_mode: str | None):
    """The model to time: `source.instantiate(device)` (netstat's own build,
    or a working copy of a user's module, which is never run; a detector's
    box counts fixed as in its profile), its forward checked against the
    inputs, cast, laid out, in eval mode, compiled when asked."""
    import torch

    from netstat.trace import check_arity

    model = source.instantiate(device)
    check_arity(model, source.inputs, source.name)
    try:
        if dtype != "fp32" and not amp:
            model = model.to(torch_dtype(dtype))
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
    except Exception as err:  # noqa: BLE001
        if is_out_of_memory(err):
            raise ModelRunError(f"'{source.name}' does not fit in {device} memory: {first_line(err)}.") from None
        raise ModelRunError(f"Preparing '{source.name}' on {device} failed: {first_line(err)}.") from None
    model.eval()
    if compile_mode is not None:
        model = torch.compile(model, mode=None if compile_mode == "default" else compile_mode)
    return model


def _new_result(model: _Model, batch: int, run: _Run) -> tuple[BenchResult, Inputs]:
    """An empty result for `model` at `batch`, and the inputs its forward is
    timed on (floating-point ones cast with the model: token ids stay int)."""
    inputs = model.inputs(batch)
    if run.dtype != "fp32" and not run.amp:
        inputs = inputs.cast(INPUT_DTYPES[run.dtype])
    result = BenchResult(model.name, run.device, batch, run.dtype, run.mode, inputs.first_shape,
                         inputs=inputs.to_dict(), inputs_text=inputs.describe())
    return result, inputs


def _forward(net, inputs: Inputs, run: _Run):
    """The timed call: `net` on the inputs made on the device (zeros for a
    shape, a copy of a real example), 4-D ones channels-last with the model."""
    import torch
    from torch.utils._pytree import tree_map

    args, kwargs = inputs.materialise(run.device)
    if run.channels_last:
        def laid_out(x: Any) -> Any:
            is_4d = isinstance(x, torch.Tensor) and x.dim() == 4
            return x.contiguous(memory_format=torch.channels_last) if is_4d else x

        args, kwargs = tree_map(laid_out, (args, kwargs))
    return functools.partial(net, *args, **kwargs)


def _bench_one(net, model: _Model, batch: int, run: _Run, report: _TaskProgress) -> BenchResult:
    """Cold start, warm-up and measurement of one model at one batch size; an
    out-of-memory batch comes back with status "oom"."""
    import torch

    result, inputs = _new_result(model, batch, run)
    call = None
    try:
        if run.cuda:
            torch.cuda.reset_peak_memory_stats(run.device)
        call = _forward(net, inputs, run)
        with _running(run):
            result.cold_start_ns = _cold_start(call, run, report)
            timing = _steady_state(call, run, report)
    except NetstatError:
        raise
    except Exception as err:  # noqa: BLE001 - out of memory is reported, anything else is fatal
        if not is_out_of_memory(err):
            raise ModelRunError(f"'{model.name}' failed at batch {batch} on {run.device}: {first_line(err)}.") from None
        result.status = "oom"
        result.error = f"Out of memory at batch {batch} on {run.device}; skipped."
        return result
    finally:
        del call  # the input with it
        free(run.device)
    _record(result, timing, run)
    result.warnings += _warnings(result, timing, run)
    return result


@contextmanager
def _running(run: _Run) -> Iterator[None]:
    """torch.inference_mode(), and torch.autocast to the dtype with `amp`."""
    import torch

    autocast = torch.autocast(run.device.split(":")[0], dtype=torch_dtype(run.dtype), enabled=run.amp)
    with torch.inference_mode(), autocast:
        yield


def _cold_start(call, run: _Run, report: _TaskProgress) -> int:
    """The first call on its own, by the wall clock (compilation and cuDNN
    autotuning included), in ns."""
    sync = sync_fn(run.device)
    report("cold start", 0.0)
    t0 = time.perf_counter_ns()
    call()
    sync()
    return time.perf_counter_ns() - t0


def _steady_state(call, run: _Run, report: _TaskProgress) -> _Timing:
    """With the garbage collector paused and other load and kernel work
    recorded: the warm-up, the block size in throughput mode, the measurement."""
    protocol = run.protocol
    with gc_paused(), OtherLoad() as other:
        step = make_step(call, run.device)
        warm = warm_up(step, time.perf_counter_ns, protocol, PhaseReport(report, "warm-up", 0.0, 0.2))
        calls = 1
        if run.mode == "throughput":
            calls = protocol.block_calls(warm.estimate_ns)
            step = make_step(call, run.device, calls)
        with KernelWork() as kernel:
            m = measure(step, time.perf_counter_ns, protocol, PhaseReport(report, "measure", 0.2, 0.8))
    return _Timing(warm, calls, m, other, kernel)


def _record(result: BenchResult, t: _Timing, run: _Run) -> None:
    """The statistics per call and how they were measured."""
    import torch

    m, calls = t.measurement, t.calls
    result.iterations_per_sample = calls
    result.stats = summarize([s / calls for s in m.samples_ns], run.protocol.confidence)
    if run.cuda:
        result.peak_memory_bytes = torch.cuda.max_memory_allocated(run.device)
    iterations = len(m.samples_ns) * calls
    result.measurement = {
        "iterations": iterations,
        "elapsed_s": m.elapsed_ns / NS,
        "stop_reason": m.stop_reason,
        "median_ci_rel": m.ci_rel,
        "warmup_iterations": t.warm.iterations,
        "warmup_s": t.warm.elapsed_ns / NS,
        "warmup_settled": t.warm.settled,
        "timer": "cuda_events" if run.cuda else "perf_counter_ns",
        "gc_disabled": True,
        "other_processes_cores": None if t.other.cores is None else round(t.other.cores, 3),
        "minor_faults_per_call": None if t.kernel.minor_faults is None else t.kernel.minor_faults / iterations,
        "kernel_ms_per_call": None if t.kernel.system_s is None else t.kernel.system_s * 1e3 / iterations,
    }


def _warnings(result: BenchResult, t: _Timing, run: _Run) -> list[str]:
    """Why these numbers may not be trusted: kernel time, other load, spread,
    an unconverged median, an unsettled warm-up."""
    import torch

    out = _kernel_warning(result, t, run)
    # On CPU every thread needs a core; on CUDA one host thread launches the work.
    needed, cores = (1 if run.cuda else torch.get_num_threads()), usable_cores()
    other = t.other.cores
    if other is not None and other > max(0.0, cores - needed) + 0.25:
        out.append(f"Other processes kept {other:.1f} of {cores} cores busy while this needed {needed}: times are inflated.")
    if result.stats.iqr_rel >= UNSTABLE_IQR:
        out.append(f"Unstable: the IQR is {result.stats.iqr_rel:.0%} of the median.")
    m = t.measurement
    if m.stop_reason != "converged":
        known = "too few samples for a confidence interval" if m.ci_rel is None else f"the median known to ±{m.ci_rel:.1%}"
        max_time = PARAMETERS["max_time"]
        out.append(f"Stopped at {max_time} with {known} (target ±{run.protocol.rel_precision:.0%}); raise {max_time}.")
    if not t.warm.settled:
        out.append(f"The warm-up did not settle within {run.protocol.warmup_max_time:g} s.")
    return out


def _kernel_warning(result: BenchResult, t: _Timing, run: _Run) -> list[str]:
    """On CPU, a kernel share of the measured time above KERNEL_SHARE_WARNING,
    and whether page faults explain it. (On CUDA the host thread's system time
    is mostly waiting in the driver.)"""
    if run.cuda or t.kernel.system_s is None:
        return []
    share = t.kernel.system_s * NS / max(t.measurement.elapsed_ns, 1)
    if share < KERNEL_SHARE_WARNING:
        return []
    faults = result.measurement["minor_faults_per_call"] or 0
    why = (
        f"{faults:.0f} page faults per call: memory is returned to the system and faulted back in"
        if faults >= 1 else "system calls, not page faults"
    )
    return [f"The kernel took {share:.0%} of the measured time ({why})."]


# --------------------------------------------------------------------------- several models, interleaved


@dataclass
class _Entrant:
    """One model at one batch size in an interleaved measurement."""

    model: _Model
    result: BenchResult
    inputs: Inputs
    call: Any = None
    warm: WarmUp | None = None
    block: Block | None = None


@dataclass
class _Together:
    """What the rounds of one batch size found, beside the host's record."""

    rounds: Rounds
    probe: dict[str, Any]
    other: OtherLoad
    kernel: KernelWork


def _bench_together(plan: list[_Model], run: _Run, rounds_plan: Plan, machine: dict[str, Any], roof: Roofline | None,
                    events: _Progress, index: int) -> BenchResults:
    """Every model built once; at each batch size the models that have it,
    measured interleaved; the results in model order, then batch order."""
    nets = []
    for model in plan:
        events.emit(model.name, "build", 0.0, index)
        nets.append(_prepare(model.source, run.device, run.dtype, run.amp, run.channels_last, run.compile_mode))
    placed: list[tuple[int, int, BenchResult]] = []
    runs: list[BenchRun] = []
    for b, batch in enumerate(dict.fromkeys(x for m in plan for x in m.batches)):
        members = [(i, model, net) for i, (model, net) in enumerate(zip(plan, nets)) if batch in model.batches]
        task = f"{', '.join(model.name for _, model, _ in members)} · batch {batch}"
        first = 1 + sum(len(r.rounds) for r in runs)
        results, bench_run = _together_at([(s, n) for _, s, n in members], batch, run, rounds_plan,
                                          _TaskProgress(events, task, index), first)
        for (i, model, _), result in zip(members, results):
            _annotate(result, model, run, machine, roof)
            result.protocol = {**result.protocol, "interleaved": rounds_plan.to_dict()}
            placed.append((i, b, result))
        if bench_run is not None:
            runs.append(bench_run)
        events.emit(task, "done", 1.0, index)
        index += 1
    del nets
    free(run.device)
    return BenchResults([r for _, _, r in sorted(placed, key=lambda p: p[:2])], runs)


def _together_at(members, batch: int, run: _Run, plan: Plan, report: _TaskProgress,
                 first: int) -> tuple[list[BenchResult], BenchRun | None]:
    """Cold start of each model, then the warm-ups and rounds of those that
    fit (an out-of-memory model is reported, status "oom")."""
    entrants = [_Entrant(model, *_new_result(model, batch, run)) for model, _ in members]
    live: list[_Entrant] = []
    try:
        with _running(run):
            for entrant, (_, net) in zip(entrants, members):
                _enter(entrant, net, run, report)
            live = [e for e in entrants if e.result.status == "ok"]
            together = _rounds_of(live, run, plan, report) if live else None
    except NetstatError:
        raise
    except Exception as err:  # noqa: BLE001 - anything after the cold starts is fatal
        names = ", ".join(e.model.name for e in entrants)
        raise ModelRunError(f"Measuring {names} at batch {batch} on {run.device} failed: {first_line(err)}.") from None
    finally:
        for entrant in entrants:
            entrant.call = None  # the inputs with them
        free(run.device)
    if together is None:
        return [e.result for e in entrants], None
    return [e.result for e in entrants], _record_together(live, together, run, plan, first)


def _enter(entrant: _Entrant, net, run: _Run, report: _TaskProgress) -> None:
    """The model's input and its cold start; out of memory marks it "oom"."""
    r = entrant.result
    try:
        entrant.call = _forward(net, entrant.inputs, run)
        r.cold_start_ns = _cold_start(entrant.call, run, report)
    except Exception as err:  # noqa: BLE001 - out of memory is reported, anything else is fatal
        if not is_out_of_memory(err):
            raise ModelRunError(f"'{r.model}' failed at batch {r.batch} on {run.device}: {first_line(err)}.") from None
        entrant.call = None
        r.status, r.error = "oom", f"Out of memory at batch {r.batch} on {run.device}; skipped."
        free(run.device)


def _rounds_of(live: list[_Entrant], run: _Run, plan: Plan, report: _TaskProgress) -> _Together:
    """Each model warmed up and its block sized, the probe calibrated, then the
    rounds, with the garbage collector paused and the host's load recorded."""
    share = 0.2 / len(live)
    with gc_paused(), OtherLoad() as other:
        for i, e in enumerate(live):
            step = make_step(e.call, run.device)
            e.warm = warm_up(step, time.perf_counter_ns, run.protocol, PhaseReport(report, "warm-up", i * share, share))
        slowest = max(e.warm.estimate_ns for e in live)
        for e in live:
            step, calls = make_step(e.call, run.device), plan.block_calls(e.warm.estimate_ns, slowest)
            if run.mode == "latency":
                e.block = Block(step, calls, 1, lead_in=e.call)
            else:
                e.block = Block(make_step(e.call, run.device, calls), 1, calls, lead_in=e.call)
        probe, described = calibration(run.device)
        with KernelWork() as kernel:
            blocks = [e.block for e in live]
            cpu = None if run.cuda else time.process_time_ns  # on CUDA the host waits for the GPU
            rounds = run_rounds(blocks, probe, time.perf_counter_ns, plan, PhaseReport(report, "rounds", 0.2, 0.8), cpu)
    return _Together(rounds, described, other, kernel)


def _record_together(live: list[_Entrant], t: _Together, run: _Run, plan: Plan, first: int) -> BenchRun:
    """Each model's statistics over the kept rounds, its warnings, and the run:
    ratios to the first model, every round, the probe, the host's warning."""
    s = summarize_rounds(t.rounds, plan)
    names = unique_names([e.model.name for e in live])
    calls = len(t.rounds) * sum(e.block.repeats * e.block.calls for e in live)  # every call of every model
    for m, e in enumerate(live):
        samples = [x for r in s.kept for x in t.rounds.samples_ns[r][m]]
        timing = _Timing(e.warm, e.block.calls, Measurement(samples, t.rounds.elapsed_ns, t.rounds.stop_reason,
                                                            s.median_ci_rel[m]), t.other, t.kernel)
        _record(e.result, timing, run)
        e.result.measurement.update(
            protocol="interleaved", rounds=len(s.kept), rounds_measured=len(t.rounds),
            calls_per_block=e.block.repeats * e.block.calls, lead_in_calls=1, round_median_ms=s.medians_ns[m] / 1e6,
            minor_faults_per_call=None if t.kernel.minor_faults is None else t.kernel.minor_faults / calls,
            kernel_ms_per_call=None if t.kernel.system_s is None else t.kernel.system_s * 1e3 / calls,
        )
        e.result.warnings += _warnings(e.result, timing, run)
    batch = live[0].result.batch
    comparisons = [{"model": names[r.model], "baseline": names[0], "batch": batch, "ratio": r.ratio,
                    "ci": [r.low, r.high], "rounds": r.rounds} for r in s.ratios]
    unsteady = [first + i for i in s.unsteady]
    probe = {**t.probe, "median_ms": s.probe_median_ns / 1e6, "max_slowdown": s.max_slowdown}
    warning = unsteady_warning(t.rounds.host_ns(), s.unsteady, first, plan.unsteady, plan.drop_unsteady)
    warnings = ([warning] if warning else []) + _ratio_warnings(s, names, plan)
    return BenchRun(batch, names, plan.to_dict(), probe, comparisons,
                    round_records(t.rounds, names, first, s.unsteady), unsteady, t.rounds.stop_reason, warnings)


def _ratio_warnings(s, names: list[str], plan: Plan) -> list[str]:
    """A ratio not known to ±precision when the rounds stopped."""
    loose = [r for r in s.ratios if r.half_width_rel > plan.precision]
    return [f"Stopped with {names[r.model]} / {names[0]} known to ±{r.half_width_rel:.1%} "
            f"(target ±{plan.precision:.1%}); raise {PARAMETERS['max_time']}." for r in loose]
