"""The largest batch whose predicted peak memory fits a budget.

Each probe is one trace on meta (flat memory: nothing is allocated whatever
the batch). Memory grows with the batch, nearly linearly: the search takes
batch 1 and 2, guesses the answer from the line through them, and then
brackets and bisects from the guess, so that it usually needs four or five
probes and never assumes more than that the peak does not fall as the batch
grows.

Training: the peak of one step (netstat.training.memory), which must fit
the budget with `TRAINING_MARGIN` to spare: on 14 held-out timm and
torchvision models the predicted CPU step peak was up to 1.52% below the real
one at batch 4 (ghostnet_100; reports/training_memory.md: scratch buffers no
rule models yet), and 1.86% for ghostnet_100 at 128 x 128, batch 10, whose real
step ran over a 160 MiB budget the prediction fitted
(tests/test_workspace.py), so without a margin the batch at the boundary can
run over. The
largest batch is the largest whose predicted peak times (1 + margin) fits.
Inference: parameters and buffers + the peak of live activations of one
forward under no_grad (netstat.metrics), sizes as requested (no allocator
rounding), and no margin (its prediction has not been measured against real
forwards).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from netstat.display import Displayed, data_frame
from netstat.errors import ArgumentError, UsageError

TRAINING_MARGIN = 0.02  # above the largest under-prediction measured on held-out models (1.86%), see the docstring
MAX_BATCH = 2**24  # the search stops here: a budget this large is not a batch question
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_memory(value: Any) -> int:
    """Bytes from 24GiB, 24GB, 1.5TiB, 512MiB or a number of bytes (int or text)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number: int | float = value
        unit = ""
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*", str(value))
        if match is None or match.group(2).lower() not in _UNITS:
            raise ArgumentError("Malformed {memory} {given!r}: expected a size such as 24GiB, 24GB, 1.5TiB or a number of bytes.", given=value)
        number, unit = float(match.group(1)), match.group(2).lower()
    nbytes = int(number * _UNITS[unit])
    if nbytes <= 0:
        raise ArgumentError("{memory} must be more than 0 bytes, not {given!r}.", given=value)
    return nbytes


@dataclass
class FitResult(Displayed):
    """The largest batch (0: not even batch 1) and the probes that found it."""

    model: str
    memory_bytes: int
    train: bool
    optimizer: str | None
    dtype: str
    amp: str | None
    batch: int
    peak_bytes: int  # at `batch` (at batch 1 when nothing fits)
    probes: list[tuple[int, int]] = field(default_factory=list)  # (batch, predicted peak)
    notes: list[str] = field(default_factory=list)
    device: str = "meta"  # "cuda": each peak is the CUDA allocator's reserved bytes + context + workspace (netstat.cuda_memory)
    margin: float = 0.0  # the share of the budget kept free (TRAINING_MARGIN for a training step)

    @property
    def usable_bytes(self) -> int:
        """The budget less the margin: a batch fits when its predicted peak is at most this."""
        return int(self.memory_bytes / (1 + self.margin))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "memory_bytes": self.memory_bytes, "train": self.train, "optimizer": self.optimizer, "batch": self.batch,
            "peak_bytes": self.peak_bytes, "dtype": self.dtype, "amp": self.amp, "probes": [list(p) for p in sorted(self.probes)], "notes": self.notes,
            "device": self.device, "margin": self.margin, "usable_bytes": self.usable_bytes,
        }

    def to_pandas(self):
        """One row per probe: the batch, its predicted peak bytes and whether it fits, as a pandas DataFrame."""
        return data_frame({"batch": b, "peak_bytes": peak, "fits": peak <= self.usable_bytes} for b, peak in sorted(self.probes))

    def __repr__(self) -> str:
        return self.summary()


class _Probes:
    """Predicted peaks by batch, each computed once."""

    def __init__(self, peak_at: Callable[[int], int], budget: int) -> None:
        self.peak_at, self.budget = peak_at, budget
        self.seen: dict[int, int] = {}

    def peak(self, batch: int) -> int:
        if batch not in self.seen:
            self.seen[batch] = self.peak_at(batch)
        return self.seen[batch]

    def fits(self, batch: int) -> bool:
        return self.peak(batch) <= self.budget


