"""The terminal as a new user meets it (issue 21, part 4): every command of
README.md, and the cases the issue names, run at COLUMNS=80 with stdout
piped. Each must exit 0 with no stdout line over 80 cells or ending in a
space, no warning or note on stdout (they go to stderr), and every column a
flag asked for present (never the one dropped to fit)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 80

# README commands not run here, each with the reason.
SLOW = {
    "netstat report": "re-measures the whole zoo and writes reports/ (minutes)",
    "netstat check --update": "rewrites the baseline",
}
PLACEHOLDERS = ("path/to/", "mypkg.", "my_net.py", "my_counts.json")  # names a reader replaces with their own

# (command, flag) -> the columns they ask for; None: any command, or no flag needed.
ASKED = {
    (None, "--bench"): ["Latency (ms)", "Time vs first (95% CI)"],
    (None, "--rf"): ["RF"],
    ("calc", "--size"): ["MAdds"],
    ("calc", None): ["Params", "vs std"],
    ("profile", "--train"): ["Fwd MAdds", "Bwd MAdds", "Saved"],
    ("fit", None): ["Batch", "Predicted peak", "Fits"],
    ("bench", None): ["Median ms", "±95% CI"],
}

# The cases issue 21 names, beside the README's (small time limits: the check is the layout, not the latency).
EXTRA = [
    "netstat compare mobilenet_v3_small shufflenet_v2_x0_5 --bench --min-time 0.1 --max-time 0.3",
    "netstat rf --dilation 2",
    "netstat bench mobilenet_v3_small --threads 1 --min-time 0.2 --max-time 0.6 --no-progress",
    "netstat calc conv --cin 32 --cout 64 --kernel 3 --groups 4 --size 56",
]


def readme_commands() -> list[str]:
    """`netstat ...` in README.md's ```bash blocks (also after `&&`) and its `$ netstat ...` lines, comments cut."""
    commands, block = [], None
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```"):
            block = None if block else line[3:].strip()
            continue
        text = re.sub(r"\s+#.*$", "", line).strip()
        if block == "bash":
            commands += [part.strip() for part in text.split("&&") if part.strip().startswith("netstat ")]
        elif block and text.startswith("$ netstat "):
            commands.append(text[2:])
    return list(dict.fromkeys(commands))


def _cases() -> list:
    cases = []
    for command in readme_commands() + EXTRA:
        reason = next((why for prefix, why in SLOW.items() if command.startswith(prefix)), None)
        if reason is None and any(p in command for p in PLACEHOLDERS):
            reason = "a placeholder for the reader's own model"
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        cases.append(pytest.param(command, marks=marks, id=command[len("netstat "):][:60]))
    return cases


def _asked(command: str) -> list[str]:
    words = shlex.split(command)
    return [col for (name, flag), cols in ASKED.items() if (name is None or words[1] == name) and (flag is None or flag in words) for col in cols]


def _run(command: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(WIDTH), "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    words = [word for word in shlex.split(command)[1:] if not re.match(r"\d?>", word)]  # the shell's redirections
    args = [sys.executable, "-m", "netstat", *words]
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command", _cases())
def test_command_at_80_columns_piped(command):
    from rich.cells import cell_len

    done = _run(command)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines, done.stderr[-2000:]
    assert [line for line in lines if line != line.rstrip()] == []
    if not re.search(r"--format[= ](md|csv|json)", command):  # machine formats: a Markdown paragraph is one line by design
        assert [line for line in lines if cell_len(line) > WIDTH] == []
    assert [line for line in lines if re.match(r"\s*(Warning|Note)\b", line)] == []
    dropped = " ".join(line for line in lines if line.startswith("Not shown at"))
    for column in _asked(command):
        assert column in done.stdout, column
        assert column not in dropped, column


def test_readme_commands_are_found():
    commands = readme_commands()
    assert any(c.startswith("netstat profile ") for c in commands), commands
    assert all(c.startswith("netstat ") and "#" not in c for c in commands)


def test_warnings_go_to_stderr():
    done = _run("netstat rf --dilation 2")
    assert "gridding" in done.stdout  # the table's own explanation stays
    assert "share the factor 2" not in done.stdout and "Warning: The dilation rates 2,2,2 share the factor 2" in done.stderr


def _fitted(table):
    from netstat.render import fit

    return fit(table, WIDTH)


def test_detector_table_keeps_madds_and_flops_at_80_columns():
    from netstat.render.profile import detector_table

    detector = SimpleNamespace(fixed_madds=120_020_000_000, fixed_flops=240_630_000_000, proposals=1000, per_proposal_madds=14_360_000,
                               per_proposal_flops=29_130_000, detections=100, per_detection_madds=0, per_detection_flops=0)
    table = _fitted(detector_table(SimpleNamespace(model="torchvision:fasterrcnn_resnet50_fpn", detector=detector)))
    headers = [c.header for c in table.columns]
    assert "MAdds" in headers and "FLOPs" in headers


def test_compare_bench_columns_are_the_last_dropped():
    from netstat.render.profile import compare_table

    totals = {"params": 25_557_032, "madds": 4_089_184_256, "flops": 8_200_000_000, "peak_activation_bytes": 1 << 24,
              "memory_access_bytes": 1 << 28, "arithmetic_intensity": 30.5}
    profiles = [SimpleNamespace(model=name, inputs=[{"shape": [1, 3, 224, 224]}], input_shape=(1, 3, 224, 224), totals=totals, uncounted_ops={})
                for name in ("mobilenet_v2", "shufflenet_v2_x1_0")]
    extra = {"Top-1": {}, "Final RF": {}, "Latency (ms)": {p.model: "123.45" for p in profiles},
             "Time vs first (95% CI)": {p.model: "1.23 [1.10, 1.40]" for p in profiles}}
    table = _fitted(compare_table(profiles, extra))
    headers = [c.header for c in table.columns]
    assert "Latency (ms)" in headers and "Time vs first (95% CI)" in headers
    assert "Final RF" not in headers  # dropped before them


def test_several_output_shapes_wrap_inside_their_cell(monkeypatch, capsys):
    from netstat.render import Column, Table, emit

    shapes = ["1x256x200x200", "1x256x100x100", "1x256x50x50", "1x256x25x25", "1x256x13x13"]
    table = Table("t", [Column("Layer", "left"), Column("Type", "left"), Column("Output", "left", wrap=True), Column("Params")])
    table.add_row(["backbone", "BackboneWithFPN", ", ".join(shapes), "26,799,296"])
    monkeypatch.setenv("COLUMNS", "60")
    emit([table], {}, "table")
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 60
    row = [line for line in lines if "backbone" in line][0]
    start = row.index(shapes[0])
    assert "26,799,296" in row  # the row's other cells stay on its first line
    rest = lines[lines.index(row) + 1: lines.index(row) + len(shapes)]
    assert [line[start:].rstrip(",").strip() for line in rest] == [s + "," if i < 3 else s for i, s in enumerate(shapes[1:])] or \
        [line.strip().rstrip(",") for line in rest] == shapes[1:]


def test_profile_tables_wrap_their_shape_columns():
    from netstat.render.profile import compare_table, list_table

    assert next(c for c in list_table([]).columns if c.header == "Input").wrap
    assert next(c for c in compare_table([]).columns if c.header == "Input").wrap


def _with_terminal_stderr(command: str) -> tuple[str, str]:
    """stdout piped, stderr a pseudo-terminal (as in an interactive shell): (stdout, what the terminal got)."""
    import pty
    import threading

    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": str(WIDTH)}
    process = subprocess.Popen([sys.executable, "-m", "netstat", *shlex.split(command)[1:]], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=slave, text=True)
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # the other end closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    out, _ = process.communicate(timeout=300)
    reader.join(timeout=10)
    os.close(master)
    assert process.returncode == 0
    return out, b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("command, shown", [("netstat profile lenet5 --depth 0", "Tracing lenet5"),
                                            ("netstat fit lenet5 --memory 64MiB", "Probing batches of lenet5")])
def test_slow_steps_show_progress_on_a_terminal_stderr_only(command, shown):
    out, terminal = _with_terminal_stderr(command)
    assert shown in terminal
    assert shown not in out and "\x1b" not in out
