"""Pinned numbers for CI: baselines, exact drift detection, the papers check.

A baseline (``reports/baseline.json``) records, for every selected model,
every input it was measured at (``inputs``: positional and keyword, shapes
and dtypes, as `netstat.inputs.Inputs.to_dict` writes them) and the integers
netstat computes: parameters (total and trainable), buffer elements, MAdds,
FLOPs, output shape, the final feature's receptive field and stride, peak
activation bytes and memory-access bytes, under a header with the netstat and
torch versions. ``check`` re-measures each model at the inputs its entry
records (unless it has inputs of its own or `inputs` are given: see
``netstat.selection``; an entry of an older baseline, schema 1 or "1.1"
without ``inputs``, records its ``input_shape``), and ``compare`` checks the
numbers exactly: any changed value is drift, and so is a model added to or
removed from the selection. The baseline is rewritten only by ``update``,
atomically (a temporary file in the same directory, then ``os.replace``;
through a symbolic link, its target), so an interrupted write leaves the old
file intact; the update re-reads and merges the file under a lock
(``netstat.atomic.file_lock``), so concurrent updates of different models all
survive.

Selecting models: see ``netstat.selection``. A pattern that names user code
and now fails to import or matches nothing is an error, never an empty
selection, so an update never drops a file's models because the file broke.

A baseline names models; it never runs code. User code (a ``module:`` or
``file.py:`` pattern) is imported only for patterns passed in ``models``: a
stored selection that names user code, with no ``models`` given, is an
ArgumentError, before anything is imported.

Errors: bad arguments and baselines (missing, a directory, not JSON -- a
number too long for Python or nesting too deep included --, wrong schema)
are UsageErrors raised before any measuring, one sentence each; they name
this module's parameters (``ArgumentError``: the CLI renames them to its
flags). A baseline that cannot be read or written is a NetstatError (exit
1) naming the path and the cause.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Sequence

from netstat.atomic import atomic_write, file_lock, target
from netstat.errors import ArgumentError, NetstatError, UsageError
from netstat.inputs import Inputs
from netstat.schema import SCHEMA_VERSION
from netstat.selection import ALL_ZOO, Selected, matches, names_user_code, parse_patterns, select  # noqa: F401 - re-exported

# A baseline written before "1.1" said 1 and holds the same fields; one of 1 or "1.1" may lack "inputs".
READS = tuple(dict.fromkeys((1, "1.1", SCHEMA_VERSION)))
DEFAULT_BASELINE = Path("reports") / "baseline.json"

# Quantity -> meaning; the order of a model's entry in the baseline.
QUANTITIES: dict[str, str] = {
    "input_shape": "the shape of the first input the model is measured at",
    "inputs": "every input the model is measured at, and check re-measures at: {name, shape, dtype} (positional ones named 0, 1, ...; the others by keyword)",
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
# Selection (netstat.selection) from a baseline.
# ---------------------------------------------------------------------------


def _patterns(doc: dict[str, Any], models: str | Sequence[str] | None, path: str | Path) -> list[str]:
    """The patterns to measure: those given, else the baseline's stored
    selection (else the whole zoo), which may not name user code."""
    if models is not None:
        return parse_patterns(models)
    stored = list(doc.get("selection") or [ALL_ZOO])
    user = [p for p in stored if names_user_code(p)]
    if user:
        raise ArgumentError(
            "The baseline '{path}' selects user code ({user}), which netstat imports only when you name it yourself: pass it with {models}.",
            path=path,
            user=", ".join(f"'{p}'" for p in user),
        )
    return stored


def _pinned(doc: dict[str, Any]) -> Callable[[str], int]:
    """pattern -> how many of the baseline's models it matches."""
    return lambda pattern: sum(matches(k, pattern) for k in doc.get("models", {}))


def recorded_inputs(entry: dict[str, Any] | None) -> Inputs | None:
    """The inputs a baseline entry was measured at: its "inputs" rows, else
    (an older baseline) its "input_shape"; None when it records neither.
    UsageError (or TypeError / KeyError / ValueError) when they are malformed."""
    if not entry:
        return None
    if "inputs" in entry:
        rows = entry["inputs"]
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise TypeError("not a list of inputs")
        return Inputs.from_dict(rows)
    shape = entry.get("input_shape")
    return None if shape is None else Inputs.from_shapes(shape)


