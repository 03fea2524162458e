"""The predicted step exported as a PyTorch memory snapshot (netstat.snapshot):
torch's own `torch.cuda._memory_viz` reads and renders the file, and the curves
its viewer draws -- recomputed here the way MemoryViz.js's process_alloc_data
does -- are netstat's: the Active Memory Timeline is the unrounded liveness
walk of the step, the Active Cached Memory Timeline the predicted reserved bytes."""

from __future__ import annotations

import json
import pickle

import pytest
from torch.cuda import _memory_viz

from netstat.cuda_memory import replay
from netstat.snapshot import check_snapshot_path, snapshot, write_snapshot


@pytest.fixture(scope="module")
def step():
    import netstat

    return netstat.analyze("resnet18", input_size=(1, 3, 32, 32)).training(batch=2, optimizer="sgdm").step


@pytest.fixture(scope="module")
def exported(step, tmp_path_factory):
    cuda = replay(step)
    path = write_snapshot(cuda, tmp_path_factory.mktemp("snap") / "step.pickle")
    with open(path, "rb") as f:
        return cuda, pickle.load(f)


def viewer_curve(data: dict, plot_segments: bool = False) -> tuple[list[int], list[int]]:
    """MemoryViz.js process_alloc_data, transcribed: (the total after each
    action, the index of the trace event behind each action). Blocks active at
    the end that the trace never allocated (or segments it never made) were
    there from the start."""
    alloc, free = ("segment_alloc", ("segment_free",)) if plot_segments else ("alloc", ("free", "free_completed"))
    live: dict[int, int] = {}
    steps: list[tuple[int, int]] = []
    for idx, e in enumerate(data["device_traces"][0]):
        if e["action"] == alloc:
            live[e["addr"]] = e["size"]
            steps.append((e["size"], idx))
        elif e["action"] in free and e["addr"] in live:
            steps.append((-live.pop(e["addr"]), idx))
    if plot_segments:
        initial = sum(s["total_size"] for s in data["segments"] if s["address"] not in live)
    else:
        initial = sum(b["requested_size"] for s in data["segments"] for b in s["blocks"]
                      if b["state"] == "active_allocated" and b["address"] not in live)
    totals, events, total = [], [], initial
    for delta, idx in steps:
        total += delta
        totals.append(total)
        events.append(idx)
    return totals, events


def test_memory_viz_reads_and_renders_the_snapshot(exported):
    cuda, data = exported
    stats = _memory_viz.segsum(data)  # raises on any block that does not add up to its segment
    assert f"segments: {cuda.segments}" in stats
    text = _memory_viz.trace(data)
    # the steady-state step reuses the segments an earlier step reserved: no cudaMalloc in its trace
    assert text.startswith("Device 0") and "del " in text and "cudaMalloc(" not in text
    for html in (_memory_viz.trace_plot(data), _memory_viz.trace_plot(data, plot_segments=True), _memory_viz.segment_plot(data)):
        assert "add_local_files" in html and len(html) > 1000
    flame = _memory_viz.memory(data, format_flamegraph=lambda lines: lines)
    assert "active_allocated" in flame and "before the step" in flame
    assert "aten.convolution" in _memory_viz.segments(data, format_flamegraph=lambda lines: lines)


def test_segments_add_up_to_the_predicted_reserved_and_allocated_bytes(exported):
    cuda, data = exported
    alloc = cuda.allocator
    assert sum(s["total_size"] for s in data["segments"]) == alloc.reserved == cuda.reserved_peak
    assert sum(b["size"] for s in data["segments"] for b in s["blocks"] if b["state"] == "active_allocated") == alloc.allocated


def test_the_viewers_allocated_curve_is_netstats_liveness_walk(step, exported):
    """At every op that allocates, the viewer's total after the op's last
    allocation equals the walk's live bytes after that op; the peaks agree."""
    from netstat.memory import walk

    cuda, data = exported
    totals, events = viewer_curve(data)
    trace = data["device_traces"][0]
    after_op: dict[int, int] = {}
    for total, idx in zip(totals, events):
        e = trace[idx]
        if e["action"] == "alloc" and e["frames"][0]["filename"] != "before the step":
            after_op[e["frames"][0]["line"]] = total
    timeline = walk(step, step.storage_bytes, 1).timeline
    assert len(after_op) > 100
    assert {i: timeline[i] for i in after_op} == after_op
    assert max(totals) == max(timeline) == cuda.requested_peak


