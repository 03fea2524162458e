"""Every figure netstat draws: the report's (params vs MAdds, RF growth,
latency vs MAdds) and `netstat rf --plot`'s (RF growth, the ERF heat map).

One way to make a figure (`new_figure`: a matplotlib `Figure` on its own Agg
canvas, no pyplot and no global backend) and one way to write it
(`save_figure`: atomic, the suffix picks PNG / PDF / SVG, and no software or
date metadata, so the same data gives the same bytes). Only drawing: every
number arrives computed (netstat.check, netstat.rf, netstat.erf, the
benchmark documents).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

from netstat.atomic import atomic_write

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")
# Per format, the metadata keys matplotlib would fill with its version or the date.
_METADATA = {
    "png": {"Software": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
    "svg": {"Creator": None, "Date": None},
}
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


# --------------------------------------------------------------------------- canvas and file


def new_figure(width: float = 9.0, height: float = 6.0):
    """A figure on its own Agg canvas, 150 dpi: nothing global is touched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=150)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: str | os.PathLike, source: str | None = None) -> Path:
    """Write `fig` atomically, cropped to its contents; the suffix picks the
    format (`FIGURE_SUFFIXES`). `source`, for a PNG: a digest of the data
    plotted, kept in its Source text chunk (`figure_source`). A file that
    cannot be written is a NetstatError naming `path` (`render.path_error`)."""
    import matplotlib

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if f".{fmt}" not in FIGURE_SUFFIXES:
        raise ValueError(f"Cannot write a figure to '{path}': use a file ending in {', '.join(FIGURE_SUFFIXES)}.")
    metadata: dict[str, str | None] = dict(_METADATA[fmt])
    if source is not None and fmt == "png":
        metadata["Source"] = source
    try:
        with matplotlib.rc_context({"svg.hashsalt": "netstat"}):  # SVG ids: fixed, not random
            atomic_write(path, functools.partial(_savefig, fig, fmt, metadata), binary=True)
    except OSError as err:  # a folder, a name too long, a full disk: one sentence naming `path`
        from netstat.render import path_error

        raise path_error(err, "write the figure", path) from None
    return path


def _savefig(fig, fmt: str, metadata: dict[str, Any], handle) -> None:
    fig.savefig(handle, format=fmt, metadata=metadata, bbox_inches="tight")


def figure_source(path: Path) -> str | None:
    """The Source text chunk of a PNG that `save_figure` wrote, or None."""
    from PIL import Image

    with Image.open(path) as image:
        return image.text.get("Source")


# --------------------------------------------------------------------------- axes


def _minor_label(eng, value: float, pos: int) -> str:
    """An engineering label for the 2x and 5x minor ticks of each decade only."""
    mantissa = value / 10 ** math.floor(math.log10(value)) if value > 0 else 0
    return eng(value, pos) if round(mantissa, 6) in (2, 5) else ""


def _engineering(*axes) -> None:
    """Log-axis labels as 10 M, 1 G instead of 10^7 (major and minor ticks)."""
    from matplotlib.ticker import EngFormatter, FuncFormatter

    eng = EngFormatter(sep=" ")
    for axis in axes:
        axis.set_major_formatter(eng)
        axis.set_minor_formatter(FuncFormatter(functools.partial(_minor_label, eng)))


def _plain_label(value: float, pos: int) -> str:
    return f"{value:g}"


def _plain_numbers(*axes) -> None:
    """Log-axis labels as 2, 3, 40 instead of 2 x 10^0."""
    from matplotlib.ticker import FuncFormatter

    for axis in axes:
        axis.set_major_formatter(FuncFormatter(_plain_label))
        axis.set_minor_formatter(FuncFormatter(_plain_label))


