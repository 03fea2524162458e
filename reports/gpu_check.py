"""GPU check of netstat's CUDA memory prediction (issue 25): one command,

    python reports/gpu_check.py            # about 5-8 minutes on one H100
    python reports/gpu_check.py --quick    # three models, a minute or two
    python reports/gpu_check.py --figure   # CPU: the docs figure and its snapshot only

For ten models (CNNs, a ViT, a detector, two segmenters), fp32 and bf16
autocast, SGD and AdamW, it runs real training steps on the GPU and compares
`torch.cuda.max_memory_allocated` / `max_memory_reserved` of a steady-state
step (after two warm-up steps, peaks reset) with netstat's prediction
(`TrainingProfile.cuda_memory()`: the caching-allocator model replayed over
the step traced on meta). The model is built the way netstat builds it
(`ModelSource.instantiate`), the optimizer is netstat's (`make_optimizer`:
torch.optim with foreach=False) and the loss netstat's default (sum of the
outputs), so the two describe the same step.

It also measures the CUDA context (the device's used memory less what the
allocator holds) and what stays allocated before any model exists (cuBLAS /
cuDNN workspaces), and checks `fit --device cuda`: with the allocator capped
to the budget less the measured context (set_per_process_memory_fraction),
the batch fit returns must run and 10% more should run out of memory.

Writes reports/gpu_memory.md (the GPU named) and reports/gpu_memory.json.
Nothing is downloaded: the models are architectures with random weights.
The pure parts (rows, verdicts, the Markdown) are tested on CPU in
tests/test_cuda_memory.py.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOLERANCE = 0.05  # the goal: predicted within 5% of measured
# (model, batch): CNNs, a ViT, a detector network (SSD300's backbone + heads: torchvision's
# detectors need targets to train), two segmenters
MODELS = [
    ("resnet18", 64), ("resnet50", 32), ("mobilenet_v2", 64), ("efficientnet_b0", 32), ("densenet121", 32),
    ("torchvision:convnext_tiny", 32), ("torchvision:vit_b_16", 32), ("ssd300", 16),
    ("torchvision:deeplabv3_mobilenet_v3_large", 8), ("unet", 4),
]
QUICK = ["resnet18", "torchvision:vit_b_16", "ssd300"]
PRECISIONS = [("fp32", None), ("bf16 autocast", "bf16")]
OPTIMIZERS = ["sgd", "adamw"]
FIT_MODELS = ["resnet18", "resnet50", "torchvision:vit_b_16", "ssd300", "unet"]
FIT_BUDGET = 8 << 30


@dataclass
class Row:
    """One model x precision x optimizer: predicted and measured bytes."""

    model: str
    batch: int
    precision: str
    optimizer: str
    predicted_allocated: int
    predicted_reserved: int
    measured_allocated: int = 0  # max_memory_allocated of the step, less what was allocated before the model existed
    measured_reserved: int = 0
    error: str = ""

    @property
    def allocated_error(self) -> float | None:
        return relative(self.predicted_allocated, self.measured_allocated)

    @property
    def reserved_error(self) -> float | None:
        return relative(self.predicted_reserved, self.measured_reserved)


@dataclass
class FitCheck:
    model: str
    budget: int
    batch: int
    runs: bool | None = None  # the fitted batch ran under the cap
    larger: int = 0
    larger_ooms: bool | None = None  # 10% more ran out of memory
    error: str = ""


@dataclass
class Report:
    gpu: str
    torch_version: str
    cuda_version: str
    context_bytes: int
    baseline_allocated: int
    rows: list[Row] = field(default_factory=list)
    fits: list[FitCheck] = field(default_factory=list)
    seconds: float = 0.0


def relative(predicted: int, measured: int) -> float | None:
    """(predicted - measured) / measured, None without a measurement."""
    return (predicted - measured) / measured if measured > 0 else None


def verdict(error: float | None, tolerance: float = TOLERANCE) -> str:
    if error is None:
        return "not measured"
    return "within 5%" if abs(error) <= tolerance else ("over" if error > 0 else "UNDER")


def larger_batch(batch: int) -> int:
    """10% more than `batch`, at least one more."""
    return max(batch + 1, -(-batch * 11 // 10))  # integer ceiling: 1.1 * 100 is 110.00000000000001 in floating point


def _mib(nbytes: int) -> str:
    return f"{nbytes / 2**20:,.1f}"


def _pct(error: float | None) -> str:
    return "-" if error is None else f"{error * 100:+.1f}%"


def markdown(report: Report) -> str:
    """reports/gpu_memory.md from a report."""
    lines = [
        "# netstat's CUDA memory prediction against a real GPU (issue 25)", "",
        f"GPU: **{report.gpu}**; torch {report.torch_version}, CUDA {report.cuda_version}; `python reports/gpu_check.py` "
        f"({report.seconds:.0f} s).", "",
        f"- CUDA context (device memory used less the allocator's reserved bytes, after the first kernels): {_mib(report.context_bytes)} MiB "
        "(netstat states 500 MiB typical).",
        f"- Allocated before any model exists (cuBLAS / cuDNN workspaces kept by PyTorch): {_mib(report.baseline_allocated)} MiB; the "
        "measured columns below are the step's peaks less what was allocated and reserved before its model was built.",
        "", "Predicted = `TrainingProfile.cuda_memory()` (meta trace + caching-allocator model); measured = "
        "`max_memory_allocated` / `max_memory_reserved` of the third step (two warm-up steps, peaks reset). MiB.", "",
        "| model | batch | precision | optimizer | pred. allocated | meas. allocated | error | pred. reserved | meas. reserved | error | verdict |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in report.rows:
        if r.error:
            lines.append(f"| {r.model} | {r.batch} | {r.precision} | {r.optimizer} | {_mib(r.predicted_allocated)} | failed: {r.error} | | | | | |")
            continue
        worst = max((e for e in (r.allocated_error, r.reserved_error) if e is not None), key=abs, default=None)
        lines.append(f"| {r.model} | {r.batch} | {r.precision} | {r.optimizer} | {_mib(r.predicted_allocated)} | {_mib(r.measured_allocated)} | "
                     f"{_pct(r.allocated_error)} | {_mib(r.predicted_reserved)} | {_mib(r.measured_reserved)} | {_pct(r.reserved_error)} | {verdict(worst)} |")
    measured = [r for r in report.rows if not r.error]
    within = sum(1 for r in measured if verdict(r.allocated_error) == verdict(r.reserved_error) == "within 5%")
    lines += ["", f"{within} of {len(measured)} measured steps within 5% on both allocated and reserved.", ""]
    if report.fits:
        lines += [f"## fit --device cuda, budget {report.fits[0].budget / 2**30:.0f} GiB", "",
                  "The allocator capped at the budget less the measured context (`set_per_process_memory_fraction`).", "",
                  "| model | fitted batch | runs | 10% more | runs out of memory |", "|---|---:|---|---:|---|"]
        for f in report.fits:
            lines.append(f"| {f.model} | {f.batch} | {_yes(f.runs)} | {f.larger} | {_yes(f.larger_ooms)} |" + (f" {f.error}" if f.error else ""))
    return "\n".join(lines) + "\n"


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


# --- the docs figure (CPU: no GPU needed) -------------------------------------------------------------


def viewer_timeline(snapshot: dict) -> list[int]:
    """The Active Memory Timeline of pytorch.org/memory_viz (MemoryViz.js
    process_alloc_data): blocks active at the end that the trace never
    allocated count from the start; then +size per alloc, -size per free."""
    events = snapshot["device_traces"][0]
    traced = {e["addr"] for e in events if e["action"] == "alloc"}
    total = sum(b["requested_size"] for s in snapshot["segments"] for b in s["blocks"]
                if b["state"] == "active_allocated" and b["address"] not in traced)
    live: dict[int, int] = {}
    curve = []
    for e in events:
        if e["action"] == "alloc":
            live[e["addr"]] = e["size"]
            total += e["size"]
            curve.append(total)
        elif e["action"] == "free_completed" and e["addr"] in live:
            total -= live.pop(e["addr"])
            curve.append(total)
    return curve


def figure(name: str = "resnet18", batch: int = 32, optimizer: str = "adamw", out: Path = HERE / "figures") -> Path:
    """The docs figure: the exported snapshot's viewer curve beside netstat's
    per-op requested / allocated / reserved bytes; the snapshot is written too."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import netstat
    from netstat.memory import walk
    from netstat.snapshot import snapshot, write_snapshot

    step = netstat.analyze(name).training(batch=batch, optimizer=optimizer)
    cuda = step.cuda_memory()
    write_snapshot(cuda, out / f"{name}_{optimizer}_b{batch}_step.pickle")
    curve, gib = viewer_timeline(snapshot(cuda)), 2**30
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    left.plot([v / gib for v in curve], lw=0.8, color="#4e79a7")
    left.set(title="memory_viz's Active Memory Timeline\n(recomputed from the exported snapshot)", xlabel="allocator event", ylabel="GiB")
    lines = [(walk(step.step, step.step.storage_bytes, 1).timeline, f"tensors (requested), peak {cuda.requested_peak / gib:.3f} GiB", "#4e79a7"),
             (cuda.allocated_timeline, f"allocated (blocks), peak {cuda.allocated_peak / gib:.3f} GiB", "#f28e2c"),
             (cuda.reserved_timeline, f"reserved (segments), peak {cuda.reserved_peak / gib:.3f} GiB", "#e15759")]
    for values, label, color in lines:
        right.plot([v / gib for v in values], lw=0.9, label=label, color=color)
    for phase, (first, _) in step.phases.items():
        right.axvline(first, color="grey", lw=0.5, ls=":")
        right.text(first + 2, 0.02, phase, fontsize=8, color="grey", transform=right.get_xaxis_transform())
    right.set(title="netstat: the same step per op, with the caching-allocator model", xlabel="op of the step")
    right.legend(fontsize=8, loc="center right")
    for axis in (left, right):
        axis.set_ylim(bottom=0)
    fig.suptitle(f"{name}, batch {batch}, {optimizer}, fp32: the predicted training step on CUDA (no GPU run)", fontsize=11)
    fig.tight_layout()
    path = out / f"{name}_cuda_step_memory.png"
    fig.savefig(path, dpi=110)
    docs = HERE.parent / "docs" / "figures"  # the docs site serves only docs/: docs/gpu-memory.md shows this copy
    docs.mkdir(exist_ok=True)
    fig.savefig(docs / path.name, dpi=110)
    plt.close(fig)
    return path


