"""Results in a notebook (issue 21, part 1): examples/notebook.ipynb runs in a
real ipykernel, and the HTML its cells show holds the numbers of the results'
JSON (`to_dict()`) and of independent sources (torchvision's models and
weights metadata, the receptive field worked out by hand); `to_pandas()`
round-trips the per-layer rows; `print(result)` is one short line; Rich
consoles get the CLI's tables fitted to their width."""

from __future__ import annotations

import io
import json
import math
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "notebook.ipynb"


class _Tables(HTMLParser):
    """The tables of a result's HTML: {caption: {"rows": [[cell, ...]], "footer": [line, ...]}}."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list]] = {}
        self._current: dict[str, list] | None = None
        self._text: list[str] | None = None
        self._row: list[str] | None = None
        self._where = ""

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._current = {"rows": [], "footer": []}
        elif tag in ("caption", "td", "th", "p"):
            self._text, self._where = [], tag
        elif tag == "tr":
            self._row = []
        elif tag == "br" and self._text is not None:
            self._text.append("\n")

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag in ("caption", "td", "th", "p") and self._text is not None:
            text = "".join(self._text)
            self._text = None
            if tag == "caption":
                self.tables[text] = self._current
            elif tag == "p":
                self._last["footer"].append(text)
            else:
                self._row.append(text)
        elif tag == "tr" and self._row is not None and self._current is not None:
            self._current["rows"].append(self._row)
        elif tag == "table":
            self._last, self._current = self._current, None


def _tables(html: str) -> dict[str, dict[str, list]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def _table(html: str, caption_part: str) -> dict[str, list]:
    found = [t for caption, t in _tables(html).items() if caption_part in caption]
    assert len(found) == 1, (caption_part, list(_tables(html)))
    return found[0]


def _column(table: dict[str, list], header: str) -> list[str]:
    heads = table["rows"][0]
    i = heads.index(header)
    return [row[i] for row in table["rows"][1:]]


def _row(table: dict[str, list], first_cell: str) -> list[str]:
    (row,) = [r for r in table["rows"][1:] if r[0].strip() == first_cell]
    return row


def _human_value(text: str) -> float:
    """'11.69 M' -> 11.69e6 (the tables' human numbers)."""
    number, _, suffix = text.partition(" ")
    return float(number) * {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[suffix]


@pytest.fixture(scope="module")
def cells():
    """Every tagged code cell of the executed notebook: {tag: {"html": ..., "text": ...}}."""
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    out = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        html = "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
        plain = "".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs)
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, errors
        out[cell.metadata["tags"][0]] = {"html": html, "text": text, "plain": plain}
    return out


def test_profile_html_shows_the_json_totals_and_torchvision_counts(cells):
    import torch
    import torchvision

    totals = json.loads(cells["totals-json"]["text"])
    footer = " ".join(_table(cells["profile"]["html"], "resnet18 — input 1x3x224x224, layers to depth 3")["footer"])
    for key, label in (("params", "Params"), ("madds", "MAdds"), ("flops", "FLOPs")):
        assert f"{label} {totals[key]:,} " in footer
    with torch.device("meta"):  # the architecture only: no weights initialised
        model = torchvision.models.resnet18()
    assert totals["params"] == sum(p.numel() for p in model.parameters())
    published_gmacs = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["_ops"]  # torchvision's GFLOPS are MACs
    assert totals["madds"] / 1e9 == pytest.approx(published_gmacs, abs=0.001)


def test_profile_html_has_a_row_per_layer_to_depth_3(cells):
    layers = json.loads(cells["layers-json"]["text"])
    table = _table(cells["profile"]["html"], "layers to depth 3")
    assert len(table["rows"]) - 1 == sum(1 for r in layers if 1 <= r["depth"] <= 3)
    conv1 = table["rows"][1]  # the first layer (later rows named conv1 are inside the blocks)
    assert conv1[0] == "conv1"
    assert conv1[1] == "Conv2d" and conv1[3] == f"{7 * 7 * 3 * 64:,}"  # a 7x7 conv, 3 -> 64 channels, no bias


def test_to_pandas_round_trips_the_per_layer_rows(cells):
    import netstat

    expected = netstat.profile("resnet18").to_dict()["layers"]
    records = json.loads(cells["layers-json"]["text"])
    assert len(records) == len(expected)
    for got, want in zip(records, expected):
        for key, value in want.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, rel=1e-9), key
            else:
                assert got[key] == json.loads(json.dumps(value)), key
        missing = set(got) - set(want)  # a key other rows have: empty here
        assert all(got[k] is None or (isinstance(got[k], float) and math.isnan(got[k])) for k in missing)
    assert "<table" in cells["layers-frame"]["html"]  # pandas' own HTML view


def test_summary_line_is_short_and_names_the_headline_numbers(cells):
    line = cells["summary"]["text"].strip()
    assert "\n" not in line and len(line) < 200
    totals = json.loads(cells["totals-json"]["text"])
    assert "resnet18" in line and "1x3x224x224" in line
    assert f"{totals['params'] / 1e6:.2f} M params" in line
    assert f"{totals['madds'] / 1e9:.2f} G MAdds" in line and f"{totals['flops'] / 1e9:.2f} G FLOPs" in line
    assert f"peak activations {totals['peak_activation_bytes'] / 2**20:.2f} MiB" in line
    assert cells["profile"]["plain"] == line  # the repr Jupyter keeps beside the HTML