# The params-vs-MAdds figure groups the zoo's families into a few designs (one
# colour and marker each) rather than one legend entry per family.
_DESIGNS = (
    ("plain stacks: LeNet, AlexNet, ZFNet, VGG, NiN", ("lenet", "alexnet", "zfnet", "vgg", "nin")),
    ("multi-branch: GoogLeNet, Inception, Xception, FractalNet", ("googlenet", "inception", "xception", "fractalnet")),
    ("residual: ResNet, pre-act, wide, ResNeXt, DPN", ("resnet", "resnet_cifar", "resnet_v2", "wide_resnet", "resnext", "dpn")),
    ("channel attention: SE, CBAM, SK", ("senet", "cbam", "sknet")),
    ("dense: DenseNet, CondenseNet", ("densenet", "condensenet")),
    ("mobile: MobileNet, ShuffleNet, SqueezeNet, ShiftNet", ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3", "shufflenet_v1", "shufflenet_v2", "squeezenet", "shiftnet")),
    ("scaled: EfficientNet, EfficientNetV2", ("efficientnet", "efficientnet_v2")),
    ("segmentation: FCN, SegNet, U-Net, DeepLab, PSPNet", ("fcn", "deconvnet", "segnet", "unet", "deeplab", "pspnet")),
    ("detection: YOLO, SSD, DSOD", ("yolo", "ssd", "dsod")),
)
_OTHER_DESIGN = "other"
_DESIGN_STYLES = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "p")
# The points named on the figure: the models people compare; zoo.md lists every one.
_NOTABLE = ("lenet5", "alexnet", "vgg16", "googlenet", "inception_v3", "resnet18", "resnet50", "resnet152", "resnet20_cifar", "wrn_28_10",
            "densenet121", "se_resnet50", "mobilenet_v1", "mobilenet_v1_025", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
            "shufflenet_v2_x1_0", "squeezenet1_0", "efficientnet_b0", "efficientnet_b7", "xception", "resnext101_32x8d", "yolo_v1",
            "ssd300_vgg16", "deeplabv3_resnet50", "unet", "fcn8s")


def design_of(family: str | None) -> str:
    """The design group of a zoo family in the params-vs-MAdds figure (`_DESIGNS`)."""
    return next((label for label, families in _DESIGNS if family in families), _OTHER_DESIGN)


