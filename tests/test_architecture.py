"""The architecture holds (issue 13): one trace per model and command, and a
package the next engineer can read -- no import cycle, no module over 700
lines, no function over 60 (config tables in the zoo exempt by name)."""

from __future__ import annotations

import ast
import itertools
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import netstat.trace
from netstat.cli import app

PACKAGE = Path(netstat.trace.__file__).parent
MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 60
EXEMPT_FUNCTIONS = {"_CONFIGS", "_cfg"}  # zoo config tables, by name


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every netstat module `path` imports, at module level or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for block in ast.walk(tree) if _is_type_checking(block) for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in out if m in known and m != name and not name.startswith(m + ".")}


def _is_type_checking(node: ast.AST) -> bool:
    """`if TYPE_CHECKING:` -- imports for annotations only, never executed."""
    return isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = itertools.count()
    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))

    def visit(v: str) -> None:
        index[v] = low[v] = next(counter)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


# The one edge from the library to netstat.render: a result showing itself in
# Jupyter or Rich (netstat.display's methods import the notebook renderer when
# called, never at import). It is late binding, not a dependency of computing
# code, so it is also left out of the cycle check (see docs/ARCHITECTURE.md).
DISPLAY_BRIDGE = ("netstat.display", "netstat.render.notebook")


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    graph[DISPLAY_BRIDGE[0]].discard(DISPLAY_BRIDGE[1])
    return graph


def test_no_import_cycle():
    assert _cycles(_graph()) == []


def test_the_display_bridge_imports_only_the_notebook_renderer():
    modules = _modules()
    imported = _imports(DISPLAY_BRIDGE[0], modules[DISPLAY_BRIDGE[0]], set(modules))
    assert {m for m in imported if m.startswith(("netstat.cli", "netstat.render"))} == {DISPLAY_BRIDGE[1]}


def test_the_library_never_imports_the_cli_or_renders_from_computing_code():
    graph = _graph()
    computing = [n for n in graph if not n.startswith(("netstat.cli", "netstat.render")) and n not in ("netstat", "netstat.__main__")]
    for name in computing:
        assert not {m for m in graph[name] if m.startswith(("netstat.cli", "netstat.render"))}, name


def test_modules_and_functions_stay_small():
    too_long = []
    for name, path in _modules().items():
        text = path.read_text()
        if text.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name not in EXEMPT_FUNCTIONS:
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}.{node.name}: {length} lines")
    assert too_long == []


# --- one trace per model and command ----------------------------------------------------


# The `traces` fixture (tests/conftest.py) counts the traced forwards.


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["profile", "lenet5"], 1),
        (["profile", "lenet5", "--rf"], 1),
        (["profile", "lenet5", "--crosscheck"], 1),
        (["compare", "lenet5", "alexnet"], 2),
        (["compare", "lenet5", "alexnet", "--crosscheck"], 2),
        (["rf", "lenet5"], 1),
        (["report", "--out", "{tmp}", "--models", "lenet5,alexnet"], 2),  # zoo row, RF figure and cross-check from one trace each
        # --verify finds ops that mix batch elements from a batch-2 pass of its linearised copy, not a trace
        (["rf", "resnet18", "--verify", "--effective", "--seeds", "1"], 1),
        (["rf", "resnet18", "--verify", "--effective", "--seeds", "2"], 1),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_each_command_traces_each_model_once(traces, argv, expected, tmp_path):
    argv = [a.replace("{tmp}", str(tmp_path / "reports")) for a in argv]
    result = CliRunner().invoke(app, argv + ["--format", "json"])
    assert result.exit_code == 0, result.output
    assert len(traces) == expected, traces


def test_an_analysis_answers_every_question_from_one_trace(traces):
    import netstat

    a = netstat.analyze("resnet18")
    assert a.profile.totals["madds"] == 1_814_073_344
    assert a.receptive_field.features.rf.size == (435, 435)
    assert a.profile.total("layer4")["params"] == 8_393_728
    assert a.profile.by_operator()["aten.convolution.default"]["calls"] == 20
    assert len(traces) == 1


def test_bench_imports_a_users_file_once(traces, tmp_path):
    """Three batches: one trace per batch for their costs, and the file imported once."""
    import netstat

    marker = tmp_path / "imports.txt"
    path = tmp_path / "counted.py"
    path.write_text(
        "import pathlib\nimport torch.nn as nn\n"
        f"with open({str(marker)!r}, 'a') as f:\n    f.write('x')\n"
        "def build():\n    return nn.Linear(4, 2)\n"
        "build.input_shape = (1, 4)\n"
    )
    results = netstat.benchmark(f"{path}:build", batches=[1, 2, 3], min_time=0.01, max_time=0.05)
    assert [r.madds for r in results] == [8, 16, 24]
    assert marker.read_text() == "x"
    assert len(traces) == 3


