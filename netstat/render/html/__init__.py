"""One self-contained, interactive HTML page per analysis (issue 21).

`netstat profile MODEL --format html` (also `profile --train`, `compare`,
`rf`) writes one file that works offline: the CSS, the page's JavaScript
(`page.js`) and the one vendored library (dagre, the graph layout;
`vendor/NOTICE.md`) are inlined, and a Content-Security-Policy of
``default-src 'none'`` forbids any request at view time.

What is embedded is the JSON document the same command writes with
``--format json`` (through `netstat.render.document`; a profile page adds
its receptive field, as ``--rf`` does), the module graph of each model
(`netstat.graph.ModuleGraph.to_dict`) and, for a training step, the live
bytes after each op of the step. The page only formats and lays out those
numbers (the same `human` / `human_bytes` rules as the terminal); it
computes none.

Deterministic: the same model and version give the same bytes (keys sorted,
no timestamp, no random id).
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any, Sequence

from netstat.render import _finite, _json_default, document

PAGE_KINDS = ("profile", "train", "compare")


def _asset(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def page(kind: str, data: dict[str, Any], graphs: Sequence[dict[str, Any]], extra: dict[str, Any] | None = None) -> str:
    """The page of a `kind` ("profile", "train" or "compare") result: `data`
    is the command's JSON document (before `document`), `graphs` one
    `ModuleGraph.to_dict()` per model (a compare document's order), `extra`
    what the document does not hold (a step's "timeline")."""
    if kind not in PAGE_KINDS:
        raise ValueError(f"Unknown page kind {kind!r}; expected one of {PAGE_KINDS}.")
    doc = document(data)
    payload = {"kind": kind, "document": doc, "graphs": list(graphs), **(extra or {})}
    text = json.dumps(_finite(payload), sort_keys=True, separators=(",", ":"), default=_json_default, allow_nan=False)
    # Inside <script>: no "</script>" or "<!--" can close or confuse it ("<" only occurs in strings).
    text = text.replace("<", "\\u003c")
    models = [m.get("model", "?") for m in doc.get("models", [])] or [str(doc.get("model", "model"))]
    title = "netstat: " + " vs ".join(models)
    parts = (
        ("{{title}}", html.escape(title)),
        ("{{css}}", _asset("page.css")),
        ("{{dagre}}", _asset("vendor/dagre.min.js")),
        ("{{js}}", _asset("page.js")),
        ("{{data}}", text),
    )
    out = _asset("page.html")
    for key, value in parts:
        head, sep, tail = out.partition(key)
        if not sep:
            raise ValueError(f"The page template has no {key}.")
        out = head + value + tail
    return out


def profile_page(data: dict[str, Any], graph: dict[str, Any]) -> str:
    """`netstat profile MODEL --format html`: `data` the profile document with its "receptive_field"."""
    return page("profile", data, [graph])


def training_page(data: dict[str, Any], graph: dict[str, Any], timeline: Sequence[int], op_phases: dict[str, Sequence[int]]) -> str:
    """`netstat profile MODEL --train --format html`: the profile document with
    its "training" block, the forward's graph, and the live bytes after each
    op of the step (`TrainingProfile.timeline`)."""
    return page("train", data, [graph], {"timeline": {"bytes": list(timeline), "phases": {k: list(v) for k, v in op_phases.items()}}})


def compare_page(data: dict[str, Any], graphs: Sequence[dict[str, Any]]) -> str:
    """`netstat compare A B --format html`: the compare document (each model with its "receptive_field")."""
    return page("compare", data, graphs)