def _design_styles() -> dict[str, tuple[Any, str]]:
    """A distinct colour and marker per design group (tab10's grey for "other" only)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    colours = [cmap(i) for i in (0, 1, 2, 3, 4, 5, 6, 8, 9, 7)]
    labels = [label for label, _ in _DESIGNS] + [_OTHER_DESIGN]
    return {label: (colours[i % len(colours)], _DESIGN_STYLES[i % len(_DESIGN_STYLES)]) for i, label in enumerate(labels)}


# Where a label may go around its point (offset in points, alignment), in the order tried.
_LABEL_SPOTS = ((4, 3, "left", "bottom"), (4, -3, "left", "top"), (-4, 3, "right", "bottom"), (-4, -3, "right", "top"),
                (6, 0, "left", "center"), (-6, 0, "right", "center"), (0, 6, "center", "bottom"), (0, -6, "center", "top"))


def _place_labels(ax, labelled: Sequence[tuple[str, float, float]], fontsize: float = 6.5) -> None:
    """Name each point (text, x, y) at the first spot around it (`_LABEL_SPOTS`)
    where the name overlaps no name already placed and no plotted point; at
    the first spot when none is free. Deterministic: points in the order given."""
    import numpy as np

    renderer = ax.figure.canvas.get_renderer()
    points = np.concatenate([c.get_offsets() for c in ax.collections]) if ax.collections else np.empty((0, 2))
    pixels = ax.transData.transform(points) if len(points) else points
    taken: list = []
    for text, x, y in labelled:
        for i, (dx, dy, ha, va) in enumerate(_LABEL_SPOTS):
            label = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va, fontsize=fontsize, zorder=4)
            box = label.get_window_extent(renderer).expanded(1.05, 1.1)
            crowded = any(box.overlaps(other) for other in taken) or any(box.contains(px, py) for px, py in pixels)
            if not crowded or i == len(_LABEL_SPOTS) - 1:
                if crowded:  # nowhere free: the first spot
                    label.remove()
                    dx, dy, ha, va = _LABEL_SPOTS[0]
                    label = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va, fontsize=fontsize, zorder=4)
                    box = label.get_window_extent(renderer)
                taken.append(box)
                break
            label.remove()


# --------------------------------------------------------------------------- the report's figures


def params_vs_madds_figure(rows: Sequence[dict[str, Any]], path: Path) -> bool:
    """`params_vs_madds_plot(rows)` written to `path`; False (nothing
    written) when no row has both numbers."""
    fig = params_vs_madds_plot(rows)
    if fig is None:
        return False
    save_figure(fig, path)
    return True


def params_vs_madds_plot(rows: Sequence[dict[str, Any]]):
    """Parameters against MAdds, log-log, one colour and marker per design
    group (`_DESIGNS`), the notable models named where their names collide
    with nothing (`_place_labels`); None when no row has both numbers."""
    from matplotlib.ticker import NullFormatter

    points = [r for r in rows if r.get("params") and r.get("madds")]
    if not points:
        return None
    fig = new_figure(10, 7)
    ax = fig.add_subplot()
    for label, (colour, marker) in _design_styles().items():
        mine = [r for r in points if design_of(r.get("family")) == label]
        if mine:
            ax.scatter([r["madds"] for r in mine], [r["params"] for r in mine], color=colour, marker=marker, s=60 if marker == "*" else 32,
                       label=f"{label} ({len(mine)})", zorder=3, edgecolors="white", linewidths=0.4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _engineering(ax.xaxis, ax.yaxis)
    ax.xaxis.set_minor_formatter(NullFormatter())  # six decades: the decade labels only
    ax.set_xlabel("MAdds (multiply-accumulates, default input)")
    ax.set_ylabel("parameters")
    ax.set_title(f"Parameters vs MAdds: {len(points)} zoo models (named: the common ones; zoo.md lists all)", fontsize=10)
    ax.grid(True, which="both", linewidth=0.3, alpha=0.5)
    ax.legend(fontsize=7, loc="lower right", frameon=True, framealpha=0.95, title="design (models)", title_fontsize=7)
    ax.autoscale_view()
    _place_labels(ax, [(r["name"], r["madds"], r["params"]) for r in sorted(points, key=lambda r: r["name"]) if r["name"] in _NOTABLE])
    return fig


def rf_per_layer(result) -> list[tuple[str, float]]:
    """(leaf layer, largest local RF over the axes) in execution order, from
    a `netstat.rf.RFResult`; global layers and layers without one are left out."""
    out = []
    for layer in result.layers:
        if not layer.is_leaf or layer.rf is None:
            continue
        sizes = [v for v in (layer.rf.to_dict().get("rf") or []) if v is not None]
        if sizes:
            out.append((layer.name, float(max(sizes))))
    return out


def rf_growth_figure(results: Sequence[Any], path: str | os.PathLike) -> bool:
    """The largest RF reached so far along the leaf layers, one line per
    `netstat.rf.RFResult` (labelled by its model); False (nothing written)
    when none has a local RF."""
    series = {res.model: layers for res in results if (layers := rf_per_layer(res))}
    if not series:
        return False
    fig = new_figure(9, 5.5)
    ax = fig.add_subplot()
    for name, layers in series.items():
        reached, running = [], 0.0
        for _, rf in layers:  # parallel branches start small again: plot the largest RF so far
            running = max(running, rf)
            reached.append(running)
        ax.plot(range(1, len(layers) + 1), reached, linewidth=1.2, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("leaf layer, in execution order")
    ax.set_ylabel("largest receptive field so far (input pixels)")
    ax.set_title("Receptive-field growth")
    ax.grid(True, which="both", linewidth=0.3, alpha=0.5)
    ax.legend(fontsize=7, frameon=False)
    save_figure(fig, path)
    return True


def _device_label(r: dict[str, Any]) -> str:
    """The machine a measurement ran on: 'NVIDIA H100 80GB HBM3 (GPU)' or 'AMD EPYC (CPU, 2 usable cores)'."""
    env = r.get("env") or {}
    gpu = env.get("gpu")
    if str(r.get("device", "")).startswith("cuda") and isinstance(gpu, dict) and gpu.get("name"):
        return f"{gpu['name']} (GPU)"
    cores = env.get("usable_cores")
    return f"{env.get('cpu') or r.get('device', '?')} (CPU{f', {cores} usable cores' if cores else ''})"


def _series_label(r: dict[str, Any]) -> str:
    """The settings of a measurement on its machine: dtype, batch, CPU threads, compile, layout, mode."""
    env = r.get("env") or {}
    parts = [str(r.get("dtype", "?"))] + ([f"batch {r.get('batch', '?')}"] if r.get("batch") != 1 else [])
    if not str(r.get("device", "")).startswith("cuda") and env.get("threads"):
        parts.append(f"{env['threads']} thread{'s' if env['threads'] != 1 else ''}")
    if env.get("compile"):
        parts.append(f"compile {env['compile']}")
    if env.get("channels_last"):
        parts.append("channels_last")
    if r.get("mode") not in (None, "latency"):
        parts.append(str(r["mode"]))
    return " · ".join(parts)


def _latency_series(results: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The measurements the latency figure plots, by (machine, settings):
    batch-1 latency measurements when there are any (the usual question), else all."""
    single = [r for r in results if r.get("batch") == 1 and r.get("mode", "latency") == "latency"]
    series: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in single or results:
        series.setdefault((_device_label(r), _series_label(r)), []).append(r)
    return series