# --- the GPU part (not run on CPU) ---------------------------------------------------------------


def measure_context(torch) -> tuple[int, int]:
    """(context bytes, bytes allocated before any model): after a first
    matmul and convolution so that cuBLAS and cuDNN are initialised."""
    x = torch.randn(64, 64, device="cuda")
    (x @ x).sum().item()
    torch.nn.functional.conv2d(torch.randn(1, 3, 32, 32, device="cuda"), torch.randn(8, 3, 3, 3, device="cuda")).sum().item()
    del x
    gc.collect()
    torch.cuda.empty_cache()
    free, total = torch.cuda.mem_get_info()
    return total - free - torch.cuda.memory_reserved(), torch.cuda.memory_allocated()


def train_steps(name: str, batch: int, amp: str | None, optimizer: str, device: str, steps: int = 3, before_last=None):
    """`steps` training steps of `name` on `device` as netstat traces one:
    its build, inputs, optimizer and default loss; `before_last()` runs
    before the last step (to reset the peak statistics). The optimizer."""
    import torch

    import netstat
    from netstat.training import make_optimizer
    from netstat.training.trace import sum_of_outputs

    source = netstat.analyze(name).source
    model = source.instantiate(device).train()
    args, kwargs = source.inputs.with_batch(batch).materialise(device)
    opt = make_optimizer(optimizer)([p for p in model.parameters() if p.requires_grad])
    for i in range(steps):
        if i == steps - 1 and before_last is not None:
            before_last()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=amp == "bf16"):
            loss = sum_of_outputs(model(*args, **kwargs))
        loss.backward()
        opt.step()
        del loss
    return opt


