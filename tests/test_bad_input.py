"""Bad input, table-driven (issue 11): every case gets one clear sentence and
a non-zero exit code (2 for usage, 1 for a runtime failure), never a
traceback, never an "Internal error", never a hang.

Three tables:

- CLI_CASES run in-process through Typer's CliRunner: the exit code, the
  single "Error: ..." line on stderr, a fragment it must contain, and the
  wall time of the case;
- PROCESS_CASES run as real `python -m netstat` processes with a timeout:
  the cases that could hang, crash the interpreter or exhaust memory, and a
  few plain ones that prove the process-level exit codes;
- API_CASES call the library: a `netstat.errors.NetstatError` subclass (never
  TypeError / ValueError / RuntimeError ...) with a one-line message that
  names parameters, not CLI flags.

`{tmp}` in an argument is the folder with the tiny user files written by the
`files` fixture (FILES below).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from typer.testing import CliRunner

from netstat.cli import app
from netstat.errors import ModelRunError, NetstatError, UsageError

LIMIT_S = 20.0  # wall time allowed per case (in-process and subprocess)
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
HAS_PROC = pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc")
# A file name of 300 characters (NAME_MAX is 255) and a path of 5,000 in
# components of 99 (PATH_MAX is 4,096): ENAMETOOLONG, whatever the folders.
LONG_NAME = "n" * 300
LONG_PATH = "/".join(["d" * 99] * 50)

# --------------------------------------------------------------------------- user files

FILES = {
    "good.py": '''
import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x)


class BadForward(nn.Module):
    def forward(self, x):
        raise RuntimeError("forward exploded")


def build():
    return Tiny()


def needs_args(width):
    return Tiny()


def returns_int():
    return 42


def returns_none():
    return None


def raises():
    raise RuntimeError("boom")


def bad_forward():
    return BadForward()


not_callable = 42

inst = Tiny()  # a module instance, not a factory: used as the model
''',
    "broken.py": "def build(:\n    return None\n",
    "imports_missing.py": "import no_such_package_xyz\n\ndef build():\n    return None\n",
    "not_json.json": "this is { not json",
    "not_a_baseline.json": "[1, 2, 3]",
    "empty_baseline.json": json.dumps({"schema_version": 1, "models": {}, "selection": []}),
    "abort_baseline.json": json.dumps({"schema_version": 1, "models": {}, "selection": ["os:abort"]}),
    "a_file.txt": "I am a file, not a folder.\n",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad_input")
    for name, text in FILES.items():
        (root / name).write_text(text.lstrip("\n"), encoding="utf-8")
    (root / "a_folder.png").mkdir()  # a folder with a figure's name
    return root


def _fill(args: list[str], root: Path) -> list[str]:
    return [a.replace("{tmp}", str(root)) for a in args]


# --------------------------------------------------------------------------- the checks


def assert_one_sentence(stderr: str, fragment: str, where: str) -> None:
    """stderr is one line, "Error: ...", containing `fragment`; no traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, f"{where}: traceback on stderr:\n{stderr}"
    assert "Internal error" not in stderr, f"{where}: an unexpected exception:\n{stderr}"
    assert len(lines) == 1, f"{where}: expected one line on stderr, got {len(lines)}:\n{stderr}"
    assert lines[0].startswith("Error: "), f"{where}: stderr does not start with 'Error: ':\n{stderr}"
    assert fragment in lines[0], f"{where}: {fragment!r} is not in the message:\n{lines[0]}"


def assert_code(code: int, expected: int | tuple[int, ...], where: str, output: str) -> None:
    allowed = expected if isinstance(expected, tuple) else (expected,)
    assert code in allowed, f"{where}: exit code {code}, expected {expected}:\n{output}"


def assert_outcome(code: int, stdout: str, stderr: str, fragment: str, where: str) -> None:
    """A failure: the one sentence. Exit 0 (a huge but possible value): a
    result and no error at all."""
    assert "Traceback" not in stdout, f"{where}: traceback on stdout:\n{stdout}"
    if code == 0:
        assert stdout.strip(), f"{where}: exit 0 without a result"
        assert "Error" not in stderr and "Traceback" not in stderr, f"{where}: exit 0 but:\n{stderr}"
    else:
        assert_one_sentence(stderr, fragment, where)


class CaseTimeout(BaseException):
    """Raised by SIGALRM in a case that runs past LIMIT_S (a BaseException so
    that no `except Exception` of the code under test can swallow it)."""


class time_limit:
    """Interrupts the block after `seconds` (where the platform has SIGALRM)
    and fails when it took longer, interrupted or not."""

    def __init__(self, seconds: float, where: str) -> None:
        self.seconds, self.where = seconds, where
        self.armed = hasattr(signal, "setitimer")

    def _alarm(self, signum, frame):
        raise CaseTimeout(f"{self.where}: still running after {self.seconds:.0f} s")

    def __enter__(self):
        self.start = time.perf_counter()
        if self.armed:
            self.previous = signal.signal(signal.SIGALRM, self._alarm)
            signal.setitimer(signal.ITIMER_REAL, self.seconds + 5)
        return self

    def __exit__(self, *exc):
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        self.elapsed = time.perf_counter() - self.start
        if exc[0] is CaseTimeout:
            pytest.fail(str(exc[1]))
        if exc[0] is None:
            assert self.elapsed < self.seconds, f"{self.where}: took {self.elapsed:.1f} s (limit {self.seconds:.0f} s)"
        return False


