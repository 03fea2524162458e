"""Commands that need no model never import torch (issue "start as fast as
importing torch allows"): every `--help`, `--version`, `list`, `calc` and the
`rf` stack calculator. Each runs in a fresh interpreter, which reports the
exit code and whether torch (or numpy, matplotlib) was imported; the output
is checked too. No timings here: tests/bench/bench_startup.py measures them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer.main

import netstat
from netstat.cli import app

HEAVY = ("torch", "numpy", "matplotlib")
_MARK = "@@startup@@"

# Runs the CLI as `netstat ARGS` would, then reports on stderr what it imported.
_RUNNER = f"""
import json, sys
sys.argv = ["netstat", *json.loads(sys.argv[1])]
from netstat.cli import main
code = 0
try:
    main()
except SystemExit as exit:
    code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
sys.stdout.flush()
print({_MARK!r} + json.dumps({{"code": code, "imported": [m for m in {HEAVY!r} if m in sys.modules]}}), file=sys.stderr)
"""


def run_fresh(*args: str, cwd=None) -> tuple[int, list[str], str, str]:
    """`netstat ARGS` in a fresh interpreter: (exit code, heavy modules imported, stdout, stderr)."""
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("NETSTAT_DEBUG", None)
    proc = subprocess.run([sys.executable, "-c", _RUNNER, json.dumps(list(args))], capture_output=True, text=True, timeout=120, env=env, cwd=cwd)
    err, _, report = proc.stderr.rpartition(_MARK)
    assert report, f"the runner did not finish: {proc.stderr[-2000:]}"
    data = json.loads(report)
    return data["code"], data["imported"], proc.stdout, err


def _command_paths() -> list[tuple[str, ...]]:
    """Every command and group of the app, as argv prefixes ((), ('list',), ('calc', 'conv'), ...)."""
    paths = []

    def walk(command, prefix):
        paths.append(prefix)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, prefix + (name,))

    walk(typer.main.get_command(app), ())
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "netstat")
def test_help_never_imports_torch(path):
    code, imported, out, err = run_fresh(*path, "--help")
    assert code == 0, err
    assert imported == []
    assert "Usage:" in out


def test_version_prints_netstat_version_only():
    code, imported, out, err = run_fresh("--version")
    assert (code, imported, err) == (0, [], "")
    assert out == f"netstat {netstat.__version__}\n"


def test_version_verbose_names_torch_and_python():
    import platform

    import torch

    for args in (("--version", "--verbose"), ("--verbose", "--version")):
        code, imported, out, err = run_fresh(*args)
        assert code == 0, err
        assert out.splitlines() == [f"netstat {netstat.__version__}", f"torch {torch.__version__}", f"python {platform.python_version()}"]
        assert "torch" in imported  # the verbose form may import it


def test_verbose_alone_is_a_usage_error():
    code, imported, out, err = run_fresh("--verbose", "list")
    assert (code, imported, out) == (2, [], "")
    assert "--verbose goes with --version" in err


def test_help_shows_version_options():
    code, _, out, _ = run_fresh("--help")
    assert code == 0
    assert "--version" in out and "--verbose" in out


def test_list_reads_the_catalogue_without_torch():
    code, imported, out, err = run_fresh("list")
    assert (code, imported) == (0, []), err
    assert "resnet50" in out and "vgg16" in out


def test_list_filters_without_torch():
    code, imported, out, err = run_fresh("list", "--task", "detection", "--format", "json")
    assert (code, imported) == (0, []), err
    models = json.loads(out)["models"]
    assert models and {m["task"] for m in models} == {"detection"}
    code, imported, out, err = run_fresh("list", "resnet*", "--family", "ResNet", "--format", "csv")
    assert (code, imported) == (0, []), err
    rows = out.strip().splitlines()[1:]
    assert rows and all(row.startswith("resnet") for row in rows)
    assert any(row.startswith("resnet50,") for row in rows)


def test_list_unknown_family_without_torch():
    code, imported, out, err = run_fresh("list", "--family", "NoSuchFamily")
    assert (code, imported, out) == (2, [], "")
    assert "No bundled model matches family 'NoSuchFamily'" in err


def test_calc_conv_without_torch():
    # The worked example: 8 -> 16 channels, 3x3: (8*3*3 + 1)*16 = 1168 params;
    # depthwise separable 8*3*3 + 16*(8 + 1) = 216.
    code, imported, out, err = run_fresh("calc", "conv", "--cin", "8", "--cout", "16", "--kernel", "3")
    assert (code, imported) == (0, []), err
    assert "1168" in out.replace(",", "") and "216" in out
    code, imported, out, err = run_fresh("calc", "conv", "--cin", "8", "--cout", "16", "--kernel", "3", "--size", "32", "--format", "json")
    assert (code, imported) == (0, []), err
    layouts = {layout["name"]: layout for layout in json.loads(out)["layouts"]}
    assert layouts["standard"]["params"] == 8 * 16 * 9 + 16
    assert layouts["standard"]["madds"] == 32 * 32 * 8 * 9 * 16
    assert layouts["depthwise separable"]["params"] == 8 * 9 + 16 * (8 + 1)


def test_rf_calculator_without_torch():
    # Three 3x3 layers at dilation 2: RF 1 + 3*2*(3 - 1) = 13.
    code, imported, out, err = run_fresh("rf", "--dilation", "2", "--format", "json")
    assert (code, imported) == (0, []), err
    layers = json.loads(out)["layers"]
    assert [layer["rf"] for layer in layers] == [[5, 5], [9, 9], [13, 13]]
    code, imported, out, err = run_fresh("rf", "--dilation", "2")
    assert (code, imported) == (0, []), err
    assert "13" in out and "gridding" in out
    # Five 3x3 layers: RF 1 + 5*2 = 11.
    code, imported, out, err = run_fresh("rf", "--kernel", "3", "--layers", "5", "--format", "json")
    assert (code, imported) == (0, []), err
    assert json.loads(out)["layers"][-1]["rf"] == [11, 11]
    code, imported, out, err = run_fresh("rf", "--dilation", "1,2,5", "--channels", "64", "--format", "csv")
    assert (code, imported) == (0, []), err
    assert len(out.strip().splitlines()) == 4


def test_rf_calculator_plot_is_refused_without_torch(tmp_path):
    code, imported, out, err = run_fresh("rf", "--dilation", "2", "--plot", str(tmp_path / "rf.png"))
    assert (code, imported, out) == (2, [], "")
    assert "--plot needs a model" in err
    assert not (tmp_path / "rf.png").exists()


def test_rf_package_is_lazy():
    code = "import sys, netstat.rf.calculator, netstat.rf.window; from netstat.rf import stack, fmt_number, rates_text; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "False", proc.stderr
    import netstat.rf

    assert netstat.rf.analyze.__module__ == "netstat.rf.propagate"  # the model-based API still resolves
    with pytest.raises(AttributeError):
        netstat.rf.no_such_name  # noqa: B018


def test_show_completion_bash_prints_the_completion_script_without_torch():
    code, imported, out, err = run_fresh("--show-completion", "bash")
    assert (code, imported) == (0, []), err
    assert "_NETSTAT_COMPLETE=complete_bash" in out
    assert "complete -o default -F _netstat_completion netstat" in out


def _complete(words: str, cword: int) -> tuple[str, str]:
    """What bash completion asks netstat for: the candidates for word `cword` of `words`."""
    env = {**os.environ, "_NETSTAT_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    runner = "import sys; sys.argv = ['netstat']\nfrom netstat.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules, file=sys.stderr)"
    proc = subprocess.run([sys.executable, "-c", runner], capture_output=True, text=True, timeout=120, env=env)
    return proc.stdout, proc.stderr


def test_completion_completes_commands_and_options_without_torch():
    out, err = _complete("netstat pro", 1)
    assert out.split() == ["profile"] and err.strip() == "False"
    out, err = _complete("netstat rf --dil", 2)
    assert out.split() == ["--dilation"] and err.strip() == "False"


def test_install_completion_writes_the_script_for_bash(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash"}
    runner = "import sys; sys.argv = ['netstat', '--install-completion', 'bash']\nfrom netstat.cli import main\nmain()"
    proc = subprocess.run([sys.executable, "-c", runner], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    script = tmp_path / ".bash_completions" / "netstat.sh"
    assert "_netstat_completion" in script.read_text()
    assert str(script) in (tmp_path / ".bashrc").read_text()


def test_list_family_takes_a_family_and_its_variants_without_torch():
    # The --help example: MobileNet is mobilenet_v1, mobilenet_v2 and mobilenet_v3.
    code, imported, out, err = run_fresh("list", "--family", "MobileNet", "--format", "json")
    assert (code, imported) == (0, []), err
    families = {m["family"] for m in json.loads(out)["models"]}
    assert families == {"mobilenet_v1", "mobilenet_v2", "mobilenet_v3"}
    code, imported, out, err = run_fresh("list", "--family", "mobilenet_v2", "--format", "json")
    assert [m["name"] for m in json.loads(out)["models"]] == ["mobilenet_v2"]
    code, imported, out, err = run_fresh("list", "--family", "mobile", "--format", "json")
    assert code == 2 and "No bundled model matches family 'mobile'" in err  # a family name, not any prefix
