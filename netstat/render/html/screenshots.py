"""`netstat report`'s screenshots of the HTML page (reports/figures/*_page.png):
resnet50 with a residual block open, inception_v3 with an Inception block
open, and resnet50's training step. Each page is built the way the CLI
builds it, opened in headless Chromium (`netstat.render.html.browser`) and
photographed; without a browser they are skipped with a note.

The same page gives the same PNG on one machine (no animation, no clock on
the page, fixed window and scale); another machine's fonts draw other pixels.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from netstat.render.html import browser, profile_page, training_page

# Open a module (its node's double-click) and select a node, by the DOM only.
_OPEN = """document.querySelector('#graph-svg .node[data-name="{0}"]').dispatchEvent(new MouseEvent('dblclick', {{bubbles: true}}));"""
_SELECT_OP = """document.querySelector('#graph-svg .node[data-kind="op"][data-parent="{0}"][data-name="{1}"]').dispatchEvent(new MouseEvent('click', {{bubbles: true}}));"""


@dataclass(frozen=True)
class Shot:
    file: str  # under figures/
    model: str
    train: bool
    script: str
    element: str | None
    what: str


SHOTS = (
    Shot("resnet50_page.png", "resnet50", False, _OPEN.format("layer1.0") + _SELECT_OP.format("layer1.0", "add"), None,
         "HTML page of resnet50: graph with layer1.0 open (its add joins two edges), totals"),
    Shot("inception_v3_page.png", "inception_v3", False, _OPEN.format("Mixed_5b") + _SELECT_OP.format("Mixed_5b", "cat"), None,
         "HTML page of inception_v3: Mixed_5b open, its four branches joined by cat"),
    Shot("resnet50_train_page.png", "resnet50", True, "", "train-section",
         "HTML page of a resnet50 training step (batch 32, SGD): memory over the ops, saved bytes per layer"),
)


def _page_text(shot: Shot) -> str:
    from netstat.analysis import analyze
    from netstat.graph import build_graph

    analysis = analyze(shot.model)
    graph = build_graph(analysis.profile, analysis.receptive_field).to_dict()
    data = {**analysis.profile.to_dict(), "receptive_field": analysis.receptive_field.to_dict()}
    if not shot.train:
        return profile_page(data, graph)
    step = analysis.training()
    return training_page(step.document(data), graph, step.timeline, step.phases)


def write_screenshots(figures: Path) -> tuple[dict[str, str], list[str]]:
    """The page screenshots under `figures`: (path -> what it shows, notes)."""
    why_not = browser.missing()
    if why_not:
        return {}, [f"The HTML page screenshots were not taken: {why_not}"]
    files = {}
    with tempfile.TemporaryDirectory() as tmp:
        for shot in SHOTS:
            page = Path(tmp) / (shot.file + ".html")
            page.write_text(_page_text(shot), encoding="utf-8")
            browser.screenshot(page, figures / shot.file, script=shot.script or None, element=shot.element)
            files[str(figures / shot.file)] = shot.what
    return files, []
