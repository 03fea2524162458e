"""Training cost: `profile --train`, `compare --train` and `netstat fit`.
Parse, call the library (netstat.training), render."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import typer

from netstat.cli._app import SEQ_LEN_HELP, app, check_plot_path, check_format, parse_inputs, parse_model_kwargs, with_seq_len
from netstat.errors import UsageError
from netstat.render import emit, note, working


@dataclass
class TrainingOptions:
    """The training flags of `profile` / `compare`, as given."""

    train: bool
    batch: int | None
    optimizer: str | None
    amp: str | None
    dtype: str | None
    plot: Path | None
    snapshot: Path | None = None  # profile: write the step as a PyTorch memory snapshot
    cuda: bool = False  # --device cuda: add the CUDA caching allocator's prediction (the step is still traced on meta)

    def checked(self, device: str = "meta", allow_cuda: bool = False, **others: bool | str) -> "TrainingOptions | None":
        """Self when --train is given (None without it), or a UsageError for a
        flag that needs --train or cannot go with it (`others`: the
        command's other options, by name, given or not). `allow_cuda`: the
        command shows the CUDA allocator's prediction for --device cuda."""
        named = {"--batch": self.batch, "--optimizer": self.optimizer, "--amp": self.amp, "--dtype": self.dtype, "--plot": self.plot, "--snapshot": self.snapshot}
        given = [flag for flag, value in named.items() if value is not None]
        if not self.train:
            if given:
                raise UsageError(f"{', '.join(given)} describe{'s' if len(given) == 1 else ''} a training step: give --train with {'it' if len(given) == 1 else 'them'}.")
            return None
        clashes = [f"--{name}" for name, value in others.items() if value not in (False, None, "layer")]
        if clashes:
            raise UsageError(f"--train cannot be combined with {', '.join(clashes)}.", hint="Run the command without --train for them.")
        target = str(device).strip().lower()
        self.cuda = allow_cuda and target == "cuda"
        if target != "meta" and not self.cuda:
            hint = "Leave out --device, or give --device cuda for the CUDA allocator's prediction." if allow_cuda else "Leave out --device."
            raise UsageError("--train traces the step on the meta device only (nothing is allocated).", hint=hint)
        if self.plot is not None:
            check_plot_path(self.plot)
        if self.snapshot is not None:
            from netstat.snapshot import check_snapshot_path

            check_snapshot_path(self.snapshot)
        from netstat.training import check_arguments

        check_arguments(self.batch, self.optimizer or "sgd", self.dtype or "fp32", self.amp, None)
        return self

    def arguments(self) -> dict:
        return {"batch": self.batch, "optimizer": self.optimizer or "sgd", "dtype": self.dtype or "fp32", "amp": self.amp}


def profile_training(analysis, options: TrainingOptions, depth: int, fmt: str, output: Path | None = None) -> None:
    """`netstat profile MODEL --train`: the step per layer and in total, one trace."""
    from netstat.render.training import training_layers_table, training_totals_table

    with working(f"Tracing a training step of {analysis.name}"):
        result = analysis.training(**options.arguments())
    for line in result.notes:
        note(f"[yellow]Note:[/] {line}")
    if options.plot is not None:
        from netstat.render.figures import training_memory_figure

        note(f"Memory over the step written to {training_memory_figure(result, options.plot)}")
    if options.snapshot is not None:
        from netstat.snapshot import write_snapshot

        note(f"The predicted step as a PyTorch memory snapshot written to {write_snapshot(result.cuda_memory(), options.snapshot)} (open it at pytorch.org/memory_viz)")
    if fmt == "html":
        return _training_page(analysis, result, output)
    # The document is the profile's plus the step: its forward trace only when one is written.
    data = result.document(analysis.profile.to_dict()) if fmt == "json" else {}
    tables = [training_layers_table(result, depth), training_totals_table(result)]
    if options.cuda:
        from netstat.render.training import cuda_memory_table

        tables.append(cuda_memory_table(result))
    emit(tables, data, fmt)


def _training_page(analysis, result, output: Path | None) -> None:
    """The step's HTML page: the `--format json` document (with the forward's
    receptive field), the forward's graph and the live bytes after each op."""
    from netstat.graph import build_graph
    from netstat.render import emit_page
    from netstat.render.html import training_page

    data = result.document({**analysis.profile.to_dict(), "receptive_field": analysis.receptive_field.to_dict()})
    graph = build_graph(analysis.profile, analysis.receptive_field).to_dict()
    emit_page(training_page(data, graph, result.timeline, result.phases), output)


def compare_training(comparison, options: TrainingOptions, fmt: str) -> None:
    """`netstat compare A B --train`: one training step of each model, side by side."""
    from netstat.render.training import training_compare_table
    from netstat.training.memory import ALLOCATOR_NOTE

    with working("Tracing the training steps"):
        results = [a.training(**options.arguments()) for a in comparison.analyses]
    for r in results:
        for line in r.notes:
            if line != ALLOCATOR_NOTE:  # the same for every model: once, below
                note(f"[yellow]Note ({r.model}):[/] {line}")
    note(f"[yellow]Note:[/] {ALLOCATOR_NOTE}")
    data: dict = {"models": []}
    if fmt == "json":  # the compare document (its forward traces only when written), each model with its step
        data = comparison.to_dict()
        for entry, r in zip(data["models"], results):
            entry["training"] = r.to_dict()
    emit([training_compare_table(results)], data, fmt)


@app.command()
def fit(
    model: str = typer.Argument(..., help="Zoo name or alias, torchvision:NAME, timm:NAME, package.module:factory or path/to/file.py:factory."),
    memory: str = typer.Option(..., "--memory", "-m", help="The memory budget: 24GiB, 24GB, 1.5TiB, or bytes."),
    train: bool = typer.Option(False, "--train", help="Fit one training step (default: an inference forward)."),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="--train: sgd (default), sgdm, adam, adamw or none."),
    amp: Optional[str] = typer.Option(None, "--amp", help="--train: activations under autocast to bf16 or fp16."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="--train: the parameters' precision, fp32 (default), bf16 or fp16."),
    input_shape: Optional[List[str]] = typer.Option(None, "--input", "-i", help="Input shape of one sample, batch first (the batch is searched); once per forward argument."),
    model_kwargs: Optional[List[str]] = typer.Option(None, "--model-kwargs", help="KEY=VALUE for the model's builder (a Python literal), repeatable."),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", help=SEQ_LEN_HELP),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json, csv or md."),
    device: str = typer.Option("meta", "--device", help="meta: the predicted peak of live tensors; cuda: what a CUDA GPU must hold (the caching allocator's reserved bytes + context + workspace; no GPU needed)."),
) -> None:
    """The largest batch whose predicted peak memory fits a budget, for training or inference (each probe a meta trace)."""
    from netstat.analysis import analyze
    from netstat.render.training import fit_table
    from netstat.training.fit import fit as run_fit
    from netstat.training.fit import parse_memory

    fmt = check_format(fmt)
    budget = parse_memory(memory)
    if not train and (optimizer or amp or dtype):
        raise UsageError("--optimizer, --amp and --dtype describe a training step: give --train with them.")
    inputs, builder = parse_inputs(input_shape), parse_model_kwargs(model_kwargs)
    analysis = analyze(with_seq_len([model], seq_len, builder, inputs)[0], inputs, builder)
    with working(f"Probing batches of {model}"):
        result = run_fit(analysis, budget, train=train, optimizer=optimizer or "sgd", dtype=dtype or "fp32", amp=amp, device=device)
    for line in result.notes:
        note(f"[yellow]Note:[/] {line}")
    emit([fit_table(result)], result.to_dict(), fmt)