def test_compare_html_shows_each_models_totals(cells):
    import torch
    import torchvision

    table = _table(cells["compare"]["html"], "Comparison")
    assert [c.strip() for c in _column(table, "Model")] == ["resnet18", "mobilenet_v2"]
    mobilenet = json.loads(cells["compare-json"]["text"])
    with torch.device("meta"):
        reference = torchvision.models.mobilenet_v2()
    assert mobilenet["params"] == sum(p.numel() for p in reference.parameters())
    params = _human_value(_row(table, "mobilenet_v2")[2])
    madds = _human_value(_row(table, "mobilenet_v2")[3])
    assert params == pytest.approx(mobilenet["params"], abs=0.005e6)
    assert madds == pytest.approx(mobilenet["madds"], abs=0.005e6)
    resnet = json.loads(cells["totals-json"]["text"])
    assert f"1/{resnet['params'] / mobilenet['params']:.3g} of the params" in " ".join(table["footer"])


def test_rf_html_shows_resnet18s_receptive_field_worked_out_by_hand(cells):
    # conv1 7x7/2, maxpool 3x3/2, then 3x3 convs: 4 at stride 1 (layer1); per later stage one at stride 2 and 3 at stride 1.
    rf, jump = 7, 2
    rf, jump = rf + 2 * jump, jump * 2
    for stride in [1, 1, 1, 1] + [2, 1, 1, 1] * 3:
        rf, jump = rf + 2 * jump, jump * stride
    assert (rf, jump) == (435, 32)
    table = _table(cells["rf"]["html"], "resnet18 — receptive fields")
    row = _row(table, "layer4.1.conv2")  # the last conv: every leaf layer is shown, as `netstat rf` shows them
    heads = table["rows"][0]
    assert row[heads.index("RF (HxW)")] == str(rf) and row[heads.index("Stride")] == str(jump)
    assert _row(table, "fc")[heads.index("RF (HxW)")] == "global"


def test_training_html_shows_the_steps_bytes(cells):
    step = json.loads(cells["training-json"]["text"])
    table = _table(cells["training"]["html"], "totals")
    exact = {row[0].strip(): row[2] for row in table["rows"][1:]}
    assert exact["Parameter bytes"] == f"{4 * step['params']:,}"  # fp32
    assert exact["Optimizer state bytes"] == f"{8 * step['params']:,}"  # Adam: two fp32 moments per parameter
    assert exact["Peak memory of the step"] == f"{step['peak_bytes']:,}"
    assert _table(cells["training"]["html"], "layers to depth 3")["rows"][1][0].strip() == "features"


def test_fit_html_shows_the_largest_batch_and_every_probe(cells):
    fit = json.loads(cells["fit-json"]["text"])
    table = _table(cells["fit"]["html"], "largest batch in 2.00 GiB")
    assert f"Largest batch {fit['batch']:,} " in " ".join(table["footer"])
    shown = {int(row[0]): row[2] for row in table["rows"][1:]}
    assert shown == {batch: "yes" if peak <= fit["usable_bytes"] else "no" for batch, peak in fit["probes"]}
    assert shown[fit["batch"]] == "yes" and shown[fit["batch"] + 1] == "no"


def test_bench_html_shows_the_measured_median(cells):
    (latency,) = json.loads(cells["bench-json"]["text"])
    table = _table(cells["bench"]["html"], "Latency")
    row = _row(table, "mobilenet_v2")
    median = float(row[table["rows"][0].index("Median ms")])
    assert median == pytest.approx(latency["median"], abs=0.01)
    assert row[table["rows"][0].index("Inputs")] == "1x3x64x64"


def test_rich_console_gets_the_cli_tables_fitted_to_its_width():
    import torch
    from rich.console import Console

    import netstat

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 30 * 30, 10))
    result = netstat.profile(model, (1, 3, 32, 32))
    buf = io.StringIO()
    Console(file=buf, width=60, color_system=None).print(result)
    lines = buf.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 60
    conv_params = 3 * 8 * 3 * 3 + 8
    assert any(line.split()[:3] == ["0", "Conv2d", "1x8x30x30"] for line in lines)
    assert f"Params {conv_params + 8 * 30 * 30 * 10 + 10:,} " in buf.getvalue().replace("\n", " ")
    assert "Not shown at 60 columns" in buf.getvalue()


def test_to_pandas_without_pandas_is_one_sentence_naming_the_extra(monkeypatch):
    from netstat.errors import UsageError
    from netstat.training.fit import FitResult

    result = FitResult(model="m", memory_bytes=100, train=False, optimizer=None, dtype="fp32", amp=None, batch=1, peak_bytes=60, probes=[(1, 60), (2, 120)])
    assert result.to_pandas()["fits"].tolist() == [True, False]
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(UsageError, match=r"^to_pandas\(\) needs pandas: pip install 'netstat\[pandas\]'\.$"):
        result.to_pandas()


def test_dir_netstat_lists_the_api_and_the_results():
    import netstat

    names = dir(netstat)
    for name in ("analyze", "profile", "compare", "receptive_field", "benchmark", "fit", "Profile", "Analysis", "Comparison", "RFResult",
                 "TrainingProfile", "FitResult", "BenchResult", "BenchResults"):
        assert name in names
        assert getattr(netstat, name) is not None
    assert not [n for n in names if n.startswith("_") and n != "__version__"]
