"""The CUDA caching allocator model (netstat.cuda_memory) against cases worked
out by hand from the rules of c10/cuda/CUDACachingAllocator.cpp: every
expected number below is written from the constants (512 B blocks, 1 MiB
small limit, 2 MiB small segments, 20 MiB segments for 1-10 MiB requests,
2 MiB rounding above 10 MiB) and the split / best-fit / merge rules."""

from __future__ import annotations

import pytest

from netstat.cuda_memory import CachingAllocator, replay, round_size, schedule, segment_size

KiB, MiB = 1 << 10, 1 << 20


def test_requests_round_up_to_512_byte_blocks():
    assert [round_size(n) for n in (1, 511, 512, 513, 1000, 4096)] == [512, 512, 512, 1024, 1024, 4096]


def test_segment_sizes_follow_the_pool_and_the_request():
    assert segment_size(512) == 2 * MiB  # small pool
    assert segment_size(1 * MiB) == 2 * MiB  # 1 MiB is still small
    assert segment_size(1 * MiB + 512) == 20 * MiB  # large, under 10 MiB
    assert segment_size(10 * MiB - 512) == 20 * MiB
    assert segment_size(10 * MiB) == 10 * MiB  # 10 MiB and up: rounded to 2 MiB
    assert segment_size(15 * MiB) == 16 * MiB


def test_three_700_kib_blocks_take_two_small_segments():
    a = CachingAllocator()
    for _ in range(3):
        a.malloc(700 * KiB)
    # 2 MiB holds two 700 KiB blocks (1400 KiB; 648 KiB left, too little for a third): a second segment
    assert a.reserved == 2 * 2 * MiB
    assert a.allocated == 3 * 700 * KiB
    assert [e["action"] for e in a.events] == ["segment_alloc", "alloc", "alloc", "segment_alloc", "alloc"]


def test_fifteen_mib_takes_a_sixteen_mib_segment_and_all_of_it_counts_as_allocated():
    a = CachingAllocator()
    a.malloc(15 * MiB)
    # segment rounded to 2 MiB: 16 MiB; the 1 MiB rest is not > 1 MiB, so the block is not split
    assert (a.reserved, a.allocated, a.requested) == (16 * MiB, 16 * MiB, 15 * MiB)


def test_five_mib_requests_share_one_twenty_mib_segment():
    a = CachingAllocator()
    a.malloc(5 * MiB)
    a.malloc(5 * MiB)
    a.malloc(5 * MiB)
    assert (a.reserved, a.allocated) == (20 * MiB, 15 * MiB)
    # the 5 MiB rest cannot hold 6 MiB: a second 20 MiB segment
    a.malloc(6 * MiB)
    assert (a.reserved, a.allocated) == (40 * MiB, 21 * MiB)


def test_a_freed_block_is_reused_and_nothing_is_released():
    a = CachingAllocator()
    first = a.malloc(3 * MiB)
    a.free(first)  # merges back into the whole 20 MiB segment, kept cached
    assert (a.reserved, a.allocated) == (20 * MiB, 0)
    a.malloc(8 * MiB)
    assert (a.reserved, a.allocated, a.peak_allocated, a.peak_reserved) == (20 * MiB, 8 * MiB, 8 * MiB, 20 * MiB)


def test_best_fit_picks_the_smallest_free_block_that_fits():
    a = CachingAllocator()
    big, small = a.malloc(14 * MiB), a.malloc(12 * MiB)
    a.free(big)
    a.free(small)
    got = a.malloc(11 * MiB)
    # the 12 MiB block fits with 1 MiB to spare (not split): 12 MiB allocated, no new segment
    assert got == small
    assert (a.reserved, a.allocated) == (26 * MiB, 12 * MiB)


def test_split_rest_of_a_large_block_over_one_mib_serves_the_next_request():
    a = CachingAllocator()
    x = a.malloc(12 * MiB)
    a.free(x)
    a.malloc(10 * MiB)  # 2 MiB remain (> 1 MiB): split
    a.malloc(2 * MiB)  # served by the rest, no new segment
    assert (a.reserved, a.allocated) == (12 * MiB, 12 * MiB)


def test_small_blocks_merge_with_free_neighbours():
    a = CachingAllocator()
    b1, b2, _ = a.malloc(512 * KiB), a.malloc(512 * KiB), a.malloc(512 * KiB)
    a.free(b1)
    a.free(b2)  # b1 + b2 merge into one 1 MiB free block
    a.malloc(1 * MiB)
    assert (a.reserved, a.allocated) == (2 * MiB, 1536 * KiB)


def test_small_and_large_pools_do_not_share_blocks():
    a = CachingAllocator()
    x = a.malloc(5 * MiB)
    a.free(x)  # a free 20 MiB large block
    a.malloc(1 * MiB)  # small: needs its own 2 MiB segment
    assert a.reserved == 22 * MiB


def test_peak_allocated_sums_live_blocks_at_the_worst_moment():
    a = CachingAllocator()
    x = a.malloc(100)  # 512-byte block
    y = a.malloc(3000)  # 3072
    a.free(x)
    a.malloc(5000)  # 5120
    a.free(y)
    assert a.peak_allocated == 3072 + 5120
    assert a.peak_requested == 3000 + 5000
    assert a.reserved == 2 * MiB


def test_trace_events_carry_requested_sizes_as_torch_records_them():
    a = CachingAllocator()
    addr = a.malloc(1000, [{"filename": "layer", "line": 3, "name": "aten.mul.Tensor"}])
    a.free(addr)
    assert [(e["action"], e["size"]) for e in a.events] == [("segment_alloc", 2 * MiB), ("alloc", 1000), ("free_requested", 1000), ("free_completed", 1000)]
    assert a.events[1]["frames"][0]["name"] == "aten.mul.Tensor"