# --------------------------------------------------------------------------- CLI, in-process


def cli(args, code, fragment, *, id, marks=()):  # noqa: A002 - pytest's name
    return pytest.param(args, code, fragment, id=id, marks=marks)


CLI_CASES = [
    # ---- naming a model
    cli(["profile", "resnet5O"], 2, "Unknown model", id="profile-unknown-model"),
    cli(["profile", "resnet5O"], 2, "resnet50", id="profile-near-miss-suggests"),
    cli(["profile", "lenet6"], 2, "lenet5", id="profile-near-miss-digit"),
    cli(["profile", "mobilenet_v4"], 2, "Unknown model", id="profile-unknown-alias"),
    cli(["profile", "mobilenet"], 2, "ambiguous", id="profile-ambiguous-alias"),
    cli(["profile", ""], 2, "model", id="profile-empty-model-name"),
    cli(["profile"], 2, "Missing argument", id="profile-no-model"),
    cli(["frobnicate"], 2, "No such command", id="unknown-command"),
    # ---- --input
    cli(["profile", "lenet5", "--input", "1,1,abc,32"], 2, "Malformed --input", id="input-letters"),
    cli(["profile", "lenet5", "--input", ""], 2, "--input", id="input-empty"),
    cli(["profile", "lenet5", "--input", ",,"], 2, "--input", id="input-only-commas"),
    cli(["profile", "lenet5", "--input", "1,1,32.5,32"], 2, "Malformed --input", id="input-float"),
    cli(["profile", "lenet5", "--input", "1,1,,32"], 2, "Malformed --input", id="input-empty-size"),
    cli(["profile", "lenet5", "--input", "1,1,x,32"], 2, "Malformed --input", id="input-stray-x"),
    cli(["profile", "lenet5", "--input", "1,1,0,32"], 2, "positive", id="input-zero"),
    cli(["profile", "lenet5", "--input", "0,0,0,0"], 2, "positive", id="input-all-zeros"),
    cli(["profile", "lenet5", "--input", "1,1,-32,32"], 2, "positive", id="input-negative"),
    cli(["profile", "lenet5", "--input", "32"], 1, "cannot run", id="input-too-few-dims"),
    cli(["profile", "lenet5", "--input", "1,1,4,4"], 1, "cannot run", id="input-too-small"),
    cli(["profile", "lenet5", "--input", "1,3,32,32"], 1, "channels", id="input-wrong-channels"),
    cli(["rf", "lenet5", "--input", "1,1,4,4"], 1, "cannot run", id="rf-input-too-small"),
    # ---- user files and modules
    cli(["profile", "{tmp}/nothere.py:build"], 2, "does not exist", id="file-missing"),
    cli(["profile", "{tmp}/good.py:nothing", "--input", "1,3,8,8"], 2, "no factory named 'nothing'", id="file-without-factory"),
    cli(["profile", "{tmp}/good.py:not_callable", "--input", "1,3,8,8"], 2, "not callable", id="factory-not-callable"),
    cli(["profile", "{tmp}/good.py:returns_int", "--input", "1,3,8,8"], 2, "not a torch.nn.Module", id="factory-returns-int"),
    cli(["profile", "{tmp}/good.py:returns_none", "--input", "1,3,8,8"], 2, "not a torch.nn.Module", id="factory-returns-none"),
    cli(["profile", "{tmp}/good.py:raises", "--input", "1,3,8,8"], 1, "boom", id="factory-raises"),
    cli(["profile", "{tmp}/good.py:needs_args", "--input", "1,3,8,8"], 2, "argument", id="factory-needs-args"),
    cli(["profile", "{tmp}/good.py:bad_forward", "--input", "1,3,8,8"], 1, "forward exploded", id="forward-raises"),
    cli(["profile", "{tmp}/good.py:build"], 2, "--input", id="factory-without-default-input"),
    cli(["profile", "{tmp}/good.py"], 2, "names a file but no factory", id="file-without-factory-name"),
    cli(["profile", f"{{tmp}}/{LONG_PATH}.py:build"], 2, "File name too long", id="file-path-5000-characters"),
    cli(["profile", "{tmp}/broken.py:build", "--input", "1,3,8,8"], 2, "SyntaxError", id="file-syntax-error"),
    cli(["profile", "{tmp}/imports_missing.py:build", "--input", "1,3,8,8"], 2, "no_such_package_xyz", id="file-imports-missing-module"),
    cli(["profile", "no_such_module_xyz:build"], 2, "Cannot import module", id="module-missing"),
    cli(["profile", "netstat.zoo.lenet:"], 2, "names no factory", id="module-empty-factory"),
    cli(["profile", "netstat.zoo.lenet:nothing"], 2, "no factory named 'nothing'", id="module-without-factory"),
    cli(["profile", "torchvision:nonexistent"], 2, "torchvision has no model", id="torchvision-nonexistent"),
    cli(["profile", "torchvision:resnet18@ResNet50_Weights.IMAGENET1K_V1"], 2, "not weights of torchvision's resnet18", id="torchvision-weights-of-another-builder"),
    cli(["profile", "timm:nonexistent"], 2, "timm has no model", id="timm-nonexistent"),
    # ---- --input with a stray separator, in every command that takes one
    cli(["profile", "lenet5", "--input", "1,2,x"], 2, "Malformed --input '1,2,x'", id="profile-input-trailing-x"),
    cli(["compare", "lenet5", "alexnet", "--input", "1,2,x"], 2, "Malformed --input '1,2,x'", id="compare-input-trailing-x"),
    cli(["rf", "lenet5", "--input", "1,2,x"], 2, "Malformed --input '1,2,x'", id="rf-input-trailing-x"),
    cli(["bench", "lenet5", "--input", "1,2,x", "--no-progress"], 2, "Malformed --input '1,2,x'", id="bench-input-trailing-x"),
    cli(["check", "--baseline", "{tmp}/empty_baseline.json", "--models", "lenet5", "--input", "1,2,x"], 2, "Malformed --input '1,2,x'", id="check-input-trailing-x"),
    cli(["fit", "lenet5", "--memory", "1GiB", "--input", "1,2,x"], 2, "Malformed --input '1,2,x'", id="fit-input-trailing-x"),
    # ---- options of profile / list
    cli(["profile", "lenet5", "--format", "xml"], 2, "Unknown format", id="profile-unknown-format"),
    cli(["profile", "lenet5", "--by", "colour"], 2, "Unknown --by", id="profile-unknown-by"),
    cli(["profile", "lenet5", "--device", "tpu"], 2, "Unknown device", id="profile-unknown-device"),
    cli(["profile", "lenet5", "--device", "cuda"], 2, "CUDA", id="profile-cuda-without-cuda", marks=NO_CUDA),
    cli(["profile", "lenet5", "--depth", "-1"], 2, "--depth", id="profile-negative-depth"),
    cli(["profile", "lenet5", "--depth", "two"], 2, "--depth", id="profile-depth-not-int"),
    cli(["profile", "lenet5", "--plot-style", "fancy"], 2, "No such option", id="profile-no-such-option"),
    cli(["profile", "lenet5", "--plot-style=dark"], 2, "No such option", id="profile-no-such-option-equals"),
    cli(["list", "--task", "poetry"], 2, "Unknown task", id="list-unknown-task"),
    cli(["list", "--family", "nosuchfamily"], 2, "nosuchfamily", id="list-unknown-family"),
    cli(["list", "--format", "yaml"], 2, "Unknown format", id="list-unknown-format"),
    # ---- compare
    cli(["compare", "lenet5"], 2, "two or more", id="compare-one-model"),
    cli(["compare", "lenet5", "nosuchnet"], 2, "Unknown model", id="compare-unknown-model"),
    cli(["compare", "lenet5", "lenet5", "--input", "1,1,y,32"], 2, "Malformed --input", id="compare-bad-input"),
    # ---- calc conv
    cli(["calc", "conv", "--cin", "0", "--cout", "16"], 2, "--cin must be a positive integer", id="calc-zero-cin"),
    cli(["calc", "conv", "--cin", "-8", "--cout", "16"], 2, "--cin must be a positive integer", id="calc-negative-cin"),
    cli(["calc", "conv", "--cin", "8", "--cout", "0"], 2, "--cout must be a positive integer", id="calc-zero-cout"),
    cli(["calc", "conv", "--cin", "8", "--cout", "-3"], 2, "--cout must be a positive integer", id="calc-negative-cout"),
    cli(["calc", "conv", "--cin", "8", "--cout", "16", "--kernel", "0"], 2, "--kernel must be a positive integer", id="calc-zero-kernel"),
    cli(["calc", "conv", "--cin", "8", "--cout", "16", "--groups", "0"], 2, "--groups must be a positive integer", id="calc-zero-groups"),
    cli(["calc", "conv", "--cin", "8", "--cout", "16", "--groups", "-2"], 2, "--groups must be a positive integer", id="calc-negative-groups"),
    cli(["calc", "conv", "--cin", "8", "--cout", "16", "--groups", "3"], 2, "must divide", id="calc-groups-not-dividing"),
    cli(["calc", "conv", "--cin", "8", "--cout", "16", "--size", "0"], 2, "--size must be a positive integer", id="calc-zero-size"),
    cli(["calc", "conv", "--cin", "8", "--cout", "16", "--size", "32", "--stride", "0"], 2, "--stride must be a positive integer", id="calc-zero-stride"),
    cli(["calc", "conv", "--cin", "8", "--cout", "16", "--groups", "16"], 2, "must divide", id="calc-groups-above-cin"),
    cli(["calc", "conv", "--cin", "eight", "--cout", "16"], 2, "--cin", id="calc-cin-not-int"),
    # Huge but possible: exact integers, at once (exit 0, nothing on stderr).
    cli(["calc", "conv", "--cin", "1000000000000", "--cout", "1000000000000", "--kernel", "99999", "--groups", "1000", "--size", "1000000000", "--format", "json"], 0, "", id="calc-huge-values"),
    cli(["calc", "conv", "--cout", "16"], 2, "--cin", id="calc-missing-cin"),
    cli(["calc", "conv", "--cin", "8", "--cout", "16", "--format", "xml"], 2, "Unknown format", id="calc-unknown-format"),
    cli(["calc", "deconv"], 2, "No such command", id="calc-unknown-calculator"),
    # ---- rf: the calculator
    cli(["rf", "--kernel", "abc"], 2, "Malformed --kernel", id="rf-kernel-letters"),
    cli(["rf", "--kernel", "0"], 2, "kernel", id="rf-kernel-zero"),
    cli(["rf", "--kernel", "-3"], 2, "kernel", id="rf-kernel-negative"),
    cli(["rf", "--kernel", "3,3,3,3"], 2, "kernel", id="rf-kernel-four-dims"),
    cli(["rf", "--stride", "two"], 2, "Malformed --stride", id="rf-stride-letters"),
    cli(["rf", "--stride", "0"], 2, "stride", id="rf-stride-zero"),
    cli(["rf", "--dilation", "0"], 2, "dilation", id="rf-dilation-zero"),
    cli(["rf", "--dilation", "1,y,5"], 2, "Malformed --dilation", id="rf-dilation-letters"),
    cli(["rf", "--layers", "0"], 2, "layers", id="rf-layers-zero"),
    cli(["rf", "--layers", "10001"], 2, "layers", id="rf-layers-too-many"),
    cli(["rf", "--layers", "3", "--stride", "2,1"], 2, "stride", id="rf-strides-count-mismatch"),
    cli(["rf", "--verify"], 2, "need a model", id="rf-verify-without-model"),
    # ---- rf: models
    cli(["rf", "nosuchnet"], 2, "Unknown model", id="rf-unknown-model"),
    cli(["rf", "lenet5", "--kernel", "3"], 2, "calculator", id="rf-model-with-calculator-option"),
    cli(["rf", "lenet5", "--depth", "-1"], 2, "--depth", id="rf-depth-negative"),
    cli(["rf", "lenet5", "--depth", "0", "--verify"], 2, "--depth", id="rf-verify-depth-zero"),
    cli(["rf", "lenet5", "--seeds", "0"], 2, "--seeds", id="rf-seeds-zero"),
    cli(["rf", "lenet5", "--plot", "{tmp}/rf.txt"], 2, "Cannot write a figure", id="rf-plot-bad-suffix"),
    cli(["rf", "lenet5", "--plot", "{tmp}/no/such/dir/rf.png"], 2, "does not exist", id="rf-plot-missing-folder"),
    cli(["rf", "lenet5", "--plot", "{tmp}/a_folder.png"], 2, "is a folder; give a file name", id="rf-plot-is-a-folder"),
    cli(["rf", "lenet5", "--plot", f"{{tmp}}/{LONG_NAME}.png"], 2, "file systems take at most 255", id="rf-plot-name-300-characters"),
    # root writes anywhere on disk, but not in /proc (the temporary file cannot be made there)
    cli(["rf", "lenet5", "--plot", "/proc/rf.png"], 1, "Cannot write the figure '/proc/rf.png'", id="rf-plot-into-proc", marks=HAS_PROC),
    # ---- bench (validated before anything is measured)
    cli(["bench", "lenet5", "--batch", "0", "--no-progress"], 2, "batch", id="bench-batch-zero"),
    cli(["bench", "lenet5", "--batch", "1,y", "--no-progress"], 2, "Malformed --batch", id="bench-batch-letters"),
    cli(["bench", "lenet5", "--threads", "0", "--no-progress"], 2, "threads", id="bench-threads-zero"),
    cli(["bench", "lenet5", "--dtype", "fp8", "--no-progress"], 2, "Unknown dtype", id="bench-unknown-dtype"),
    cli(["bench", "lenet5", "--mode", "fast", "--no-progress"], 2, "Unknown mode", id="bench-unknown-mode"),
    cli(["bench", "lenet5", "--amp", "--no-progress"], 2, "amp", id="bench-amp-with-fp32"),
    cli(["bench", "lenet5", "--min-time", "2", "--max-time", "1", "--no-progress"], 2, "max", id="bench-max-below-min"),
    cli(["bench", "lenet5", "--device", "cuda", "--no-progress"], 2, "CUDA", id="bench-cuda-without-cuda", marks=NO_CUDA),
    cli(["bench", "nosuchnet", "--no-progress"], 2, "Unknown model", id="bench-unknown-model"),
    cli(["bench", "lenet5", "lenet5", "--precision", "lots", "--no-progress"], 2, "--precision", id="bench-precision-words"),
    cli(["bench", "lenet5", "lenet5", "--precision", "150%", "--no-progress"], 2, "--precision", id="bench-precision-above-100"),
    cli(["bench", "lenet5", "--processes", "0", "--no-progress"], 2, "--processes", id="bench-processes-zero"),
    cli(["bench", "nosuchnet", "lenet5", "--processes", "2", "--no-progress"], 2, "process 1 of 2 failed",
        id="bench-processes-child-fails"),
    # ---- training: profile / compare --train, fit
    cli(["profile", "lenet5", "--train", "--batch", "0"], 2, "--batch must be a whole number", id="train-batch-zero"),
    cli(["profile", "lenet5", "--train", "--batch", "two"], 2, "--batch", id="train-batch-not-int"),
    cli(["profile", "lenet5", "--train", "--batch", "99999999999999999999"], 2, "--batch must be at most", id="train-batch-beyond-int64"),
    cli(["compare", "lenet5", "alexnet", "--train", "--batch", "2147483648"], 2, "--batch must be at most", id="compare-train-batch-beyond-int32"),
    cli(["profile", "lenet5", "--train", "--optimizer", "lion"], 2, "Unknown optimizer", id="train-unknown-optimizer"),
    cli(["profile", "lenet5", "--train", "--amp", "fp8"], 2, "--amp", id="train-unknown-amp"),
    cli(["profile", "lenet5", "--train", "--dtype", "fp64"], 2, "Unknown dtype", id="train-unknown-dtype"),
    cli(["profile", "lenet5", "--train", "--amp", "bf16", "--dtype", "bf16"], 2, "--dtype fp32", id="train-amp-with-bf16-dtype"),
    cli(["profile", "lenet5", "--batch", "8"], 2, "give --train", id="train-batch-without-train"),
    cli(["profile", "lenet5", "--plot", "{tmp}/step.png"], 2, "give --train", id="train-plot-without-train"),
    cli(["profile", "lenet5", "--train", "--plot", "{tmp}/step.txt"], 2, "Cannot write a figure", id="train-plot-bad-suffix"),
    cli(["profile", "lenet5", "--train", "--plot", "{tmp}/no/such/dir/step.png"], 2, "does not exist", id="train-plot-missing-folder"),
    cli(["profile", "lenet5", "--train", "--rf"], 2, "cannot be combined", id="train-with-rf"),
    cli(["profile", "lenet5", "--train", "--device", "cpu"], 2, "meta", id="train-on-cpu"),
    cli(["profile", "lenet5", "--train", "--input", "1,1,4,4"], 1, "cannot run a training step", id="train-input-too-small"),
    cli(["compare", "lenet5", "alexnet", "--train", "--batch", "-1"], 2, "--batch", id="compare-train-negative-batch"),
    cli(["compare", "lenet5", "alexnet", "--optimizer", "adam"], 2, "give --train", id="compare-optimizer-without-train"),
    cli(["fit", "lenet5", "--memory", "24XB"], 2, "Malformed --memory", id="fit-memory-unknown-unit"),
    cli(["fit", "lenet5", "--memory", "0"], 2, "--memory must be more than 0", id="fit-memory-zero"),
    cli(["fit", "lenet5", "--memory", "lots"], 2, "Malformed --memory", id="fit-memory-words"),
    cli(["fit", "lenet5"], 2, "--memory", id="fit-without-memory"),
    cli(["fit", "lenet5", "--memory", "1GiB", "--optimizer", "adam"], 2, "give --train", id="fit-optimizer-without-train"),
    cli(["fit", "nosuchnet", "--memory", "1GiB"], 2, "Unknown model", id="fit-unknown-model"),
    # ---- check / report
    cli(["check", "--baseline", "{tmp}/missing.json"], 2, "does not exist", id="check-missing-baseline"),
    cli(["check", "--baseline", "{tmp}/not_json.json"], 2, "not valid JSON", id="check-baseline-not-json"),
    cli(["check", "--baseline", "{tmp}/not_a_baseline.json"], 2, "not a netstat baseline", id="check-baseline-not-a-baseline"),
    cli(["check", "--baseline", "{tmp}/empty_baseline.json", "--models", "nosuch*"], 2, "No model matches", id="check-models-match-nothing"),
    cli(["check", "--baseline", "{tmp}/empty_baseline.json", "--models", ","], 2, "--models", id="check-models-empty"),
    cli(["check", "--papers", "--update"], 2, "cannot be combined", id="check-papers-and-update"),
    cli(["check", "--format", "csv"], 2, "CSV", id="check-csv"),
    cli(["report", "--out", "{tmp}/a_file.txt", "--models", "lenet5", "--no-crosscheck"], 2, "a_file.txt", id="report-out-is-a-file"),
    cli(["report", "--out", "{tmp}/report", "--models", "nosuchnet", "--no-crosscheck"], 2, "nosuchnet", id="report-unknown-model"),
    cli(["report", "--out", "{tmp}/a_file.txt/report", "--models", "lenet5", "--no-crosscheck"], 2, "Not a directory", id="report-out-under-a-file"),
    cli(["report", "--out", f"{{tmp}}/{LONG_NAME}", "--models", "lenet5", "--no-crosscheck"], 2, "File name too long", id="report-out-name-300-characters"),
    cli(["check", "--update", "--baseline", f"{{tmp}}/{LONG_NAME}.json", "--models", "lenet5"], 2, "File name too long", id="check-baseline-name-300-characters"),
]


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize(("args", "code", "fragment"), CLI_CASES)
def test_cli_bad_input(runner, files, request, args, code, fragment):
    where = request.node.callspec.id
    argv = _fill(args, files)
    with time_limit(LIMIT_S, where):
        result = runner.invoke(app, argv, env={"COLUMNS": "200", "NETSTAT_DEBUG": None})
    assert result.exception is None or isinstance(result.exception, SystemExit), f"{where}: {result.exception!r}\n{result.output}"
    assert_code(result.exit_code, code, where, result.output)
    assert_outcome(result.exit_code, result.stdout, result.stderr, fragment, where)