def latency_source(results: Sequence[dict[str, Any]]) -> str:
    """A digest of what the latency figure plots (machine, settings, model, MAdds, median),
    stored in the PNG so that a stale figure can be told from a fresh one."""
    points = sorted((*key, str(r.get("model", "")), r["madds"], r["latency_ms"]["median"]) for key, rs in _latency_series(results).items() for r in rs)
    return "netstat bench points sha256:" + hashlib.sha256(json.dumps(points).encode()).hexdigest()[:16]


def _latency_key(r: dict[str, Any]) -> tuple:
    return (r["madds"], r.get("model", ""))


def _latency_panel(ax, series: dict[str, list[dict[str, Any]]], device: str) -> None:
    """One machine's measurements: a line per setting through its models
    (by MAdds), each model named once above the axes, on a light vertical guide."""
    from matplotlib.ticker import NullLocator

    models: dict[str, float] = {}
    for i, label in enumerate(sorted(series)):
        mine = sorted(series[label], key=_latency_key)
        ax.plot([r["madds"] for r in mine], [r["latency_ms"]["median"] for r in mine], marker=_MARKERS[i % len(_MARKERS)], markersize=5,
                linewidth=0.8, label=label, zorder=3)
        models.update((str(r.get("model", "")), r["madds"]) for r in mine)
    ax.set_xscale("log")
    named = sorted(models.items(), key=lambda item: item[1])
    for _, madds in named:
        ax.axvline(madds, color="grey", linewidth=0.5, linestyle=":", zorder=1)
    top = ax.secondary_xaxis("top")  # the models, named once each above their MAdds
    top.set_xticks([madds for _, madds in named], [name for name, _ in named], rotation=30, ha="left", fontsize=7)
    top.xaxis.set_minor_locator(NullLocator())
    ax.set_yscale("log")
    _engineering(ax.xaxis)
    _plain_numbers(ax.yaxis)
    ax.set_xlabel("MAdds per call")
    ax.set_ylabel("median latency (ms)")
    ax.set_title(device, fontsize=9)
    ax.grid(True, which="both", linewidth=0.3, alpha=0.5)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(0.0, -0.14), title="setting: dtype · CPU threads · compile · memory layout", title_fontsize=7,
              alignment="left")


