"""netstat against torchvision's published numbers, for every model and weights entry.

    python tests/bench/torchvision_table.py [--all-entries] [--json out.json] [NAME_GLOB ...]

For every model in `torchvision.models.list_models()` (or those matching the
globs): `netstat.profile("torchvision:NAME")` with no flags, and the same for
every other weights entry whose `num_params` or `_ops` differ from DEFAULT's
(`--all-entries`: every entry). Prints one Markdown row per case: params and
GMACs (netstat vs `weights.meta`), the device the trace ran on, the input,
the seconds it took and, for a trace that fell back to CPU, why. This is the
table behind `tests/test_torchvision_models.py`; it writes nothing unless
`--json` is given.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
import time
import warnings


def cases(patterns: list[str], all_entries: bool) -> list[tuple[str, str | None]]:
    import torchvision.models as tvm

    out = []
    for name in tvm.list_models():
        if patterns and not any(fnmatch.fnmatch(name, p) for p in patterns):
            continue
        enum = tvm.get_model_weights(name)
        default = enum.DEFAULT
        out.append((name, None))
        for entry in enum:
            if entry is default:
                continue
            differs = (entry.meta.get("num_params"), entry.meta.get("_ops")) != (default.meta.get("num_params"), default.meta.get("_ops"))
            if differs or all_entries:
                out.append((name, entry.name))
    return out


def measure(name: str, entry: str | None) -> dict:
    import torchvision.models as tvm

    import netstat

    enum = tvm.get_model_weights(name)
    weights = enum.DEFAULT if entry is None else enum[entry]
    spec = f"torchvision:{name}" if entry is None else f"torchvision:{name}@{entry}"
    row = {"case": spec, "weights": str(weights), "published_params": weights.meta["num_params"], "published_gmacs": weights.meta["_ops"]}
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = netstat.profile(spec)
    except Exception as err:  # noqa: BLE001 - a table row, not a test
        row.update(error=f"{type(err).__name__}: {err}"[:300], seconds=round(time.perf_counter() - start, 2))
        return row
    row.update(
        params=result.totals["params"],
        madds=result.totals["madds"],
        gmacs=round(result.totals["madds"] / 1e9, 3),
        device=result.device,
        input_shape=list(result.input_shape),
        notes=[n for n in result.notes if "cannot run on the meta device" in n],
        uncounted=dict(result.uncounted_ops),
        seconds=round(time.perf_counter() - start, 2),
    )
    row["ok"] = row["params"] == row["published_params"] and row["gmacs"] == row["published_gmacs"]
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("patterns", nargs="*")
    parser.add_argument("--all-entries", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    rows = []
    print("| case | params (netstat / published) | GMACs (netstat / published) | device | input | s | ok |")
    print("|---|---|---|---|---|--:|---|")
    for name, entry in cases(args.patterns, args.all_entries):
        row = measure(name, entry)
        rows.append(row)
        if "error" in row:
            print(f"| {row['case']} | error: {row['error']} | | | | {row['seconds']} | no |", flush=True)
            continue
        print(
            f"| {row['case']} | {row['params']:,} / {row['published_params']:,} | {row['gmacs']} / {row['published_gmacs']} "
            f"| {row['device']} | {'x'.join(map(str, row['input_shape']))} | {row['seconds']} | {'yes' if row['ok'] else 'NO'} |",
            flush=True,
        )
        if args.json:  # after every row, so an interrupted run keeps what it measured
            with open(args.json, "w") as f:
                json.dump(rows, f, indent=1)
    bad = [r["case"] for r in rows if not r.get("ok")]
    print(f"\n{len(rows) - len(bad)}/{len(rows)} match; {sum(r.get('seconds', 0) for r in rows):.0f} s in all.", file=sys.stderr)
    if bad:
        print("Mismatches: " + ", ".join(bad), file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