def real_steps(name: str, batch: int, amp: str | None, optimizer: str, steps: int = 3) -> tuple[int, int]:
    """(max allocated, max reserved) of the last of `steps` CUDA training steps, less what was there before the model."""
    import torch

    def reset() -> None:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()

    gc.collect()
    torch.cuda.empty_cache()
    base_alloc, base_reserved = torch.cuda.memory_allocated(), torch.cuda.memory_reserved()
    try:
        train_steps(name, batch, amp, optimizer, "cuda", steps, reset)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base_alloc, torch.cuda.max_memory_reserved() - base_reserved
    finally:
        gc.collect()
        torch.cuda.empty_cache()


def check_row(name: str, batch: int, precision: str, amp: str | None, optimizer: str) -> Row:
    import netstat

    step = netstat.analyze(name).training(batch=batch, optimizer=optimizer, amp=amp)
    cuda = step.cuda_memory()
    row = Row(name, batch, precision, optimizer, cuda.allocated_peak, cuda.reserved_peak)
    try:
        row.measured_allocated, row.measured_reserved = real_steps(name, batch, amp, optimizer)
    except Exception as err:  # an OOM or a model that does not run on CUDA: recorded, the check goes on
        row.error = f"{type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}"
    return row


def check_fit(name: str, budget: int, context: int) -> FitCheck:
    import torch

    import netstat

    result = netstat.fit(name, budget, train=True, device="cuda")
    check = FitCheck(name, budget, result.batch, larger=larger_batch(result.batch))
    _, total = torch.cuda.mem_get_info()
    torch.cuda.set_per_process_memory_fraction(min((budget - context) / total, 1.0))
    try:
        check.runs = _runs(name, check.batch)
        check.larger_ooms = not _runs(name, check.larger)
    except Exception as err:
        check.error = f"{type(err).__name__}: {str(err)[:120]}"
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    return check