def largest_batch(peak_at: Callable[[int], int], budget: int, limit: int = MAX_BATCH) -> tuple[int, dict[int, int]]:
    """The largest batch b <= limit with peak_at(b) <= budget (0 when batch 1
    does not fit), assuming peak_at does not decrease; and every probe.
    Secant steps on the nearly linear peak find the neighbourhood (the peak
    of a small batch is mostly weights, so the line through batch 1 and 2
    alone undershoots), then a bracket and a bisection make it exact."""
    probes = _Probes(peak_at, budget)
    if not probes.fits(1):
        return 0, probes.seen
    a, b = 1, min(2, limit)
    for _ in range(_SECANT_STEPS):
        if b == a:
            break
        slope = max((probes.peak(b) - probes.peak(a)) / (b - a), 1.0)
        guess = min(max(int(b + (budget - probes.peak(b)) / slope), 1), limit)
        a, b = b, guess
    probes.peak(b)
    lo = max(n for n, p in probes.seen.items() if p <= budget)
    above = [n for n, p in probes.seen.items() if p > budget and n > lo]
    hi = min(above) if above else None
    if lo < limit and (hi is None or hi > lo + 1) and not probes.fits(lo + 1):  # the secant usually lands on the answer
        hi = lo + 1
    step = max(lo // 64, 1)
    while hi is None and lo < limit:  # nothing above fails yet: climb, doubling the step
        candidate = min(lo + step, limit)
        if probes.fits(candidate):
            lo, step = candidate, step * 2
        else:
            hi = candidate
    while hi is not None and hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if probes.fits(mid) else (lo, mid)
    return lo, probes.seen


_SECANT_STEPS = 3


def fit(analysis_or_model: Any, memory: Any, train: bool = True, optimizer: str | None = "sgd", dtype: str = "fp32", amp: str | None = None,
        input_size: Any = None, model_kwargs: dict[str, Any] | None = None, device: str = "meta") -> FitResult:
    """The largest batch of a model (an `Analysis`, a spec or a module) whose
    predicted peak fits `memory` (bytes, or text such as "24GiB"), for one
    training step (`train`, with `optimizer`, `dtype`, `amp`) or for inference.
    `device="cuda"`: the peak is what the GPU must hold -- the CUDA caching
    allocator's reserved bytes plus the context and workspace lines
    (netstat.cuda_memory) -- instead of the liveness walk's bytes."""
    from netstat.analysis import Analysis, analyze
    from netstat.training import check_arguments

    budget = parse_memory(memory)
    margin = TRAINING_MARGIN if train else 0.0
    usable = int(budget / (1 + margin))
    device = _fit_device(device)
    analysis = analysis_or_model if isinstance(analysis_or_model, Analysis) else analyze(analysis_or_model, input_size, model_kwargs)
    if train:
        _, optimizer, dtype, amp = check_arguments(1, optimizer, dtype, amp, None)
        batch, seen = largest_batch(functools.partial(_training_peak, analysis, optimizer, dtype, amp, device), usable)
    else:
        if dtype != "fp32" or amp is not None:
            raise ArgumentError("{training_dtype} and {training_amp} apply to a training step; inference is counted in the model's own precision.")
        optimizer = None
        batch, seen = largest_batch(functools.partial(_inference_peak, analysis, device), usable)
    peak = seen[batch] if batch else seen[1]
    notes = [] if batch < MAX_BATCH else [f"The search stops at batch {MAX_BATCH:,}: a larger batch may fit as well."]
    if device == "cuda":
        from netstat.cuda_memory import context_note

        notes.append(context_note())
    if train:  # an LSTM's oneDNN workspace is bounded from above: say so (netstat.workspace)
        from netstat.workspace import RNN_NOTE

        notes += [n for n in analysis.training(1, optimizer or "sgd", dtype, amp).notes if n == RNN_NOTE]  # a str when train
    return FitResult(analysis.name, budget, train, optimizer, dtype, amp, batch, peak, list(seen.items()), notes, device, margin)


def _fit_device(device: Any) -> str:
    """'meta' (the liveness walk's peak) or 'cuda' (the GPU's reserved bytes + context + workspace)."""
    text = str(device).strip().lower() if isinstance(device, str) else device
    if text not in ("meta", "cuda"):
        raise ArgumentError("{fit_device} is meta (the predicted peak of live tensors) or cuda (what a CUDA GPU must hold), not {given!r}.", given=device)
    return text


def _training_peak(analysis, optimizer: str, dtype: str, amp: str | None, device: str, batch: int) -> int:
    step = analysis.training(batch, optimizer, dtype, amp)
    return step.cuda_memory().total_bytes if device == "cuda" else step.peak_bytes


def _inference_peak(analysis, device: str, batch: int) -> int:
    """The peak of one inference forward at `batch` (a fresh meta trace of
    the same source), parameters and buffers included: the one liveness
    walk (netstat.memory) over the activations and the trace's resident weights."""
    from netstat.analysis import Analysis
    from netstat.memory import walk
    from netstat.metrics import activation_bytes
    from netstat.spec import resolve

    probe = Analysis(resolve(analysis.source, inputs=analysis.source.inputs.with_batch(batch)))
    if probe.trace.device != "meta":
        raise UsageError(f"{analysis.name} cannot run its forward on the meta device, and fit probes batches only on meta (real tensors would need the memory being asked about).")
    sizes = {**activation_bytes(probe.trace), **probe.trace.storage_bytes}
    if device == "cuda":
        from netstat.cuda_memory import replay

        return replay(probe.trace, sizes).total_bytes
    return walk(probe.trace, sizes).peak_bytes