def test_the_viewers_cached_memory_curve_is_the_predicted_reserved(exported):
    cuda, data = exported
    totals, _ = viewer_curve(data, plot_segments=True)
    final = sum(s["total_size"] for s in data["segments"])
    assert (max(totals) if totals else final) == final == cuda.reserved_peak


def test_frames_name_the_op_and_layer_of_each_allocation(exported):
    _, data = exported
    allocs = [e for e in data["device_traces"][0] if e["action"] == "alloc"]
    convs = [e for e in allocs if e["frames"][0]["name"].startswith("aten.convolution")]
    assert convs and all(e["frames"][0]["filename"] not in ("", "(model)") for e in convs)
    from netstat.trace import PHASES

    phases = {e["frames"][1]["name"] for e in allocs}
    assert {"forward", "backward"} <= phases <= set(PHASES)  # SGD with momentum updates in place: nothing allocated in its step


@pytest.mark.parametrize("name", ["step.json", "step"])
def test_snapshot_path_must_be_a_pickle(tmp_path, name):
    from netstat.errors import UsageError

    with pytest.raises(UsageError, match="pickle"):
        check_snapshot_path(tmp_path / name)


def test_snapshot_of_a_result_without_allocator_state_is_refused():
    from netstat.cuda_memory import CudaMemory

    with pytest.raises(ValueError):
        snapshot(CudaMemory(0, 0, 0, 0, 1))


# --- the CLI: profile --train --device cuda / --snapshot, fit --device cuda ---------------------

from typer.testing import CliRunner  # noqa: E402


def _run(*args):
    from netstat.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_profile_train_device_cuda_writes_a_snapshot_and_shows_the_allocator_lines(tmp_path):
    import netstat

    path = tmp_path / "out" / "step.pickle"
    r = _run("profile", "lenet5", "--train", "--batch", "8", "--device", "cuda", "--snapshot", str(path), "--format", "json")
    assert r.exit_code == 0, r.output
    with open(path, "rb") as f:
        data = pickle.load(f)
    expected = netstat.analyze("lenet5").training(batch=8).cuda_memory()
    assert sum(s["total_size"] for s in data["segments"]) == expected.reserved_peak
    document = json.loads(r.stdout[r.stdout.index("{"):])
    block = document["training"]["cuda"]
    assert (block["allocated_peak_bytes"], block["reserved_peak_bytes"]) == (expected.allocated_peak, expected.reserved_peak)
    assert block["context_and_workspace"] == "typical (not measured)"
    table = _run("profile", "lenet5", "--train", "--batch", "8", "--device", "cuda")
    assert table.exit_code == 0, table.output
    assert "Allocated peak (max_memory_allocated)" in table.output and f"{expected.reserved_peak:,}" in table.output


@pytest.mark.parametrize("args, words", [
    (["profile", "lenet5", "--snapshot", "x.pickle"], ["--snapshot", "--train"]),
    (["profile", "lenet5", "--train", "--snapshot", "x.json"], ["pickle"]),
    (["profile", "lenet5", "--train", "--device", "cpu"], ["meta", "--device cuda"]),
    (["compare", "lenet5", "alexnet", "--train", "--device", "cuda"], ["meta"]),
    (["fit", "lenet5", "--memory", "1GiB", "--device", "tpu"], ["--device", "cuda"]),
])
def test_bad_cuda_memory_flags_get_one_clear_sentence(args, words):
    r = _run(*args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    for word in words:
        assert word in r.output


def test_fit_device_cuda_budgets_reserved_plus_context_and_workspace():
    import netstat

    result = netstat.fit("lenet5", "700MiB", train=True, device="cuda")
    assert result.device == "cuda" and result.batch > 0
    fits = netstat.analyze("lenet5").training(batch=result.batch).cuda_memory()
    above = netstat.analyze("lenet5").training(batch=result.batch + 1).cuda_memory()
    assert fits.total_bytes == result.peak_bytes <= result.usable_bytes == int(700 * 2**20 / 1.02) < above.total_bytes
    assert fits.total_bytes == fits.reserved_peak + 500 * 2**20 + 32 * 2**20