def latency_figure(results: Sequence[dict[str, Any]], path: Path) -> bool:
    """Median latency against MAdds: one panel per machine (a CPU, with its
    threads in each setting, and a GPU are never mixed), one line per setting
    (`_latency_series`); the PNG records `latency_source(results)`."""
    series = _latency_series(results)
    if not series:
        return False
    devices = sorted({device for device, _ in series})
    fig = new_figure(6 * len(devices), 6.5)
    for ax, device in zip(fig.subplots(1, len(devices), squeeze=False)[0], devices):
        _latency_panel(ax, {label: rs for (d, label), rs in series.items() if d == device}, device)
    batches = sorted({r.get("batch") for rs in series.values() for r in rs}, key=str)
    fig.suptitle(f"Latency vs MAdds{', batch 1' if batches == [1] else ''}: one panel per machine", fontsize=11)
    fig.tight_layout()
    save_figure(fig, path, latency_source(results))
    return True


# --------------------------------------------------------------------------- the effective RF


def _erf_1d_figure(e, grad_map, path: str | os.PathLike) -> Path:
    fig = new_figure(8, 3.5)
    ax = fig.add_subplot()
    ax.plot(range(len(grad_map)), grad_map, color="black", linewidth=1)
    c = float(e.center[0])
    for radius, style in ((e.r50, "-"), (e.r95, "--")):
        ax.axvspan(c - radius, c + radius, alpha=0.12 if style == "--" else 0.25, color="tab:blue")
    st = e.rf
    if st is not None and st.axes[0].size is not None:
        half = (float(st.axes[0].size) - 1) / 2
        ax.axvline(c - half, color="tab:red", linestyle=":")
        ax.axvline(c + half, color="tab:red", linestyle=":")
    ax.set_xlim(-0.5, len(grad_map) - 0.5)
    ax.set_xlabel("input position")
    ax.set_ylabel("share of |gradient|")
    ax.set_title(f"{e.model} · {e.layer}: effective RF (r50 {e.r50:.1f}, r95 {e.r95:.1f}); red: analytic RF", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def _analytic_box(ax, e, shape, rf_text: str) -> str:
    """Draw the analytic RF box around the centre; the caption for it."""
    from matplotlib.patches import Rectangle

    st = e.rf
    if st is None or not all(a.size is not None for a in st.axes[:2]):
        return "white: analytic RF"
    cy, cx = (float(c) for c in e.center[:2])
    hh, hw = (float(st.axes[0].size) - 1) / 2, (float(st.axes[1].size) - 1) / 2
    ax.add_patch(Rectangle((cx - hw - 0.5, cy - hh - 0.5), 2 * hw + 1, 2 * hh + 1, fill=False, edgecolor="white", linestyle=":", linewidth=1.2))
    if cy - hh < 0 and cx - hw < 0 and cy + hh >= shape[0] and cx + hw >= shape[1]:
        return f"analytic RF {rf_text} px: covers the whole input"
    return "white: analytic RF"


def erf_figure(e, path: str | os.PathLike, rf_text: str = "") -> Path:
    """Heat map of an effective RF (`netstat.erf.ERFResult`, 1-D or 2-D)
    with the analytic RF box and the 50% / 95% mass circles; `rf_text`: the
    analytic RF's size as the tables print it."""
    import numpy as np
    from matplotlib.patches import Circle

    grad_map = np.asarray(e.heatmap)
    if grad_map.ndim == 1:
        return _erf_1d_figure(e, grad_map, path)
    if grad_map.ndim != 2:
        raise ValueError("The ERF figure needs a 1-D or 2-D input.")
    fig = new_figure(6.5, 6)
    ax = fig.add_subplot()
    shown = np.log10(grad_map + grad_map.max() * 1e-6) if grad_map.max() > 0 else grad_map
    im = ax.imshow(shown, cmap="magma", origin="upper", interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="log10 share of |gradient|")
    cy, cx = (float(c) for c in e.center[:2])
    ax.plot([cx], [cy], marker="+", color="cyan", markersize=10)
    for radius, style in ((e.r50, "-"), (e.r95, "--")):
        ax.add_patch(Circle((cx, cy), radius, fill=False, edgecolor="cyan", linestyle=style, linewidth=1.2))
    box = _analytic_box(ax, e, grad_map.shape, rf_text)
    ax.set_xlim(-0.5, grad_map.shape[1] - 0.5)
    ax.set_ylim(grad_map.shape[0] - 0.5, -0.5)
    ax.set_title(f"{e.model} · {e.layer}: effective RF (r50 {e.r50:.1f}, r95 {e.r95:.1f} px)\n{box}; {e.seeds} seeds", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


# --------------------------------------------------------------------------- a training step's memory

_PHASE_COLOURS = {"forward": "tab:blue", "backward": "tab:orange", "optimizer": "tab:green"}
_SAVED_BARS = 40  # at most this many layers in the saved-bytes chart


def saved_bars(profile) -> list[tuple[str, int]]:
    """(layer, saved bytes) for the saved-bytes chart: the deepest module
    level whose layers (and shallower leaves) number at most _SAVED_BARS, in
    execution order, from a `netstat.training.TrainingProfile`."""
    chosen: list = []
    for depth in range(1, max((r.depth for r in profile.layers), default=0) + 1):
        rows = [r for r in profile.layers if r.depth == depth or (r.is_leaf and 0 < r.depth < depth)]
        if len(rows) > _SAVED_BARS and chosen:
            break
        chosen = rows
    order = {r.path: i for i, r in enumerate(profile.layers)}
    return [(r.name, r.saved_bytes) for r in sorted(chosen, key=lambda r: order[r.path])]


def training_memory_figure(profile, path: str | os.PathLike) -> Path:
    """`training_memory_plot(profile)` written to `path`."""
    return save_figure(training_memory_plot(profile), path)


def training_memory_plot(profile):
    """Live memory over the step's ops with the forward / backward /
    optimizer phases shaded and the peak marked; below, the bytes each layer
    saves for backward."""
    fig = new_figure(10, 7.5)
    top, bottom = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 2]})
    gib = 2**30
    top.plot(range(len(profile.timeline)), [b / gib for b in profile.timeline], color="black", linewidth=0.9)
    for phase, (start, end) in profile.phases.items():
        if end > start:
            top.axvspan(start - 0.5, end - 0.5, color=_PHASE_COLOURS[phase], alpha=0.12, label=phase)
    at = profile.peak_at
    if at.index >= 0:
        top.plot([at.index], [profile.peak_bytes / gib], marker="v", color="tab:red", markersize=8, zorder=4)
        top.annotate(f"peak {profile.peak_bytes / gib:.2f} GiB\n{at.phase}: {at.layer or '(model)'}", (at.index, profile.peak_bytes / gib),
                     xytext=(10, -14), textcoords="offset points", fontsize=7, color="tab:red", va="top", zorder=5,
                     bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": "tab:red", "linewidth": 0.6})
    top.axhline(profile.totals["persistent_bytes"] / gib, color="grey", linestyle=":", linewidth=0.8, label="parameters, buffers, state, input")
    top.set_xlim(-0.5, max(len(profile.timeline) - 0.5, 0.5))
    top.set_ylim(0, profile.peak_bytes / gib * 1.12)
    top.set_xlabel("op of the step, in order")
    top.set_ylabel("live memory (GiB)")
    top.set_title(f"{profile.model}: one training step, batch {profile.batch}, {profile.optimizer}, {profile.amp or profile.dtype}", fontsize=10, pad=22)
    # Above the axes, on white: each phase's patch looks as its region does (over another region it would not).
    top.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=4, frameon=False, borderaxespad=0.2)
    top.grid(True, linewidth=0.3, alpha=0.5)
    bars = saved_bars(profile)
    bottom.bar(range(len(bars)), [b / 2**20 for _, b in bars], color="tab:blue")
    bottom.set_xticks(range(len(bars)), [name for name, _ in bars], rotation=90, fontsize=7 if len(bars) <= 20 else 5.5)
    bottom.set_ylabel("saved for backward (MiB)")
    bottom.grid(True, axis="y", linewidth=0.3, alpha=0.5)
    fig.tight_layout()
    return fig