def test_cpu_model_is_built_once_and_is_never_the_users(traces):
    import torch.nn as nn

    import netstat

    users = nn.Sequential(nn.Linear(4, 3))
    a = netstat.analyze(users, input_size=(1, 4))
    cpu = a.cpu_model()
    assert cpu is a.cpu_model() and cpu is not users
    assert all(p.device.type == "cpu" and p is not q for p, q in zip(cpu.parameters(), users.parameters()))
    assert len(traces) == 0  # a CPU model needs no trace


def test_rows_are_keyed_by_module_path_and_call_not_position_or_label():
    import netstat

    a = netstat.analyze("googlenet")
    rows, layers = a.profile.layers, a.receptive_field.layers
    assert [r.key for r in rows] == [layer.key for layer in layers]
    root = rows[0]
    assert root.key == ("", 0) and root.name == "(model)" and root.to_dict()["path"] == ""
    assert a.profile.by_module(0)[""].params == a.profile.totals["params"]
    assert a.profile.total("")["params"] == a.profile.totals["params"]
    assert layers[0].to_dict()["path"] == ""


# --- one way in (issue 20): builds and traces of every command ------------------------------


@pytest.fixture
def work(monkeypatch):
    """Counts, during a test, the models built (ModelSource.instantiate, by
    device), the traced forwards (run_trace) and the traced training steps (run_step)."""
    import netstat.spec
    import netstat.training.trace

    seen: dict[str, list] = {"builds": [], "traces": [], "steps": []}
    build, trace, step = netstat.spec.ModelSource.instantiate, netstat.trace.run_trace, netstat.training.trace.run_step

    def counted_build(self, device="meta", seed=0):
        seen["builds"].append((self.name, device))
        return build(self, device, seed)

    def counted_trace(model, inputs, device="meta", **options):
        seen["traces"].append((type(model).__name__, inputs.describe()))
        return trace(model, inputs, device, **options)

    def counted_step(setup):
        seen["steps"].append((type(setup.model).__name__, setup.inputs.describe()))
        return step(setup)

    monkeypatch.setattr(netstat.spec.ModelSource, "instantiate", counted_build)
    monkeypatch.setattr(netstat.trace, "run_trace", counted_trace)
    monkeypatch.setattr(netstat.training.trace, "run_step", counted_step)
    return seen


def _distinct(calls: list) -> bool:
    return len(calls) == len(set(calls))


@pytest.mark.parametrize(
    "argv, builds, traces, steps",
    [
        (["profile", "lenet5"], 1, 1, 0),
        (["profile", "lenet5", "--train", "--batch", "4"], 2, 1, 1),  # the profile at batch 1 and the step at batch 4
        (["profile", "lenet5", "--train", "--input", "4,1,32,32"], 2, 1, 1),
        (["compare", "lenet5", "alexnet", "--train", "--batch", "2"], 4, 2, 2),
        (["fit", "lenet5", "--memory", "64MiB", "--train"], None, 0, None),
        (["fit", "lenet5", "--memory", "64MiB"], None, None, 0),
        # meta for the counts, CPU for the timing: one build per device, one trace, the profile's costs reused
        (["compare", "lenet5", "alexnet", "--bench", "--min-time", "0.01", "--max-time", "0.05"], 4, 2, 0),
        (["bench", "lenet5", "--min-time", "0.01", "--max-time", "0.05", "--no-progress"], 2, 1, 0),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_each_command_builds_and_traces_once_per_distinct_input(work, argv, builds, traces, steps):
    result = CliRunner().invoke(app, argv + ["--format", "json"])
    assert result.exit_code == 0, result.output
    for kind, expected in (("builds", builds), ("traces", traces), ("steps", steps)):
        if expected is not None:
            assert len(work[kind]) == expected, (kind, work[kind])
    assert _distinct(work["traces"]) and _distinct(work["steps"])  # never the same model and input twice
    timed = sum(1 for _, device in work["builds"] if device != "meta" and argv[0] in ("bench", "compare"))
    assert len(work["builds"]) == len(work["traces"]) + len(work["steps"]) + timed  # each trace (and timing) on a model of its own