def _runs(name: str, batch: int) -> bool:
    import torch

    try:
        real_steps(name, batch, None, "sgd", steps=2)
        return True
    except torch.cuda.OutOfMemoryError:
        gc.collect()
        torch.cuda.empty_cache()
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three models, no fit check")
    parser.add_argument("--limit", type=float, default=480.0, help="stop starting new checks after this many seconds")
    parser.add_argument("--out", type=Path, default=HERE / "gpu_memory.md")
    parser.add_argument("--figure", action="store_true", help="only write the docs figure and its snapshot (CPU)")
    args = parser.parse_args(argv)
    if args.figure:
        print(f"wrote {figure()}")
        return 0
    import torch

    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; nothing measured.", file=sys.stderr)
        return 2
    start = time.monotonic()
    context, baseline = measure_context(torch)
    report = Report(torch.cuda.get_device_name(), torch.__version__, str(torch.version.cuda), context, baseline)
    models = [(m, b) for m, b in MODELS if not args.quick or m in QUICK]
    for name, batch in models:
        for precision, amp in PRECISIONS:
            for optimizer in OPTIMIZERS:
                if time.monotonic() - start > args.limit:
                    break
                report.rows.append(check_row(name, batch, precision, amp, optimizer))
                print(f"{name} {precision} {optimizer}: {asdict(report.rows[-1])}", flush=True)
    for name in [] if args.quick else FIT_MODELS:
        if time.monotonic() - start > args.limit:
            break
        report.fits.append(check_fit(name, FIT_BUDGET, context))
        print(f"fit {name}: {asdict(report.fits[-1])}", flush=True)
    report.seconds = time.monotonic() - start
    args.out.write_text(markdown(report))
    args.out.with_suffix(".json").write_text(json.dumps(asdict(report), indent=1))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
