"""How big the HTML page is and how long a browser takes to show it (issue 21).

    python tests/bench/bench_html_page.py [--models resnet50,densenet201,timm:efficientnet_b7]

For each model: `netstat profile MODEL -o PAGE.html` (the CLI, timed: trace +
graph + page), the page's size, then headless Chromium
(`netstat.render.html.browser`) opens it three times, each in a fresh tab
state: seconds from navigation until the page's script has drawn everything
(the graph laid out at its default depth, the tree, the charts), the graph's
own layout time (the page's data-layout-ms), and the time to lay the graph
out again at the deepest depth the depth control offers (it offers none that shows
more than 400 nodes: beyond that, modules are opened one at a time).
Writes reports/html_page.md (atomically); the goals: under 2 MB for resnet50,
under 2 s to a usable page at the default depth for densenet201 and a
1,000-module timm model.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ("resnet50", "densenet201", "timm:efficientnet_b7")
EXPAND_ALL = """
const select = document.getElementById('depth');
const started = performance.now();
const offered = Array.from(select.options).filter(o => !o.disabled);
select.value = offered[offered.length - 1].value;
select.dispatchEvent(new Event('change'));
return [performance.now() - started, +document.getElementById('graph').dataset.nodes];
"""


def measure(spec: str, folder: Path) -> dict:
    from netstat.render.html import browser

    page = folder / (spec.replace(":", "_") + ".html")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "netstat", "profile", spec, "-o", str(page)], check=True, cwd=ROOT, capture_output=True)
    cli = time.perf_counter() - started
    loads, layouts = [], []
    with browser.chromium() as driver:
        for _ in range(3):
            loads.append(browser.load(driver, page))
            layouts.append(float(driver.execute_script("return document.getElementById('graph').dataset.layoutMs")))
        nodes = int(driver.execute_script("return document.getElementById('graph').dataset.nodes"))
        modules = int(driver.execute_script("return JSON.parse(document.getElementById('netstat-data').textContent).graphs[0].nodes.length"))
        full_ms, full_nodes = driver.execute_script(EXPAND_ALL)
    return {"model": spec, "bytes": page.stat().st_size, "cli_s": cli, "load_s": statistics.median(loads), "layout_ms": statistics.median(layouts),
            "nodes": nodes, "graph_nodes": modules, "full_ms": full_ms, "full_nodes": full_nodes}


def render(rows: list[dict], chromium: str) -> str:
    lines = [
        "# The HTML page: size and time to show it",
        "",
        "`python tests/bench/bench_html_page.py` (this file is its output). Page: `netstat profile MODEL -o PAGE.html`;",
        f"browser: headless {chromium} through Selenium, a 1400x1000 window, on this machine's CPU (2 cores shared with",
        "other work: the times are upper bounds). *Ready*: navigation to the page's script having drawn the graph at its",
        "default depth, the module tree, the RF chart (median of 3 loads). *Deepest offered*: the graph opened",
        "as deep as the depth control offers (no depth that shows more than 400 nodes), laid out by dagre.",
        "",
        "| model | page | CLI (trace + page) | ready in browser | graph layout | nodes shown | graph nodes | deepest offered: nodes, layout |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['bytes'] / 1e6:.2f} MB | {r['cli_s']:.1f} s | {r['load_s']:.2f} s | {r['layout_ms']:.0f} ms | "
                     f"{r['nodes']} | {r['graph_nodes']} | {r['full_nodes']}, {r['full_ms'] / 1000:.1f} s |")
    lines += ["", "Goals: resnet50's page under 2 MB; densenet201 and a 1,000-module timm model (efficientnet_b7: 1,105",
              "modules) usable without a freeze: the default depth shows at most 60 nodes, deeper levels are laid out only",
              "when asked for.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(DEFAULT))
    parser.add_argument("--out", default=str(ROOT / "reports" / "html_page.md"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from netstat.atomic import write_text
    from netstat.render.html import browser

    if browser.missing():
        raise SystemExit(browser.missing())
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(spec, Path(tmp)) for spec in args.models.split(",")]
    version = subprocess.run([browser._first(browser.CHROMIUM, "chromium") or "chromium", "--version"], capture_output=True, text=True).stdout.strip()
    text = render(rows, version or "Chromium")
    write_text(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