# ---------------------------------------------------------------------------
# Measuring.
# ---------------------------------------------------------------------------


def final_rf(rf) -> dict[str, Any]:
    """RF and effective stride, per axis, of the final feature map of an
    RFResult (`.features`: VGG-16's pool5, 212 / stride 32; a segmentation
    net's output), 'global' where it already sees the whole input."""
    layer = rf.features
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
    """One model's baseline entry (JSON values, in QUANTITIES order), from a
    ModelSource or an existing `netstat.analyze()` result (no second trace)."""
    from netstat.analysis import Analysis, analyze

    analysis = source if isinstance(source, Analysis) else analyze(source)
    source, result = analysis.source, analysis.profile
    totals = result.totals
    entry: dict[str, Any] = {
        "input_shape": list(source.input_shape),
        "inputs": source.inputs.to_dict(),
        "params": totals["params"],
        "trainable_params": totals["trainable_params"],
        "buffers": totals["buffers"],
        "madds": totals["madds"],
        "flops": totals["flops"],
        "output_shape": _plain(totals["output_shape"]),
    }
    entry.update(final_rf(analysis.receptive_field))
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


def dumps(value: Any, indent: int = 0, inline: bool = False) -> str:
    """Deterministic, diff-friendly JSON: objects one key per line, lists of
    plain values (shapes) on one line, and so is an object of plain values
    and shapes inside a list (an input: {"name", "shape", "dtype"})."""
    pad = "  " * (indent + 1)
    if inline and isinstance(value, dict) and all(not isinstance(v, (dict, list)) or _plain_list(v) for v in value.values()):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if isinstance(value, dict) and value:
        items = [f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(value, (list, tuple)) and any(isinstance(v, dict) and v for v in value):
        items = [pad + dumps(v, indent + 1, inline=True) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _plain_list(value: Any) -> bool:
    return isinstance(value, list) and not any(isinstance(v, (dict, list)) for v in value)


def write_json(path: str | Path, doc: Any) -> None:
    """Deterministic JSON (see `dumps`), written atomically."""

    def write(handle: IO) -> None:
        handle.write(dumps(doc))
        handle.write("\n")

    atomic_write(path, write)


def load_baseline(path: str | Path) -> dict[str, Any]:
    """The baseline document at `path`, checked against the schema: one
    sentence (UsageError) when it is missing, a directory, not JSON or not a
    netstat baseline; a NetstatError when it cannot be read."""
    path = Path(path)
    if path.is_dir():
        raise _directory_error(path)
    if not path.is_file():
        raise ArgumentError("The baseline '{path}' does not exist.", hint="Create it with {update}.", path=path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"The baseline '{path}' is not valid JSON ({err}).") from None
    except RecursionError:
        raise UsageError(f"The baseline '{path}' is not valid JSON: it is nested too deeply to read.") from None
    except ValueError:  # Python's limit on the digits of an integer (sys.get_int_max_str_digits)
        raise UsageError(f"The baseline '{path}' is not valid JSON: a number in it has more than {sys.get_int_max_str_digits()} digits.") from None
    except OSError as err:
        raise NetstatError(f"Cannot read the baseline '{path}': {_cause(err)}.") from None
    problem = _schema_problem(doc)
    if problem:
        raise UsageError(f"The baseline '{path}' is not a netstat baseline: {problem}.")
    return doc


def _directory_error(path: Path) -> UsageError:
    return UsageError(f"The baseline '{path}' is a directory, not a JSON file.", hint="Give the file, e.g. reports/baseline.json.")


def _schema_problem(doc: Any) -> str:
    """What makes `doc` not a baseline of SCHEMA_VERSION ('' when nothing)."""
    if not isinstance(doc, dict):
        return f"it holds a JSON {type(doc).__name__}, not an object"
    version = doc.get("schema_version")
    if isinstance(version, bool) or version not in READS:
        older = ", ".join(repr(v) for v in READS if v != SCHEMA_VERSION)
        return f"its schema_version is {version!r}, and this netstat reads {SCHEMA_VERSION!r} (or {older})"
    models = doc.get("models")
    if not isinstance(models, dict) or not all(isinstance(v, dict) for v in models.values()):
        return "'models' is not a table of model entries"
    selection = doc.get("selection", [])
    if not isinstance(selection, list) or not all(isinstance(p, str) for p in selection):
        return "'selection' is not a list of model patterns"
    if not all(isinstance(doc.get(key, ""), str) for key in ("netstat_version", "torch_version")):
        return "its netstat_version or torch_version is not a version string"
    return next(filter(None, (_entry_problem(name, entry) for name, entry in models.items())), "")


MAX_DEPTH = 8  # a quantity is a number, a shape or a list of shapes; inputs rows are a little deeper


def _entry_problem(name: str, entry: dict[str, Any]) -> str:
    """What is wrong with one model's entry ('' when nothing): a value nested
    deeper than any quantity, or inputs that are not inputs."""
    if any(_deeper_than(value, MAX_DEPTH) for value in entry.values()):
        return f"the entry of '{name}' holds a value nested deeper than any quantity"
    try:
        recorded_inputs(entry)
    except (UsageError, TypeError, KeyError, ValueError, AttributeError):
        if "inputs" in entry:
            return f"the inputs of '{name}' are not a list of {{name, shape, dtype}} inputs"
        return f"the input_shape of '{name}' is not a shape"
    return ""


def _deeper_than(value: Any, limit: int) -> bool:
    """Is `value` nested more than `limit` lists / objects deep? (Iterative: no recursion to exhaust.)"""
    level = [value]
    for _ in range(limit):
        level = [v for item in level for v in (item.values() if isinstance(item, dict) else item if isinstance(item, list) else ())]
        if not level:
            return False
    return True


def _cause(err: OSError) -> str:
    """'Permission denied', 'Read-only file system': the OS's words."""
    return err.strerror or str(err) or type(err).__name__


def _write_error(path: Path, err: OSError) -> NetstatError:
    # Name the failing path only when it is not a file beside the baseline (temporary, lock).
    where = f" ('{err.filename}')" if err.filename and Path(err.filename).parent != path.parent else ""
    return NetstatError(f"Cannot write the baseline '{path}': {_cause(err)}{where}.")


def _check_writable(path: Path) -> None:
    """Before measuring: `path` can be a file (UsageError when it is a
    directory or sits under a file), and its lock can be taken (so the
    directory exists and is writable; else a NetstatError naming it)."""
    if path.is_dir():
        raise _directory_error(path)
    above = next((p for p in path.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise UsageError(f"The baseline '{path}' cannot be written: '{above}' is a file, not a directory.")
    try:
        with file_lock(path):
            pass
    except OSError as err:
        raise _write_error(path, err) from None
    directory = target(path).parent  # through a symbolic link: its target's (netstat.atomic writes there)
    if not os.access(directory, os.W_OK):
        raise NetstatError(f"Cannot write the baseline '{path}': its directory '{directory}' is not writable.")


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
        """now - baseline; None unless both are numbers and it is finite."""
        if _is_number(self.baseline) and _is_number(self.now):
            try:
                return _finite_or_none(self.now - self.baseline)
            except OverflowError:
                return None
        return None

    @property
    def relative(self) -> float | None:
        delta = self.delta
        if delta is None or not self.baseline:
            return None
        try:
            return _finite_or_none(delta / self.baseline)
        except OverflowError:
            return None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "quantity": self.quantity, "baseline": self.baseline, "now": self.now, "delta": self.delta, "relative": self.relative}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite_or_none(value: int | float) -> int | float | None:
    return None if isinstance(value, float) and not math.isfinite(value) else value


NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def strict_json(value: Any) -> Any:
    """`value` with every non-finite float (a baseline may hold NaN or
    Infinity, or a number too large for a float, which Python's JSON reads)
    as the string "NaN", "Infinity" or "-Infinity", so that it dumps as
    strict JSON (json.dumps(..., allow_nan=False))."""
    if isinstance(value, float) and not math.isfinite(value):
        return NON_FINITE[repr(value)]
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


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
    models: list[str] | None = None  # the patterns the caller gave (None: the baseline's selection)
    inputs: Inputs | None = None  # the inputs the caller gave (None: each model's own, or its recorded ones)

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
        """The JSON document. Strict JSON: a non-finite number (a baseline
        may hold NaN or Infinity) is the string "NaN", "Infinity" or
        "-Infinity" (`strict_json`), and a delta or relative change that is
        not finite is null."""
        return strict_json({
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
        })


RECORDED_SINCE_1_1 = ("inputs",)  # an older entry without them is not drift: it recorded input_shape


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
        keys = [k for k in now if k in before or k not in RECORDED_SINCE_1_1] + [k for k in before if k not in now]
        for key in keys:
            if before.get(key) != now.get(key) or (key in before) != (key in now):
                result.drift.append(Drift(name, key, before.get(key), now.get(key)))
    result.removed = sorted(expected - set(entries) - set(errors))
    return result


def check(baseline_path: str | Path = DEFAULT_BASELINE, models: str | Sequence[str] | None = None, inputs: Any = None, progress: ProgressFn | None = None) -> CheckResult:
    """Measure the selected models and compare them with the baseline. With
    no `models`, the selection stored in the baseline (else the whole zoo),
    which may not name user code (ArgumentError). Each model is measured at
    the inputs its entry records, unless it has its own (a zoo model, a
    factory's input_shape attribute) or `inputs` are given (an
    `netstat.inputs.Inputs`, one shape, or a list of shapes: for the models
    without inputs of their own)."""
    doc = load_baseline(baseline_path)
    patterns = _patterns(doc, models, baseline_path)
    given = Inputs.from_shapes(inputs)
    entries, errors = measure_all(_select(doc, patterns, given), progress)
    return _for_caller(compare(doc, entries, patterns, errors, str(baseline_path)), models, given)


def _select(doc: dict[str, Any], patterns: Sequence[str], given: Inputs | None) -> list[Selected]:
    """The models to measure, each at the inputs `select` picks: given, else its entry's."""
    models = doc.get("models", {})
    return select(patterns, given, _pinned(doc), lambda name: recorded_inputs(models.get(name)))


def _for_caller(result: CheckResult, models: str | Sequence[str] | None, given: Inputs | None) -> CheckResult:
    """`result`, knowing what the caller gave (so that it can say how to update)."""
    result.models = None if models is None else parse_patterns(models)
    result.inputs = given
    return result


def _empty_document() -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "models": {}, "selection": []}


def update(baseline_path: str | Path = DEFAULT_BASELINE, models: str | Sequence[str] | None = None, inputs: Any = None, progress: ProgressFn | None = None) -> CheckResult:
    """Rewrite the baseline for the selected models (atomically; through a
    symbolic link, its target) and return what changed. Each model is
    measured as `check` measures it: a model already pinned keeps its
    recorded inputs unless `inputs` are given. Models outside the selection
    keep their entries; selected ones that no longer exist are dropped, but
    a pattern naming user code that fails to import or matches nothing is a
    UsageError (the baseline is left as it is). Nothing is written when a
    model fails to build or run. Bad arguments and an unwritable path are
    found before measuring; the write re-reads the file under its lock and
    merges, so concurrent updates of other models survive."""
    path = Path(baseline_path)
    doc = load_baseline(path) if path.exists() else _empty_document()
    patterns = _patterns(doc, models, path)
    given = Inputs.from_shapes(inputs)
    selection = _select(doc, patterns, given)
    _check_writable(path)
    entries, errors = measure_all(selection, progress)
    if errors:
        result = compare(doc, entries, patterns, errors, str(path))
        result.updating = True
        return _for_caller(result, models, given)
    return _for_caller(_merge_and_write(path, entries, patterns), models, given)


def _merge_and_write(path: Path, entries: dict[str, dict[str, Any]], patterns: Sequence[str]) -> CheckResult:
    """Under the baseline's lock: re-read it, compare, merge `entries` into
    it (dropping selected models that are gone) and write it."""
    try:
        with file_lock(path):
            doc = load_baseline(path) if path.exists() else _empty_document()
            result = compare(doc, entries, patterns, None, str(path))
            kept = {k: v for k, v in doc["models"].items() if k not in entries and k not in result.removed}
            stored = list(doc.get("selection") or [])
            write_json(path, make_document({**kept, **entries}, stored + [p for p in patterns if p not in stored]))
    except OSError as err:
        raise _write_error(path, err) from None
    result.updating = result.updated = True
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



def build_catalog() -> list[dict[str, Any]]:
    """Recompute the zoo catalogue (netstat/data/zoo.json) from the registry:
    every spec's metadata with its params, MAdds and FLOPs (profiled on meta)."""
    from netstat.analysis import profile
    from netstat.zoo import all_specs

    entries = []
    for spec in all_specs():
        p = profile(spec.name)
        entry = spec.to_dict()
        entry.update(params=p.totals["params"], madds=p.totals["madds"], flops=p.totals["flops"])
        entries.append(entry)
    return entries
