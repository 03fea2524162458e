"""The README and the documentation site cannot drift: every example they
show is run against this checkout and its shown output compared with what
netstat prints now (docs/examples.py; `python docs/examples.py --write`
regenerates them on purpose). The checker itself is tested on made-up pages,
so that a check that could never fail would be caught here."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _examples():
    spec = importlib.util.spec_from_file_location("doc_examples", ROOT / "docs" / "examples.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


examples = _examples()


def test_every_example_in_the_readme_and_the_docs_prints_what_it_shows():
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "examples.py"), "--check"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]


def test_the_pages_are_the_readme_and_the_site_nav():
    names = [page.relative_to(ROOT).as_posix() for page in examples.pages()]
    assert names[0] == "README.md"
    assert {"docs/getting-started.md", "docs/api.md", "docs/training.md", "docs/latency.md", "docs/ci.md"} <= set(names)
    assert all((ROOT / name).is_file() for name in names)


def _page(tmp_path: Path, text: str) -> Path:
    page = tmp_path / "page.md"
    page.write_text(text)
    return page


def test_a_console_example_with_a_wrong_number_is_reported(tmp_path):
    right = examples.run_command("netstat calc conv --cin 8 --cout 16 --kernel 3")
    assert any("1,168" in line for line in right)  # (8x3x3+1)x16 = 1,168, the table's standard layout
    wrong = [line.replace("1,168", "1,169") for line in right]
    page = _page(tmp_path, "```console\n$ netstat calc conv --cin 8 --cout 16 --kernel 3\n" + "\n".join(wrong) + "\n```\n")
    (problem,) = examples.check_page(page)
    assert "-" in problem and "1,169" in problem and "+" in problem and "1,168" in problem
    good = _page(tmp_path, "```console\n$ netstat calc conv --cin 8 --cout 16 --kernel 3\n" + "\n".join(right) + "\n```\n")
    assert examples.check_page(good) == []


def test_a_volatile_block_compares_its_tables_structure_not_its_numbers():
    shown = ["Latency", "", "  Model   Median ms", " ━━━━━━━━━━━━━━━━━", "  a           12.5", "", "a: Unstable: the IQR is 21%."]
    now = ["Latency", "", "  Model   Median ms", " ━━━━━━━━━━━━━━━━━", "  a          9.871", "", "a: Stopped at max_time."]
    assert examples.comparable(shown, volatile=True) == examples.comparable(now, volatile=True)
    renamed = [line.replace("  a ", "  b ") for line in now]
    assert examples.comparable(shown, volatile=True) != examples.comparable(renamed, volatile=True)
    assert examples.comparable(shown, volatile=False) != examples.comparable(now, volatile=False)


def test_a_pycon_example_is_run_and_its_value_compared(tmp_path):
    page = _page(tmp_path, "```pycon\n>>> x = 6 * 7\n>>> x\n41\n```\n")
    (problem,) = examples.check_page(page)
    assert "['41']" in problem and "['42']" in problem
    examples.write_page(page)
    assert page.read_text() == "```pycon\n>>> x = 6 * 7\n>>> x\n42\n```\n"


def test_a_bash_command_with_a_flag_that_does_not_exist_is_reported(tmp_path):
    page = _page(tmp_path, "```bash\nnetstat profile resnet50 --depth 2 --by type   # fine\nnetstat profile resnet50 --no-such-flag\n"
                 "netstat nosuchcommand\nnetstat rf --kernel 3 --layers 7 --dilation 1,1,2,4,8,16,1\npip install -e .\n```\n")
    problems = examples.check_page(page)
    assert len(problems) == 2
    assert "--no-such-flag" in problems[0] and "nosuchcommand" in problems[1]


@pytest.mark.parametrize("line", ["netstat --version", "netstat list --family MobileNet --format json", "netstat check --models 'resnet*'"])
def test_commands_that_exist_parse(line):
    assert examples.parse_netstat(line) is None


def test_the_readme_is_short_and_answers_the_five_questions():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    # A newcomer's five questions, each answered by a shown command and a link into the docs.
    for command, page in [("$ netstat profile examples/my_model.py:build", "docs/models.md"),
                          ("$ netstat fit ", "docs/training.md"),
                          ("$ netstat bench ", "docs/latency.md"),
                          ("$ netstat rf ", "docs/receptive-fields.md"),
                          ("$ netstat check", "docs/ci.md")]:
        assert command in text and f"]({page})" in text, (command, page)
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q -e '.[test]'" in ci and "\npytest\n" in ci  # the README's test command is CI's
    assert "pip install -e '.[test]' && pytest" in text


def test_pycon_blocks_of_a_page_share_one_namespace_and_an_error_is_shown_not_raised(tmp_path):
    page = _page(tmp_path, "```pycon\n>>> x = 2\n```\n\ntext\n\n```pycon\n>>> x + 1\n3\n>>> y\nNameError: name 'y' is not defined\n```\n")
    assert examples.check_page(page) == []
    broken = _page(tmp_path, "```pycon\n>>> undefined_name\n1\n```\n")
    (problem,) = examples.check_page(broken)
    assert "NameError" in problem
