"""The HTML page (`--format html`) in a real browser: headless Debian
Chromium driven by Selenium and /usr/bin/chromedriver.

Each page is written by the CLI, loaded, and must raise no console error and
make no network request; the test then reads the numbers it shows and holds
them to the JSON document embedded in it (the one `--format json` writes),
expands graph nodes, sorts a column and checks merges.

Skipped (with the reason) only on a machine without /usr/bin/chromium and
without the CI variable; in CI (`.ci/run` sets CI=1 and installs chromium)
a missing browser fails.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from netstat.cli import app
from netstat.render import human, human_bytes
from netstat.render.html import browser

WHY_NOT = browser.missing()
MAX_PAGE_BYTES = 2_000_000


@pytest.fixture(scope="module")
def driver():
    """Headless Chromium: skipped only without /usr/bin/chromium outside CI;
    in CI, or with chromium present, a missing piece is a failure."""
    if WHY_NOT and not os.environ.get("CI") and not os.path.exists("/usr/bin/chromium"):
        pytest.skip(f"No browser for the HTML page test: {WHY_NOT}")
    assert WHY_NOT is None, WHY_NOT
    with browser.chromium() as d:
        yield d


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The CLI's pages: a CNN, a branchy net, a detector and a training step."""
    out = tmp_path_factory.mktemp("pages")
    commands = {
        "resnet50": ["profile", "resnet50"],
        "inception_v3": ["profile", "torchvision:inception_v3"],
        "detector": ["profile", "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn"],
        "train": ["profile", "torchvision:resnet18", "--train", "--batch", "8"],
    }
    runner = CliRunner()
    paths = {}
    for name, args in commands.items():
        path = out / f"{name}.html"
        result = runner.invoke(app, [*args, "--output", str(path)])
        assert result.exit_code == 0, result.output
        paths[name] = path
    return paths


def embedded(path: Path) -> dict:
    """The data the page carries (its <script id="netstat-data">)."""
    text = path.read_text(encoding="utf-8")
    match = re.search(r'<script id="netstat-data" type="application/json">(.*?)</script>', text, re.S)
    assert match
    return json.loads(match.group(1))


def open_clean(driver, path: Path) -> None:
    """Load the page; no console message of level SEVERE or WARNING, and no
    request but the page itself (the performance log's Network events and
    the page's resource timing entries)."""
    driver.get_log("browser"), driver.get_log("performance")  # drop what an earlier page left
    browser.load(driver, path)
    problems = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert problems == []
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    assert requests and all(url == path.resolve().as_uri() for url in requests), requests
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0


def cards(driver) -> dict[str, tuple[str, str]]:
    return {e.get_attribute("data-key"): (e.get_attribute("data-value"), e.find_element("css selector", ".v").text)
            for e in driver.find_elements("css selector", "#totals .card")}


def check_totals(driver, doc: dict) -> None:
    shown = cards(driver)
    for key, fmt in (("params", human), ("madds", human), ("flops", human), ("peak_activation_bytes", human_bytes), ("memory_access_bytes", human_bytes)):
        value = doc["totals"][key]
        assert shown[key] == (str(value), fmt(value)), key


def graph_node(driver, name: str):
    return driver.find_element("css selector", f'#graph-svg .node[data-name="{name}"]')


def expand(driver, name: str) -> None:
    graph_node(driver, name).click()
    driver.find_element("id", "expand-node").click()


def incoming(driver, node) -> int:
    return len(driver.find_elements("css selector", f'#graph-svg .edge[data-to="{node.get_attribute("data-id")}"]'))


def test_pages_are_one_small_deterministic_file(pages, tmp_path):
    """One file, under 2 MB for resnet50, no URL a browser would fetch, and
    the same bytes when written again."""
    text = pages["resnet50"].read_text(encoding="utf-8")
    assert len(text.encode()) < MAX_PAGE_BYTES
    assert "default-src 'none'" in text
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', text)
    again = tmp_path / "again.html"
    assert CliRunner().invoke(app, ["profile", "resnet50", "-o", str(again)]).exit_code == 0
    assert again.read_bytes() == pages["resnet50"].read_bytes()


def test_resnet50_page_numbers_graph_and_tree(driver, pages):
    data = embedded(pages["resnet50"])
    doc = data["document"]
    open_clean(driver, pages["resnet50"])
    check_totals(driver, doc)
    # Collapsed to depth 1 (the depth control): ResNet's chain of stages; then a
    # residual block opened: its add has two incoming edges (the main path and the shortcut).
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", "depth")).select_by_value("1")
    assert len(driver.find_elements("css selector", "#graph-svg .node")) == 13  # input, 10 children of the root, flatten's view, output
    expand(driver, "layer1")
    expand(driver, "layer1.0")
    adds = driver.find_elements("css selector", '#graph-svg .node[data-kind="op"][data-name="add"]')
    assert len(adds) == 1 and incoming(driver, adds[0]) == 2
    # The details of a node are its document row's numbers.
    graph_node(driver, "layer1.0.conv2").click()
    details = {e.get_attribute("data-key"): e.text for e in driver.find_elements("css selector", "#details dd")}
    row = next(r for r in doc["layers"] if r.get("path") == "layer1.0.conv2")
    assert details["MAdds"].startswith(human(row["madds"])) and details["Params"].startswith(human(row["params"]))
    assert details["Output shape"] == "x".join(map(str, row["output_shape"][0]))
    assert details["Receptive field"] == "19, stride 4"  # 11 at stride 4 after maxpool, a 1x1 then this 3x3: 11 + 2*4
    hover = driver.execute_script("return document.querySelector('#graph-svg .node[data-name=\"layer1.0.conv2\"] title').textContent")
    assert f"MAdds {human(row['madds'])}" in hover and "receptive field 19, stride 4" in hover
    # Sorting the tree by MAdds: the root's children, largest first, as in the document.
    driver.find_element("css selector", '#tree th[data-key="madds"]').click()
    rows = driver.find_elements("css selector", "#tree-body tr")
    children = [r for r in rows[1:] if "." not in r.get_attribute("data-path")]
    expected = sorted((r for r in doc["layers"] if r["depth"] == 1), key=lambda r: -r["madds"])
    shown = [(r.get_attribute("data-path"), r.find_element("css selector", 'td[data-key="madds"]').text) for r in children]
    assert shown == [(r["path"], human(r["madds"])) for r in expected]