# --------------------------------------------------------------------------- real processes

PROCESS_CASES = [
    # Could hang or exhaust memory: giant shapes on meta, huge calculator stacks.
    cli(["profile", "lenet5", "--input", "1,3,100000000,100000000"], 1, "channel", id="proc-giant-input-wrong-channels"),
    cli(["profile", "lenet5", "--input", "1,1,100000000,100000000"], 1, "cannot run", id="proc-giant-input"),
    cli(["rf", "--kernel", "4000000", "--layers", "1"], (0, 2), "kernel", id="proc-rf-giant-kernel"),
    cli(["rf", "--layers", "520", "--stride", "2"], (0, 2), "stride", id="proc-rf-520-strided-layers"),
    # A baseline whose selection names a function that kills the interpreter.
    cli(["check", "--baseline", "{tmp}/abort_baseline.json"], (1, 2), "os:abort", id="proc-check-selection-os-abort"),
    # The process-level contract for plain cases: exit codes 2 and 1, one line.
    cli(["profile", "nosuchnet"], 2, "Unknown model", id="proc-unknown-model"),
    cli(["calc", "conv", "--cin", "0", "--cout", "16"], 2, "--cin must be a positive integer", id="proc-calc-zero-cin"),
    cli(["profile", "lenet5", "--plot-style", "fancy"], 2, "No such option", id="proc-no-such-option"),
]


