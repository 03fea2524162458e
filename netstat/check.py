"""Pinned numbers for CI: baselines, exact drift detection, the papers check.

A baseline (``reports/baseline.json``) records, for every selected model at
its default input, the integers netstat computes: parameters (total and
trainable), buffer elements, MAdds, FLOPs, output shape, the final feature's
receptive field and stride, peak activation bytes and memory-access bytes,
under a header with the netstat and torch versions. ``compare`` checks them
exactly: any changed value is drift, and so is a model added to or removed
from the selection. The baseline is rewritten only by ``update``, atomically
(a temporary file in the same directory, then ``os.replace``), so an
interrupted write leaves the old file intact.

Selecting models (``--models``, comma-separated patterns):

- ``resnet*``: zoo models by glob (an alias such as ``mobilenet_v3`` names
  its canonical model);
- ``torchvision:resnet*``: torchvision models by glob;
- ``mypkg.models:*`` or ``path/to/file.py:*``: every public factory of that
  module: the functions and nn.Module classes it defines (or lists in
  ``__all__``) whose names do not start with ``_`` and that can be called
  without arguments; ``mypkg.models:res*`` narrows by glob. A factory's input
  is its ``input_shape`` attribute (``build.input_shape = (1, 3, 32, 32)``),
  else the ``input_size`` given, else 1x3x224x224.

A pattern without a colon matches only zoo names; one with ``prefix:`` only
names with that prefix, so a baseline can hold zoo and user models side by side.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Sequence

from netstat.atomic import atomic_write
from netstat.errors import NetstatError, UsageError

SCHEMA_VERSION = 1
DEFAULT_BASELINE = Path("reports") / "baseline.json"
ALL_ZOO = "*"

# Quantity -> meaning; the order of a model's entry in the baseline.
QUANTITIES: dict[str, str] = {
    "input_shape": "the input the model is measured at",
    "params": "elements of nn.Parameter tensors (shared tensors once)",
    "trainable_params": "parameter elements with requires_grad",
    "buffers": "elements of registered buffers (BN running statistics)",
    "madds": "multiply-accumulates of conv, matmul / linear and attention",
    "flops": "floating-point operations (2 x MAdds + everything else; see netstat.formulas)",
    "output_shape": "shape of every output tensor",
    "rf": "receptive field of the final feature map (the last module output with spatial dims, not a global pooling), per axis, in input pixels; 'global' when it sees the whole input",
    "rf_stride": "effective stride (jump) of that feature, per axis, in input pixels",
    "peak_activation_bytes": "most bytes held at once by live activations (input included)",
    "memory_access_bytes": "bytes read + written per op, summed; views cost 0",
}

ProgressFn = Callable[[int, int, str], None]  # (index, total, model name)


# ---------------------------------------------------------------------------
# Selection.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Selected:
    """One model to measure: its baseline key and how to build it."""

    name: str
    source: Any  # netstat.spec.ModelSource


def parse_patterns(models: str | Sequence[str] | None) -> list[str]:
    """'resnet*, vgg16' -> ['resnet*', 'vgg16']; None -> every zoo model."""
    if models is None:
        return [ALL_ZOO]
    items = models.split(",") if isinstance(models, str) else list(models)
    patterns = [p.strip() for p in items if p.strip()]
    if not patterns:
        raise UsageError("--models is empty.", hint="Give a glob such as 'resnet*' or 'mypkg.models:*'.")
    return patterns


def matches(name: str, pattern: str) -> bool:
    """Does a baseline key match a pattern? Zoo patterns match only zoo names;
    'prefix:glob' matches 'prefix:name' keys."""
    prefix, sep, glob = pattern.rpartition(":") if ":" in pattern else ("", "", pattern)
    key_prefix, key_sep, key_name = name.rpartition(":") if ":" in name else ("", "", name)
    if sep != key_sep or prefix != key_prefix:
        return False
    return fnmatch.fnmatchcase(key_name, glob)


def _has_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def select(patterns: Sequence[str], input_size: tuple[int, ...] | None = None, may_be_empty: Callable[[str], bool] | None = None) -> list[Selected]:
    """The models the patterns name, sorted and without duplicates. A pattern
    that names nothing is a UsageError, unless `may_be_empty(pattern)` (a
    pattern that matches baseline entries whose models are gone: they are
    then reported as removed)."""
    chosen: dict[str, Selected] = {}
    for pattern in patterns:
        allowed = may_be_empty is not None and may_be_empty(pattern)
        try:
            found = _select_one(pattern, input_size)
        except UsageError:
            if not allowed:
                raise
            found = []
        if not found and not allowed:
            raise UsageError(f"No model matches '{pattern}'.", hint="Run 'netstat list' for the zoo, or check the module path.")
        for item in found:
            chosen.setdefault(item.name, item)
    return [chosen[k] for k in sorted(chosen)]


def _in_baseline(doc: dict[str, Any]) -> Callable[[str], bool]:
    return lambda pattern: any(matches(k, pattern) for k in doc.get("models", {}))


def _select_one(pattern: str, input_size: tuple[int, ...] | None) -> list[Selected]:
    from netstat.spec import ModelSource, resolve
    from netstat.zoo import get_spec, list_models

    if ":" not in pattern:
        names = list_models(pattern) if _has_glob(pattern) else [get_spec(pattern).name]
        return [Selected(n, resolve(n)) for n in names]
    location, _, glob = pattern.rpartition(":")
    if location in ("torchvision", "timm"):
        return [Selected(f"{location}:{n}", resolve(f"{location}:{n}", input_size)) for n in _hub_names(location, glob)]
    if not _has_glob(glob):
        source = resolve(pattern, input_size)
        source.input_shape = _factory_input(source.factory, input_size)
        return [Selected(pattern, source)]
    module = _import_location(location)
    found = []
    for attr, factory in public_factories(module):
        if fnmatch.fnmatchcase(attr, glob):
            name = f"{location}:{attr}"
            found.append(Selected(name, ModelSource(name=name, input_shape=_factory_input(factory, input_size), factory=factory)))
    return found


def _hub_names(package: str, glob: str) -> list[str]:
    if importlib.util.find_spec(package) is None:
        raise UsageError(f"'{package}:{glob}' needs the {package} package, which is not installed.", hint=f"pip install {package}")
    if package == "torchvision":
        import torchvision.models as tvm

        return sorted(n for n in tvm.list_models() if fnmatch.fnmatchcase(n, glob))
    import timm

    return sorted(timm.list_models(glob))


def _import_location(location: str):
    from netstat.spec import import_file

    if location.endswith(".py") or "/" in location or "\\" in location:
        path = Path(location)
        if not path.is_file():
            raise UsageError(f"The file '{location}' does not exist.")
        return import_file(path)
    try:
        return importlib.import_module(location)
    except ImportError as err:
        raise UsageError(f"Cannot import module '{location}': {err}.") from None


def public_factories(module) -> list[tuple[str, Callable[..., Any]]]:
    """(name, factory) for every public model factory of a module: its
    `__all__` if it has one, else the functions and nn.Module classes it
    defines; only those callable without arguments."""
    import torch

    names = getattr(module, "__all__", None)
    explicit = names is not None
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    found = []
    for name in sorted(names):
        obj = getattr(module, name, None)
        if obj is None or not callable(obj):
            continue
        is_module_class = inspect.isclass(obj) and issubclass(obj, torch.nn.Module)
        if not explicit and (getattr(obj, "__module__", None) != module.__name__ or not (inspect.isfunction(obj) or is_module_class)):
            continue
        if _callable_without_arguments(obj):
            found.append((name, obj))
    return found


def _callable_without_arguments(obj: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return False
    required = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return all(p.default is not inspect.Parameter.empty for p in params if p.kind in required)


def _factory_input(factory: Any, input_size: tuple[int, ...] | None) -> tuple[int, ...]:
    from netstat.spec import DEFAULT_INPUT

    shape = getattr(factory, "input_shape", None)
    if shape is not None:
        return tuple(int(s) for s in shape)
    return tuple(input_size) if input_size is not None else DEFAULT_INPUT


# ---------------------------------------------------------------------------
# Measuring.
# ---------------------------------------------------------------------------


def final_rf(trace) -> dict[str, Any]:
    """RF and effective stride, per axis, of the final feature map
    (`RFResult.features`: VGG-16's pool5, 212 / stride 32; a segmentation
    net's output), 'global' where it already sees the whole input."""
    from netstat.receptive import analyze

    layer = analyze(trace).features
    if layer is None:
        return {"rf": None, "rf_stride": None}
    info = layer.rf.to_dict()
    return {"rf": "global" if info["global"] else info["rf"], "rf_stride": info["stride"]}


def _plain(value: Any) -> Any:
    """JSON-friendly: tuples to lists."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def measure(source) -> dict[str, Any]:
    """One model's baseline entry (JSON values, in QUANTITIES order)."""
    from netstat.metrics import profile

    result = profile(source)
    totals, trace = result.totals, result.trace
    entry: dict[str, Any] = {
        "input_shape": list(source.input_shape),
        "params": totals["params"],
        "trainable_params": totals["trainable_params"],
        "buffers": totals["buffers"],
        "madds": totals["madds"],
        "flops": totals["flops"],
        "output_shape": _plain(totals["output_shape"]),
    }
    entry.update(final_rf(trace))
    entry["peak_activation_bytes"] = totals["peak_activation_bytes"]
    entry["memory_access_bytes"] = totals["memory_access_bytes"]
    return entry


def measure_all(selection: Sequence[Selected], progress: ProgressFn | None = None) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Entries for every selected model, and the models that failed (name -> reason)."""
    entries: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    for i, item in enumerate(selection):
        if progress is not None:
            progress(i, len(selection), item.name)
        try:
            entries[item.name] = measure(item.source)
        except NetstatError as err:
            errors[item.name] = err.message
        except Exception as err:  # noqa: BLE001 - one broken model must not hide the others
            errors[item.name] = f"{type(err).__name__}: {err}"
    if progress is not None:
        progress(len(selection), len(selection), "")
    return entries, errors


def versions() -> dict[str, str]:
    import torch

    import netstat

    return {"netstat_version": netstat.__version__, "torch_version": torch.__version__}


def make_document(entries: dict[str, dict[str, Any]], selection: Sequence[str]) -> dict[str, Any]:
    """A baseline document: header, then models sorted by name."""
    return {
        "schema_version": SCHEMA_VERSION,
        **versions(),
        "selection": list(selection),
        "units": {k: v for k, v in QUANTITIES.items()},
        "models": {k: entries[k] for k in sorted(entries)},
    }


# ---------------------------------------------------------------------------
# Reading and writing, atomically.
# ---------------------------------------------------------------------------


def dumps(value: Any, indent: int = 0) -> str:
    """Deterministic, diff-friendly JSON: objects one key per line, lists of
    plain values (shapes) on one line."""
    pad = "  " * (indent + 1)
    if isinstance(value, dict) and value:
        items = [f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(value, (list, tuple)) and any(isinstance(v, dict) and v for v in value):
        items = [pad + dumps(v, indent + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def write_json(path: str | Path, doc: Any) -> None:
    """Deterministic JSON (see `dumps`), written atomically."""

    def write(handle: IO) -> None:
        handle.write(dumps(doc))
        handle.write("\n")

    atomic_write(path, write)


def load_baseline(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"The baseline '{path}' does not exist.", hint=f"Create it with: netstat check --baseline {path} --update")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"The baseline '{path}' is not valid JSON ({err}).") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("models"), dict):
        raise UsageError(f"The baseline '{path}' has no 'models' table; it is not a netstat baseline.")
    return doc


# ---------------------------------------------------------------------------
# Comparing.
# ---------------------------------------------------------------------------


@dataclass
class Drift:
    """One quantity of one model that changed."""

    model: str
    quantity: str
    baseline: Any
    now: Any

    @property
    def delta(self) -> int | float | None:
        if _is_number(self.baseline) and _is_number(self.now):
            return self.now - self.baseline
        return None

    @property
    def relative(self) -> float | None:
        delta = self.delta
        return None if delta is None or not self.baseline else delta / self.baseline

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "quantity": self.quantity, "baseline": self.baseline, "now": self.now, "delta": self.delta, "relative": self.relative}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class CheckResult:
    baseline_path: str
    checked: list[str]
    drift: list[Drift] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # selected, but not in the baseline
    removed: list[str] = field(default_factory=list)  # in the baseline (and selected by the patterns), no longer a model
    errors: dict[str, str] = field(default_factory=dict)
    baseline_versions: dict[str, Any] = field(default_factory=dict)
    current_versions: dict[str, Any] = field(default_factory=dict)
    updating: bool = False  # an --update run (written or refused)
    updated: bool = False  # the baseline was written

    @property
    def ok(self) -> bool:
        return not (self.drift or self.added or self.removed or self.errors)

    @property
    def drifted_models(self) -> list[str]:
        return sorted({d.model for d in self.drift})

    @property
    def unchanged(self) -> list[str]:
        changed = set(self.drifted_models) | set(self.added) | set(self.errors)
        return [m for m in self.checked if m not in changed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline_path,
            "ok": self.ok,
            "updating": self.updating,
            "updated": self.updated,
            "checked": len(self.checked),
            "unchanged": len(self.unchanged),
            "drift": [d.to_dict() for d in self.drift],
            "drifted_models": self.drifted_models,
            "added": self.added,
            "removed": self.removed,
            "errors": self.errors,
            "baseline_versions": self.baseline_versions,
            "current_versions": self.current_versions,
        }


def compare(baseline: dict[str, Any], entries: dict[str, dict[str, Any]], patterns: Sequence[str], errors: dict[str, str] | None = None, path: str = "") -> CheckResult:
    """Exact comparison of fresh entries with a baseline document. Only the
    baseline models the patterns match are expected."""
    old = baseline.get("models", {})
    expected = {k for k in old if any(matches(k, p) for p in patterns)}
    errors = dict(errors or {})
    result = CheckResult(
        baseline_path=str(path),
        checked=sorted(set(entries) | set(errors)),
        errors=errors,
        baseline_versions={k: baseline.get(k) for k in ("netstat_version", "torch_version")},
        current_versions=versions(),
    )
    for name in sorted(entries):
        if name not in old:
            result.added.append(name)
            continue
        before, now = old[name], entries[name]
        keys = list(now) + [k for k in before if k not in now]
        for key in keys:
            if before.get(key) != now.get(key) or (key in before) != (key in now):
                result.drift.append(Drift(name, key, before.get(key), now.get(key)))
    result.removed = sorted(expected - set(entries) - set(errors))
    return result


def check(baseline_path: str | Path = DEFAULT_BASELINE, models: str | Sequence[str] | None = None, input_size: tuple[int, ...] | None = None, progress: ProgressFn | None = None) -> CheckResult:
    """Measure the selected models and compare them with the baseline. With
    no `models`, the selection stored in the baseline (else the whole zoo)."""
    doc = load_baseline(baseline_path)
    patterns = parse_patterns(models) if models is not None else list(doc.get("selection") or [ALL_ZOO])
    entries, errors = measure_all(select(patterns, input_size, _in_baseline(doc)), progress)
    return compare(doc, entries, patterns, errors, str(baseline_path))


def update(baseline_path: str | Path = DEFAULT_BASELINE, models: str | Sequence[str] | None = None, input_size: tuple[int, ...] | None = None, progress: ProgressFn | None = None) -> CheckResult:
    """Rewrite the baseline for the selected models (atomically) and return
    what changed. Models outside the selection keep their entries; selected
    ones that no longer exist are dropped. Nothing is written when a model
    fails to build or run."""
    path = Path(baseline_path)
    doc = load_baseline(path) if path.exists() else {"models": {}, "selection": []}
    stored = list(doc.get("selection") or [])
    patterns = parse_patterns(models) if models is not None else (stored or [ALL_ZOO])
    entries, errors = measure_all(select(patterns, input_size, _in_baseline(doc)), progress)
    result = compare(doc, entries, patterns, errors, str(path))
    result.updating = True
    if errors:
        return result
    kept = {k: v for k, v in doc.get("models", {}).items() if k not in entries and k not in result.removed}
    selection = stored + [p for p in patterns if p not in stored]
    write_json(path, make_document({**kept, **entries}, selection))
    result.updated = True
    return result


# ---------------------------------------------------------------------------
# The papers' numbers.
# ---------------------------------------------------------------------------


@dataclass
class PaperRow:
    """One published number against ours."""

    model: str
    quantity: str  # "params" | "madds"
    paper: float
    ours: int
    rtol: float
    source: str
    note: str = ""

    @property
    def deviation(self) -> float:
        """(ours - paper) / paper."""
        return (self.ours - self.paper) / self.paper

    @property
    def ok(self) -> bool:
        return abs(self.ours - self.paper) <= self.rtol * abs(self.paper) * (1 + 1e-12)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "quantity": self.quantity,
            "paper": self.paper,
            "ours": self.ours,
            "deviation": self.deviation,
            "rtol": self.rtol,
            "ok": self.ok,
            "source": self.source,
            "note": self.note,
        }


@dataclass
class PapersResult:
    rows: list[PaperRow]
    without_numbers: list[str]  # selected models whose spec publishes no params / MAdds
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> list[PaperRow]:
        return [r for r in self.rows if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": [r.to_dict() for r in self.rows],
            "failed": len(self.failed),
            "without_published_numbers": self.without_numbers,
            "errors": self.errors,
        }


def paper_rows(name: str, entry: dict[str, Any]) -> list[PaperRow]:
    """Rows for one zoo model's published params and MAdds (none for user models)."""
    from netstat.zoo import get_spec

    if ":" in name:
        return []
    pub = get_spec(name).published
    if pub is None:
        return []
    rows = []
    for quantity, value, rtol in (("params", pub.params, pub.rtol_params), ("madds", pub.madds, pub.rtol_madds)):
        if value is not None and entry.get(quantity) is not None:
            rows.append(PaperRow(name, quantity, float(value), int(entry[quantity]), rtol, pub.source, pub.note))
    return rows


def papers(models: str | Sequence[str] | None = None, progress: ProgressFn | None = None) -> PapersResult:
    """Each selected zoo model against the numbers its paper publishes."""
    selection = select(parse_patterns(models))
    entries, errors = measure_all(selection, progress)
    rows: list[PaperRow] = []
    without = []
    for name in sorted(entries):
        found = paper_rows(name, entries[name])
        rows += found
        if not found:
            without.append(name)
    return PapersResult(rows, without, errors)

