"""Training-step memory: netstat's prediction against a real CPU step (issue 15).

    python tests/bench/bench_training_memory.py [--batch 4] [--optimizers sgd,adamw]

For each model and optimizer: netstat's predicted peak of one training step
(a meta trace and its liveness walk, `netstat.training`), in two forms --
sizes rounded to the CUDA caching allocator's 512-byte blocks (what `netstat
profile --train` prints) and exact sizes (what a CPU allocator is asked for)
-- beside the peak of one real step on this CPU, measured from the
allocation events torch.profiler records with profile_memory=True
(`netstat.training.measure`: a warm-up step first, so the optimizer state
exists and the gradients were freed, as in a steady training loop).

Writes reports/training_memory.md atomically (netstat.atomic), with every
figure, the command and the environment.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from netstat.atomic import write_text  # noqa: E402 - after the path
from netstat.render import human_bytes  # noqa: E402

REPORT = ROOT / "reports" / "training_memory.md"
MODELS = ("resnet18", "mobilenet_v2", "efficientnet_b0", "densenet121", "torchvision:vit_b_16")
# models the walk was not written around (issue 25): depthwise, large-kernel and grouped convolutions, an LSTM
HELD_OUT = ("timm:edgenext_xx_small", "timm:convnext_atto", "timm:inception_next_atto", "timm:efficientformer_l1", "timm:mobilevit_xxs",
            "timm:ghostnet_100", "timm:regnetx_002", "timm:lcnet_050", "timm:repvit_m0_9", "timm:fastvit_t8", "timm:resnet10t",
            "torchvision:shufflenet_v2_x0_5", "torchvision:mnasnet0_5", "timm:sequencer2d_s")
TOLERANCE = 0.03


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def measure(name: str, batch: int, optimizer: str) -> dict:
    from netstat.spec import resolve
    from netstat.training import training_profile
    from netstat.training.measure import measure_step
    from netstat.training.memory import walk

    source = resolve(name)
    start = time.perf_counter()
    predicted = training_profile(source, batch, optimizer)
    trace_s = time.perf_counter() - start
    exact = walk(predicted.step, block=1)
    before = walk(predicted.step, workspace=False)
    real = measure_step(source, batch, optimizer)
    return {
        "model": name, "optimizer": optimizer, "predicted": predicted.peak_bytes, "exact": exact.peak_bytes, "real": real.peak_bytes,
        "before": before.peak_bytes, "rnn": any("recurrent layer" in n for n in predicted.notes),
        "baseline": real.baseline_bytes, "persistent": predicted.totals["persistent_bytes"], "saved": predicted.totals["saved_bytes"],
        "peak_at": f"{predicted.peak_at.phase}: {predicted.peak_at.layer or '(model)'} ({predicted.peak_at.op})",
        "events": real.events, "trace_s": trace_s, "step_s": real.seconds,
    }


def _pct(a: int, b: int) -> str:
    return f"{100 * (a - b) / b:+.2f}%"


def render(rows: list[dict], batch: int, command: str) -> str:
    import torch

    lines = [
        "# Training-step memory: prediction vs a real CPU step",
        "",
        f"Command: `{command}` (batch {batch}; {time.strftime('%Y-%m-%d')}).",
        "",
        f"Environment: torch {torch.__version__}, Python {platform.python_version()}, {platform.machine()} "
        f"{platform.processor() or ''} with {os.cpu_count()} cores, {torch.get_num_threads()} intra-op threads; CPU only (no GPU was lent).",
        "",
        "- **Predicted**: `netstat profile MODEL --train --batch N --optimizer OPT`: the peak of the liveness walk over one "
        "traced step (meta), sizes rounded up to 512-byte blocks as the CUDA caching allocator does.",
        "- **Exact sizes**: the same walk with unrounded sizes, what the CPU allocator is asked for.",
        "- **Without workspaces**: the walk before issue 25, without oneDNN's convolution-backward workspace (`netstat.workspace`).",
        "- **Measured**: one real step on this CPU (`netstat.training.measure`): the bytes allocated before it (parameters, "
        "buffers, input, optimizer state) plus the highest running sum of the allocation events torch.profiler records with "
        "`profile_memory=True`. Warm-up step first; attention on PyTorch's reference (math) kernel, as counted; convolutions "
        "on the default CPU kernel (oneDNN).",
        "",
        "| Model | Optimizer | Predicted | Exact sizes | Measured | Predicted vs measured | Exact vs measured | Without workspaces vs measured | Before the step | Saved for backward | Peak in | Events |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['optimizer']} | {r['predicted']:,} ({human_bytes(r['predicted'])}) | {r['exact']:,} | {r['real']:,} ({human_bytes(r['real'])}) "
            f"| {_pct(r['predicted'], r['real'])} | {_pct(r['exact'], r['real'])} | {_pct(r['before'], r['real'])} | {human_bytes(r['baseline'])} | {human_bytes(r['saved'])} | {r['peak_at']} | {r['events']:,} |"
        )
    modelled = [r for r in rows if not r["rnn"]]
    worst = max(abs(r["predicted"] - r["real"]) / r["real"] for r in modelled) if modelled else 0.0
    lines += [
        "",
        f"Largest difference: {100 * worst:.2f}% ({'within' if worst <= TOLERANCE else 'OUTSIDE'} the {100 * TOLERANCE:.0f}% of the acceptance)"
        + (", leaving out the models with a recurrent layer: " + ", ".join(f"{r['model']} {_pct(r['predicted'], r['real'])}" for r in rows if r["rnn"])
           + ", an upper bound by design (oneDNN's LSTM workspace is added on top of the reference cell's saved tensors; "
           "the profile says so in a note)." if len(modelled) < len(rows) else "."),
        "",
        "## What the remaining difference is",
        "",
        "- Kernel workspaces: oneDNN's convolution backward works on channel-blocked copies of its incoming gradient "
        "and input (and weight), allocated and freed inside the op through the same allocator; the prediction adds them at "
        "the op by a rule from shapes (`netstat.workspace`, checked against real kernels in `tests/test_workspace.py`); the "
        "'Without workspaces' column is the walk without them (before issue 25). What is left: smaller scratch buffers "
        "(batch-norm's backward reductions, a 1x1 weight gradient's scratch, a channels-last kernel's weight copies), "
        "a few hundred KiB to 3 MiB here. On a GPU the analogue is the cuDNN / cuBLAS workspace, which is not included.",
        "- Recurrent layers: PyTorch's CPU LSTM kernel (oneDNN's `mkldnn_rnn_layer`) keeps a workspace for backward "
        "(gates and states of every step, in its own layout); netstat traces the reference cell and adds that workspace "
        "(`netstat.workspace.lstm_workspace`, exact against the kernel) from each call's forward to its backward, on top: "
        "an upper bound. GRU and RNN run PyTorch's own cells. The profile carries `netstat.workspace.RNN_NOTE`.",
        "- Release order inside a backward node: autograd frees a node's incoming gradient when the node has finished, the "
        "walk after the last op that reads it; a node of several ops (a linear layer's backward: two products and a sum) "
        "holds it a little longer for real.",
        "- The 512-byte rounding adds at most 511 bytes per allocation to the prediction (the 'Exact sizes' column has none).",
        "",
        "Trace time per model (meta, one step): " + ", ".join(f"{r['model']} {r['trace_s']:.1f} s" for r in rows if r["optimizer"] == rows[0]["optimizer"]) + ".",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--optimizers", default="sgd,adamw")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--held-out", action="store_true", help="the held-out models of issue 25 instead of --models")
    parser.add_argument("--output", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    rows = []
    for name in HELD_OUT if args.held_out else args.models.split(","):
        for optimizer in args.optimizers.split(","):
            log(f"{name} {optimizer} at batch {args.batch}")
            rows.append(measure(name, args.batch, optimizer))
            r = rows[-1]
            log(f"  predicted {r['predicted']:,}  measured {r['real']:,}  ({_pct(r['predicted'], r['real'])})")
    command = "python tests/bench/bench_training_memory.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    write_text(args.output, render(rows, args.batch, command))
    log(f"wrote {args.output}")
    return 0 if all(abs(r["predicted"] - r["real"]) / r["real"] <= TOLERANCE for r in rows if not r["rnn"]) else 1


if __name__ == "__main__":
    sys.exit(main())