@pytest.fixture(scope="module")
def small_step():
    import netstat

    return netstat.analyze("resnet18", input_size=(1, 3, 64, 64)).training(batch=4, optimizer="adamw")


def test_replay_of_a_step_brackets_the_liveness_walk(small_step):
    """End to end on resnet18: the allocator's requested peak is the
    unrounded liveness walk's peak (the same lifetimes), its allocated peak
    is at least the 512-byte-rounded walk's (without oneDNN's CPU workspaces) and at most that plus 1 MiB per
    large block (the most an unsplit rest can add), and reserved is at
    least allocated."""
    from netstat.memory import walk

    step = small_step.step
    cuda = replay(step)
    assert cuda.requested_peak == walk(step, step.storage_bytes, 1).peak_bytes
    rounded = walk(step, step.storage_bytes, 512).peak_bytes  # no CPU kernel workspaces: they do not apply on CUDA
    large = sum(1 for n in step.storage_bytes.values() if n > MiB)
    assert rounded <= cuda.allocated_peak <= rounded + large * MiB
    assert cuda.reserved_peak >= cuda.allocated_peak
    assert cuda.runs >= 2  # the first run reserves; a later one reuses it
    assert cuda.total_bytes == cuda.reserved_peak + cuda.context_bytes + cuda.workspace_bytes


def test_replay_allocates_every_nonempty_storage_once_per_run(small_step):
    plan = schedule(small_step.step)
    born = plan.resident + [s for i in sorted(plan.births) for s in plan.births[i]]
    assert sorted(born) == sorted(plan.sizes)
    assert all(plan.sizes[s] > 0 for s in born)
    freed = [s for i in plan.deaths for s in plan.deaths[i]] + plan.to_end
    assert sorted(freed + plan.resident) == sorted(born)


# --- reports/gpu_check.py: its pure parts (the GPU part runs only where a GPU is lent) ------------


@pytest.fixture(scope="module")
def gpu_check():
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "reports" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("gpu_check", None)


def test_gpu_check_verdicts_and_the_larger_batch(gpu_check):
    assert gpu_check.relative(105, 100) == pytest.approx(0.05)
    assert gpu_check.relative(1, 0) is None
    assert [gpu_check.verdict(e) for e in (0.05, -0.049, 0.06, -0.2, None)] == ["within 5%", "within 5%", "over", "UNDER", "not measured"]
    assert [gpu_check.larger_batch(b) for b in (1, 9, 10, 100, 101)] == [2, 10, 11, 110, 112]


def test_gpu_check_markdown_names_the_gpu_and_every_row(gpu_check):
    rows = [gpu_check.Row("resnet18", 64, "fp32", "sgd", 100 * MiB, 130 * MiB, 98 * MiB, 131 * MiB),
            gpu_check.Row("vit", 32, "bf16 autocast", "adamw", 50 * MiB, 60 * MiB, 60 * MiB, 80 * MiB),
            gpu_check.Row("ssd300", 16, "fp32", "sgd", 10 * MiB, 20 * MiB, error="OutOfMemoryError: x")]
    fits = [gpu_check.FitCheck("resnet18", 8 << 30, 250, True, 275, True)]
    report = gpu_check.Report("NVIDIA H100 80GB HBM3", "2.14.1", "13.0", 500 * MiB, 8 * MiB, rows, fits, 300.0)
    text = gpu_check.markdown(report)
    assert "GPU: **NVIDIA H100 80GB HBM3**" in text
    assert "| resnet18 | 64 | fp32 | sgd | 100.0 | 98.0 | +2.0% | 130.0 | 131.0 | -0.8% | within 5% |" in text
    assert "| vit | 32 | bf16 autocast | adamw | 50.0 | 60.0 | -16.7% | 60.0 | 80.0 | -25.0% | UNDER |" in text
    assert "failed: OutOfMemoryError: x" in text
    assert "1 of 2 measured steps within 5%" in text
    assert "| resnet18 | 250 | yes | 275 | yes |" in text


def test_gpu_check_models_resolve_and_it_refuses_to_run_without_a_gpu(gpu_check, capsys):
    import torch

    from netstat.spec import resolve

    for name, batch in gpu_check.MODELS:
        assert resolve(name).inputs and batch >= 1
    assert set(gpu_check.QUICK) <= {m for m, _ in gpu_check.MODELS} and set(gpu_check.FIT_MODELS) <= {m for m, _ in gpu_check.MODELS}
    if not torch.cuda.is_available():
        assert gpu_check.main([]) == 2
        assert "no CUDA device" in capsys.readouterr().err


@pytest.mark.parametrize("amp, optimizer", [(None, "sgd"), ("bf16", "adamw")])
def test_gpu_check_runs_the_step_netstat_traces_on_cpu(gpu_check, amp, optimizer):
    """The script's real step (build, inputs, optimizer, loss, autocast), run
    on CPU for a small model: the GPU run uses the same function with
    device "cuda". Two steps leave the optimizer's state behind: AdamW's two
    moments per parameter, SGD none."""
    calls = []
    opt = gpu_check.train_steps("lenet5", 4, amp, optimizer, "cpu", steps=2, before_last=lambda: calls.append(1))
    assert calls == [1]
    params = [p for group in opt.param_groups for p in group["params"]]
    moments = [t for p in params for k, t in opt.state[p].items() if k in ("exp_avg", "exp_avg_sq")]
    assert len(moments) == (2 * len(params) if optimizer == "adamw" else 0)
    assert all(p.grad is not None for p in params)
