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
    metadata = dict(_METADATA[fmt])
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


def _family_styles(families: Sequence[str]) -> dict[str, tuple[Any, str]]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {f: (cmap(i % 10), _MARKERS[(i // 10) % len(_MARKERS)]) for i, f in enumerate(sorted(set(families)))}


# --------------------------------------------------------------------------- the report's figures


def params_vs_madds_figure(rows: Sequence[dict[str, Any]], path: Path) -> bool:
    """Parameters against MAdds, log-log, coloured by family; False (nothing
    written) when no row has both."""
    points = [r for r in rows if r.get("params") and r.get("madds")]
    if not points:
        return False
    fig = new_figure(10, 7)
    ax = fig.add_subplot()
    styles = _family_styles([r.get("family") or "user" for r in points])
    for family, (colour, marker) in styles.items():
        mine = [r for r in points if (r.get("family") or "user") == family]
        ax.scatter([r["madds"] for r in mine], [r["params"] for r in mine], color=colour, marker=marker, s=28, label=family, zorder=3)
    for r in points:
        ax.annotate(r["name"], (r["madds"], r["params"]), fontsize=4.5, xytext=(3, 2), textcoords="offset points", alpha=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _engineering(ax.xaxis, ax.yaxis)
    ax.set_xlabel("MAdds (multiply-accumulates, default input)")
    ax.set_ylabel("parameters")
    ax.set_title("Parameters vs MAdds")
    ax.grid(True, which="both", linewidth=0.3, alpha=0.5)
    ax.legend(fontsize=6, ncol=2, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    save_figure(fig, path)
    return True


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


def _series_label(r: dict[str, Any]) -> str:
    env = r.get("env") or {}
    gpu = env.get("gpu")
    device = gpu.get("name") if isinstance(gpu, dict) and r.get("device", "").startswith("cuda") else r.get("device", "?")
    parts = [str(device), str(r.get("dtype", "?")), f"batch {r.get('batch', '?')}"]
    if env.get("compile"):
        parts.append(f"compile {env['compile']}")
    if env.get("channels_last"):
        parts.append("channels_last")
    if r.get("mode") not in (None, "latency"):
        parts.append(str(r["mode"]))
    return " · ".join(parts)


def _latency_series(results: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The measurements the latency figure plots, by series label: batch-1
    latency measurements when there are any (the usual question), else all."""
    single = [r for r in results if r.get("batch") == 1 and r.get("mode", "latency") == "latency"]
    series: dict[str, list[dict[str, Any]]] = {}
    for r in single or results:
        series.setdefault(_series_label(r), []).append(r)
    return series


def latency_source(results: Sequence[dict[str, Any]]) -> str:
    """A digest of what the latency figure plots (label, model, MAdds, median),
    stored in the PNG so that a stale figure can be told from a fresh one."""
    points = sorted((label, str(r.get("model", "")), r["madds"], r["latency_ms"]["median"]) for label, rs in _latency_series(results).items() for r in rs)
    return "netstat bench points sha256:" + hashlib.sha256(json.dumps(points).encode()).hexdigest()[:16]


def _latency_key(r: dict[str, Any]) -> tuple:
    return (r["madds"], r.get("model", ""))


def latency_figure(results: Sequence[dict[str, Any]], path: Path) -> bool:
    """Median latency against MAdds, one series per device / dtype / setting
    (`_latency_series`); the PNG records `latency_source(results)`."""
    series = _latency_series(results)
    if not series:
        return False
    fig = new_figure(9, 6)
    ax = fig.add_subplot()
    for i, label in enumerate(sorted(series)):
        mine = sorted(series[label], key=_latency_key)
        ax.scatter([r["madds"] for r in mine], [r["latency_ms"]["median"] for r in mine], s=20, marker=_MARKERS[i % len(_MARKERS)], label=label, zorder=3)
        for r in mine:
            ax.annotate(str(r.get("model", "")), (r["madds"], r["latency_ms"]["median"]), fontsize=5, xytext=(3, 2), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _engineering(ax.xaxis)
    _plain_numbers(ax.yaxis)
    ax.set_xlabel("MAdds per call")
    ax.set_ylabel("median latency (ms)")
    ax.set_title("Latency vs MAdds")
    ax.grid(True, which="both", linewidth=0.3, alpha=0.5)
    ax.legend(fontsize=7, frameon=False)
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
        top.plot([at.index], [profile.peak_bytes / gib], marker="v", color="tab:red", markersize=8)
        top.annotate(f"peak {profile.peak_bytes / gib:.2f} GiB\n{at.phase}: {at.layer or '(model)'}", (at.index, profile.peak_bytes / gib),
                     xytext=(8, -4), textcoords="offset points", fontsize=7, color="tab:red", va="top")
    top.axhline(profile.totals["persistent_bytes"] / gib, color="grey", linestyle=":", linewidth=0.8, label="parameters, buffers, state, input")
    top.set_xlim(-0.5, max(len(profile.timeline) - 0.5, 0.5))
    top.set_ylim(bottom=0)
    top.set_xlabel("op of the step, in order")
    top.set_ylabel("live memory (GiB)")
    top.set_title(f"{profile.model}: one training step, batch {profile.batch}, {profile.optimizer}, {profile.amp or profile.dtype}", fontsize=10)
    top.legend(fontsize=7, loc="upper right", frameon=False)
    top.grid(True, linewidth=0.3, alpha=0.5)
    bars = saved_bars(profile)
    bottom.bar(range(len(bars)), [b / 2**20 for _, b in bars], color="tab:blue")
    bottom.set_xticks(range(len(bars)), [name for name, _ in bars], rotation=90, fontsize=5.5)
    bottom.set_ylabel("saved for backward (MiB)")
    bottom.grid(True, axis="y", linewidth=0.3, alpha=0.5)
    fig.tight_layout()
    return save_figure(fig, path)