@pytest.mark.parametrize(("args", "code", "fragment"), PROCESS_CASES)
def test_process_bad_input(files, request, args, code, fragment):
    where = request.node.callspec.id
    env = {k: v for k, v in os.environ.items() if k != "NETSTAT_DEBUG"}
    env["COLUMNS"] = "200"
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "netstat", *_fill(args, files)], capture_output=True, text=True, timeout=LIMIT_S + 10, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{where}: still running after {LIMIT_S + 10:.0f} s")
    elapsed = time.perf_counter() - start
    output = proc.stdout + proc.stderr
    assert elapsed < LIMIT_S + 10, f"{where}: took {elapsed:.1f} s"
    assert_code(proc.returncode, code, where, output)
    assert_outcome(proc.returncode, proc.stdout, proc.stderr, fragment, where)


def _netstat_process(args: list[str], stdout) -> subprocess.CompletedProcess:
    """`python -m netstat ARGS` with stdout at `stdout`, stderr captured."""
    env = {k: v for k, v in os.environ.items() if k != "NETSTAT_DEBUG"}
    env["COLUMNS"] = "200"
    return subprocess.run([sys.executable, "-m", "netstat", *args], stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=LIMIT_S + 10, env=env)


# Every way netstat writes to stdout: a Rich table, JSON, CSV, Markdown (a
# short one, all of it buffered until the end), click's --version and --help.
STDOUT_WRITERS = [
    pytest.param(["profile", "lenet5"], id="table"),
    pytest.param(["profile", "lenet5", "--format", "json"], id="json"),
    pytest.param(["profile", "lenet5", "--format", "csv"], id="csv"),
    pytest.param(["calc", "conv", "--cin", "8", "--cout", "16", "--format", "md"], id="short-md"),
    pytest.param(["--version"], id="version"),
    pytest.param(["--help"], id="help"),
]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize("args", STDOUT_WRITERS)
def test_stdout_on_a_full_disk_is_one_sentence(args):
    """`netstat ... > /dev/full`: every write fails with ENOSPC."""
    with open("/dev/full", "w") as full:
        proc = _netstat_process(args, full)
    assert_code(proc.returncode, 1, "stdout > /dev/full", proc.stderr)
    assert_one_sentence(proc.stderr, "Cannot write the output: No space left on device.", f"{args} > /dev/full")