def test_inception_v3_page_shows_the_branches(driver, pages):
    doc = embedded(pages["inception_v3"])["document"]
    open_clean(driver, pages["inception_v3"])
    check_totals(driver, doc)
    expand(driver, "Mixed_5b")
    cat = driver.find_element("css selector", '#graph-svg .node[data-kind="op"][data-parent="Mixed_5b"][data-name="cat"]')
    assert incoming(driver, cat) == 4
    # Four branches leave the block's input: the node feeding Mixed_5b's children has four outgoing edges.
    pool = graph_node(driver, "maxpool2")
    assert len(driver.find_elements("css selector", f'#graph-svg .edge[data-from="{pool.get_attribute("data-id")}"]')) == 4
    # The RF chart plots one point per leaf layer with an RF.
    points = driver.find_elements("css selector", "#rf-chart circle")
    leaves = [r for r in doc["receptive_field"]["layers"] if r["is_leaf"] and r["depends_on_input"]]
    assert len(points) == len(leaves)


def test_detector_page(driver, pages):
    doc = embedded(pages["detector"])["document"]
    open_clean(driver, pages["detector"])
    check_totals(driver, doc)
    # Open the tree fully: every module row's MAdds is the document's.
    driver.find_element("id", "tree-expand").click()
    rows = driver.find_elements("css selector", "#tree-body tr")
    by_key = {(r.get("path"), r["call"]): r for r in doc["layers"]}
    assert len(rows) > 100
    for tr in rows[::10]:
        row = by_key[(tr.get_attribute("data-path"), int(tr.get_attribute("data-call")))]
        cell = tr.find_element("css selector", 'td[data-key="madds"]')
        assert (cell.get_attribute("data-value"), cell.text) == (str(row["madds"]), human(row["madds"]))


def test_training_page_memory_and_saved_bytes(driver, pages):
    data = embedded(pages["train"])
    step = data["document"]["training"]
    open_clean(driver, pages["train"])
    assert cards(driver)["peak_bytes"] == (str(step["peak_bytes"]), human_bytes(step["peak_bytes"]))
    assert max(data["timeline"]["bytes"]) == step["peak_bytes"]  # the step's walk and its peak agree
    summary = driver.find_element("id", "train-summary").text
    assert f"Peak {human_bytes(step['peak_bytes'])} at op {step['peak_at']['index']}" in summary
    bands = {b.get_attribute("data-phase") for b in driver.find_elements("css selector", "#memory-chart rect[data-phase]")}
    assert bands == {"forward", "backward", "optimizer"}
    first = driver.find_element("css selector", '#saved-table td[data-key="saved_bytes"]')
    most = max(r["saved_bytes"] for r in step["layers"] if r["is_leaf"])
    assert (first.get_attribute("data-value"), first.text) == (str(most), human_bytes(most))


def test_compare_page_switches_models(driver, tmp_path):
    """`compare`: the totals of both models side by side, and the selector
    showing the second model's totals, graph and tree."""
    path = tmp_path / "compare.html"
    assert CliRunner().invoke(app, ["compare", "lenet5", "alexnet", "-o", str(path)]).exit_code == 0
    models = embedded(path)["document"]["models"]
    open_clean(driver, path)
    for tr, doc in zip(driver.find_elements("css selector", "#compare-table tbody tr"), models):
        cell = tr.find_element("css selector", 'td[data-key="madds"]')
        assert (cell.get_attribute("data-value"), cell.text) == (str(doc["totals"]["madds"]), human(doc["totals"]["madds"]))
    check_totals(driver, models[0])
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", "model-select")).select_by_value("1")
    check_totals(driver, models[1])
    first = driver.find_element("css selector", "#tree-body tr")
    assert first.find_element("css selector", 'td[data-key="params"]').get_attribute("data-value") == str(models[1]["totals"]["params"])
    assert driver.find_elements("css selector", '#graph-svg .node[data-name^="features"]')  # alexnet's graph, not lenet5's


@pytest.mark.parametrize(
    "args, says",
    [
        (["list", "--format", "html"], "This command has no HTML page; profile, compare and rf write one."),
        (["rf", "--kernel", "3", "--format", "html"], "The HTML page shows a model's receptive fields"),
        (["rf", "lenet5", "--verify", "--format", "html"], "The HTML page shows a model's receptive fields"),
        (["compare", "lenet5", "alexnet", "--train", "--format", "html"], "compare --train has no HTML page"),
        (["profile", "lenet5", "--output", "lenet5.json"], "--output writes the HTML page"),
        (["profile", "lenet5", "--format", "json", "--output", "lenet5.html"], "--output writes the HTML page"),
    ],
)
def test_commands_without_a_page_refuse_html_in_one_sentence(args, says, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert says in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1 and list(tmp_path.iterdir()) == []


def test_output_to_a_folder_that_is_a_file_is_one_sentence(tmp_path):
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(app, ["profile", "lenet5", "-o", str(tmp_path / "file" / "page.html")], env={"COLUMNS": "300"})
    assert result.exit_code in (1, 2) and result.output.startswith("Error: Cannot write the page")
    assert len(result.output.strip().splitlines()) == 1