@pytest.mark.parametrize("args", STDOUT_WRITERS)
def test_stdout_into_a_closed_pipe_exits_1_in_silence(args):
    """`netstat ... | head -0`: the reader is gone (EPIPE). Exit 1 and
    nothing on stderr, as Rich and click do; no "Exception ignored" at exit."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = _netstat_process(args, write)
    finally:
        os.close(write)
    assert_code(proc.returncode, 1, "stdout into a closed pipe", proc.stderr)
    assert proc.stderr == "", f"{args} into a closed pipe wrote to stderr:\n{proc.stderr}"


def test_train_plot_into_a_folder_is_one_sentence(runner, files):
    """--plot naming an existing folder: refused in one sentence, before the
    step is traced (nothing else is said)."""
    result = runner.invoke(app, ["profile", "lenet5", "--train", "--plot", f"{files}/a_folder.png"], env={"COLUMNS": "200", "NETSTAT_DEBUG": None})
    assert_code(result.exit_code, 2, "train-plot-into-a-folder", result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line]
    assert "Traceback" not in result.output and "Internal error" not in result.stderr, result.stderr
    assert errors == lines, f"expected one error and nothing else:\n{result.stderr}"
    assert f"--plot '{files}/a_folder.png' is a folder" in errors[0]


def test_an_overlong_path_is_shortened_in_the_message(runner, files):
    """The 5,000-character model path: named by its start and end, not in full."""
    spec = f"{files}/{LONG_PATH}.py:build"
    result = runner.invoke(app, ["profile", spec], env={"COLUMNS": "200", "NETSTAT_DEBUG": None})
    assert_code(result.exit_code, 2, "overlong-path", result.output)
    assert_one_sentence(result.stderr, "File name too long", "overlong-path")
    assert f"'{files}/d" in result.stderr and "d...d" in result.stderr and "d.py': File name too long." in result.stderr, result.stderr
    assert len(result.stderr) < 250, f"the message holds the whole path ({len(result.stderr)} characters)"


def test_a_module_instance_in_a_file_is_profiled(runner, files):
    """file.py:inst where inst is an nn.Module instance, not a factory: profiled as it is."""
    result = runner.invoke(app, ["profile", f"{files}/good.py:inst", "--input", "1,3,8,8", "--format", "json"], env={"NETSTAT_DEBUG": None})
    assert result.exit_code == 0, result.output
    totals = json.loads(result.stdout)["totals"]
    assert totals["params"] == 3 * 4 * 3 * 3 + 4  # Conv2d(3, 4, 3) with bias
    assert totals["madds"] == 3 * 4 * 3 * 3 * 6 * 6  # at each of the 6 x 6 outputs


# --------------------------------------------------------------------------- the library


@dataclass(frozen=True)
class ApiCase:
    call: Callable[[Path], Any]
    error: type[NetstatError]
    fragment: str


def _netstat():
    import netstat

    return netstat


def _calc():
    from netstat import calc

    return calc


def _stack(*args, **kwargs):
    from netstat.rf import stack

    return stack(*args, **kwargs)


def _check():
    from netstat import check

    return check


def _fit(*args, **kwargs):
    from netstat.training.fit import fit

    return fit(*args, **kwargs)


def _bench_processes(count):
    from netstat.bench.processes import in_processes

    return in_processes(["lenet5"], count, timeout_s=60)


def api(call, error, fragment, *, id, marks=()):  # noqa: A002
    return pytest.param(ApiCase(call, error, fragment), id=id, marks=marks)


API_CASES = [
    # ---- netstat.profile / receptive_field / get_model
    api(lambda d: _netstat().profile("resnet5O"), UsageError, "Unknown model", id="api-profile-unknown-model"),
    api(lambda d: _netstat().profile("mobilenet"), UsageError, "ambiguous", id="api-profile-ambiguous-alias"),
    api(lambda d: _netstat().profile(42), UsageError, "model", id="api-profile-not-a-model"),
    api(lambda d: _netstat().profile("lenet5", input_size=(1, 1, 0, 32)), UsageError, "input", id="api-profile-input-zero"),
    api(lambda d: _netstat().profile("lenet5", input_size=(1, 1, -32, 32)), UsageError, "input", id="api-profile-input-negative"),
    api(lambda d: _netstat().profile("lenet5", input_size="1,1,32,32"), UsageError, "input", id="api-profile-input-string"),
    api(lambda d: _netstat().profile("lenet5", input_size=(1, 1, 32.5, 32)), UsageError, "input", id="api-profile-input-float"),
    api(lambda d: _netstat().profile("lenet5", input_size=(1, 1, 4, 4)), ModelRunError, "cannot run", id="api-profile-input-too-small"),
    api(lambda d: _netstat().profile("lenet5", input_size=(1, 3, 32, 32)), ModelRunError, "channels", id="api-profile-wrong-channels"),
    api(lambda d: _netstat().profile("lenet5", device="tpu"), UsageError, "Unknown device", id="api-profile-unknown-device"),
    api(lambda d: _netstat().profile("lenet5", device="cuda"), UsageError, "CUDA", id="api-profile-cuda-without-cuda", marks=NO_CUDA),
    api(lambda d: _netstat().profile("no_such_module_xyz:build"), UsageError, "Cannot import module", id="api-profile-module-missing"),
    api(lambda d: _netstat().profile(f"{d}/good.py:needs_args", input_size=(1, 3, 8, 8)), UsageError, "argument", id="api-profile-factory-needs-args"),
    api(lambda d: _netstat().profile(f"{d}/good.py:raises", input_size=(1, 3, 8, 8)), ModelRunError, "boom", id="api-profile-factory-raises"),
    api(lambda d: _netstat().profile(f"{d}/good.py:returns_int", input_size=(1, 3, 8, 8)), UsageError, "not a torch.nn.Module", id="api-profile-factory-returns-int"),
    api(lambda d: _netstat().profile(f"{d}/good.py:build"), UsageError, "input", id="api-profile-factory-without-input"),
    api(lambda d: _netstat().profile("torchvision:nonexistent"), UsageError, "torchvision has no model", id="api-profile-torchvision-nonexistent"),
    api(lambda d: _netstat().profile("torchvision:resnet18@ResNet50_Weights.IMAGENET1K_V1"), UsageError, "ResNet18_Weights", id="api-profile-torchvision-weights-of-another-builder"),
    api(lambda d: _netstat().receptive_field("nosuchnet"), UsageError, "Unknown model", id="api-rf-unknown-model"),
    api(lambda d: _netstat().receptive_field("lenet5", input_size=(1, 1, 2, 2)), ModelRunError, "cannot run", id="api-rf-input-too-small"),
    api(lambda d: _netstat().get_model("nosuchnet"), UsageError, "Unknown model", id="api-get-model-unknown"),
    api(lambda d: _netstat().get_model("lenet5", no_such_argument=1), UsageError, "no_such_argument", id="api-get-model-unknown-kwarg"),
    api(lambda d: _netstat().get_model("lenet5", device="tpu"), UsageError, "device", id="api-get-model-unknown-device"),
    # ---- netstat.calc.conv
    api(lambda d: _calc().conv(0, 16, 3), UsageError, "cin", id="api-calc-zero-cin"),
    api(lambda d: _calc().conv(8, -16, 3), UsageError, "cout", id="api-calc-negative-cout"),
    api(lambda d: _calc().conv(8, 16, 0), UsageError, "kernel", id="api-calc-zero-kernel"),
    api(lambda d: _calc().conv(8, 16, 3, groups=0), UsageError, "groups", id="api-calc-zero-groups"),
    api(lambda d: _calc().conv(8, 16, 3, groups=3), UsageError, "divide", id="api-calc-groups-not-dividing"),
    api(lambda d: _calc().conv(8, 16, 3, size=0), UsageError, "size", id="api-calc-zero-size"),
    api(lambda d: _calc().conv(8, 16, 3, size=32, stride=-1), UsageError, "stride", id="api-calc-negative-stride"),
    api(lambda d: _calc().conv("8", 16, 3), UsageError, "cin", id="api-calc-cin-string"),
    api(lambda d: _calc().conv(8.5, 16, 3), UsageError, "cin", id="api-calc-cin-float"),
    api(lambda d: _calc().conv(8, 16, None), UsageError, "kernel", id="api-calc-kernel-none"),
    # ---- netstat.rf.stack (the rf calculator)
    api(lambda d: _stack(3, 0), UsageError, "layers", id="api-stack-zero-layers"),
    api(lambda d: _stack(3, 10_001), UsageError, "layers", id="api-stack-too-many-layers"),
    api(lambda d: _stack(0, 3), UsageError, "kernel", id="api-stack-zero-kernel"),
    api(lambda d: _stack(3, 3, dilation=0), UsageError, "dilation", id="api-stack-zero-dilation"),
    api(lambda d: _stack(3, 3, stride=0), UsageError, "stride", id="api-stack-zero-stride"),
    # ---- netstat.benchmark (validated before anything is measured)
    api(lambda d: _netstat().benchmark("lenet5", batches=[0]), UsageError, "batch", id="api-bench-batch-zero"),
    api(lambda d: _netstat().benchmark("lenet5", threads=0), UsageError, "threads", id="api-bench-threads-zero"),
    api(lambda d: _netstat().benchmark("lenet5", dtype="fp8"), UsageError, "dtype", id="api-bench-unknown-dtype"),
    api(lambda d: _netstat().benchmark(["lenet5", "lenet5"], precision=0), UsageError, "precision", id="api-bench-precision-zero"),
    api(lambda d: _bench_processes(0), UsageError, "processes", id="api-bench-processes-zero"),
    # ---- training (Analysis.training, netstat.training.fit)
    api(lambda d: _netstat().analyze("lenet5").training(batch=0), UsageError, "batch", id="api-train-batch-zero"),
    api(lambda d: _netstat().analyze("lenet5").training(batch=2.5), UsageError, "batch", id="api-train-batch-float"),
    api(lambda d: _netstat().analyze("lenet5").training(batch=10**20), UsageError, "at most", id="api-train-batch-beyond-int64"),
    api(lambda d: _netstat().analyze("lenet5").training(optimizer="lion"), UsageError, "optimizer", id="api-train-unknown-optimizer"),
    api(lambda d: _netstat().analyze("lenet5").training(dtype="fp64"), UsageError, "dtype", id="api-train-unknown-dtype"),
    api(lambda d: _netstat().analyze("lenet5").training(amp="bf16", dtype="fp16"), UsageError, "amp", id="api-train-amp-with-fp16"),
    api(lambda d: _netstat().analyze("lenet5").training(loss="mse"), UsageError, "loss", id="api-train-loss-not-callable"),
    api(lambda d: _netstat().analyze("lenet5", input_size=(1, 1, 4, 4)).training(batch=2), ModelRunError, "training step", id="api-train-input-too-small"),
    api(lambda d: _fit("lenet5", "24 parsecs"), UsageError, "memory", id="api-fit-bad-memory"),
    api(lambda d: _fit("lenet5", -5), UsageError, "memory", id="api-fit-negative-memory"),
    # ---- netstat.check
    api(lambda d: _check().check(d / "missing.json"), UsageError, "does not exist", id="api-check-missing-baseline"),
    api(lambda d: _check().check(d / "not_json.json"), UsageError, "not valid JSON", id="api-check-baseline-not-json"),
    api(lambda d: _check().parse_patterns(","), UsageError, "models", id="api-check-empty-models"),
]


@pytest.mark.parametrize("case", API_CASES)
def test_api_bad_input(files, request, case: ApiCase):
    where = request.node.callspec.id
    with time_limit(LIMIT_S, where):
        try:
            case.call(files)
        except NetstatError as err:
            caught: BaseException | None = err
        except Exception as err:  # noqa: BLE001 - the failure this test exists to find
            pytest.fail(f"{where}: raised {type(err).__name__} (not a NetstatError): {err}")
        else:
            caught = None
    assert caught is not None, f"{where}: no error raised"
    assert isinstance(caught, case.error), f"{where}: {type(caught).__name__}, expected {case.error.__name__}: {caught}"
    text = str(caught)
    assert caught.message and "\n" not in text, f"{where}: not one line: {text!r}"
    assert case.fragment in text, f"{where}: {case.fragment!r} is not in {text!r}"
    assert "--" not in text, f"{where}: a library error names a CLI flag: {text!r}"


def test_enough_cases():
    assert len(CLI_CASES) + len(PROCESS_CASES) + len(API_CASES) >= 60
