"""The documentation site (and the README): it builds with ``mkdocs build --strict`` without a warning, its
generated tables match the code, and the commands on its pages run.

Every fenced block in docs/ and the README is one of:
  - ``bash`` or ``python``: run here, in page order, in one temporary directory per page
    (``deepq`` is this checkout's, blocks after ``<!--pytest-codeblocks:cont-->`` join the
    one before), unless an HTML comment ``<!--pytest.mark.skip(reason="...")-->`` just
    before it says why it is not run;
  - ``text``, ``toml``, ``json`` or ``csv``: shown, not run.
A block with no language, or another language, fails the test: a new block has to say
which it is. A Chinese page (``NAME.zh.md``) may run only blocks its English page runs;
they are run there.

The quick commands use small budgets; the whole module takes about 2 minutes of CPU.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_codeblocks  # the docs extra: pip install -e ".[docs]" (make install does)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
RUN = {"bash", "python"}
SHOWN = {"text", "toml", "json", "csv"}
# pages whose blocks are not checked here, and why
NOT_CHECKED: dict[str, str] = {}
SKIP = re.compile(r"""^pytest\.mark\.skip\(reason=(["'])(?P<reason>.+)\1\)$""")
TIMEOUT_S = 120  # per block
# The code of blocks that ran and passed. A page whose first run block is one of them
# (the same quick command on several tutorial pages) does not run it again: it starts
# in an empty directory, so it depends on nothing an earlier block of its page made.
_passed: set[str] = set()


def _pages(chinese: bool) -> list[Path]:
    """The docs pages of one language; the README counts as an English page."""
    return ([] if chinese else [ROOT / "README.md"]) + sorted(
        p for p in DOCS.rglob("*.md") if p.name.endswith(".zh.md") == chinese
        and p.relative_to(DOCS).as_posix() not in NOT_CHECKED)


def _blocks(page: Path) -> list[tuple[object, str | None]]:
    """(block, skip reason or None) for each fenced block, checked for a known language
    and a well-formed skip mark."""
    out = []
    for block in pytest_codeblocks.extract_from_file(page):
        where = f"{page.relative_to(ROOT)}:{block.lineno}"
        lang = (block.syntax or "").split()[0] if block.syntax else ""
        assert lang in RUN | SHOWN, (f"{where}: a fenced block needs a language: one of "
                                     f"{sorted(RUN | SHOWN)}, not {lang or 'none'!r}")
        reason = None
        for mark in block.marks:
            m = SKIP.match(mark)
            assert m, f"{where}: a block not run must say why: pytest.mark.skip(reason=\"...\"), got {mark}"
            reason = m.group("reason")
        assert reason is None or lang in RUN, f"{where}: only bash and python blocks are run or skipped"
        out.append((block, reason))
    return out


@pytest.fixture(scope="module")
def deepq_bin(tmp_path_factory) -> Path:
    """A directory with a ``deepq`` that runs this checkout's package with this Python."""
    bin_dir = tmp_path_factory.mktemp("bin")
    exe = bin_dir / "deepq"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m deepq "$@"\n')
    exe.chmod(0o755)
    return bin_dir


def _env(bin_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    env["MPLBACKEND"] = "Agg"
    return env


def test_site_builds_strict(tmp_path):
    """``mkdocs build --strict``: a broken link or anchor, a missing page, an unresolved
    API reference or a docstring mkdocstrings cannot read fails the build."""
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d",
                           str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, NO_MKDOCS_2_WARNING="1"), timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "WARNING" not in output, output
    for page in ("index.html", "tutorial/dqn/index.html", "zh/tutorial/dqn/index.html",
                 "guide/configuration/index.html", "api/algos/index.html"):
        assert (tmp_path / "site" / page).is_file(), page


def test_generated_tables_match_the_code():
    """docs/guide/configuration.md and presets.md are what tools/config_docs.py writes."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import config_docs
    finally:
        sys.path.remove(str(ROOT / "tools"))
    stale = [p.relative_to(ROOT).as_posix() for p in config_docs.stale()]
    assert not stale, f"{stale} differ from the code: run python tools/config_docs.py"


@pytest.mark.parametrize("page", _pages(chinese=False), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_page_commands_run(page, tmp_path, deepq_bin):
    env = _env(deepq_bin)
    first = True
    for block, reason in _blocks(page):
        lang = block.syntax.split()[0]
        if reason is not None or lang not in RUN:
            continue
        if first and block.code in _passed:
            first = False
            continue
        first = False
        where = f"{page.relative_to(ROOT)}:{block.lineno}"
        if lang == "bash":
            cmd = ["bash", "-e", "-o", "pipefail", "-c", block.code]
        else:
            cmd = [sys.executable, "-c", block.code]
        done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT_S)
        assert done.returncode == 0, f"{where} failed:\n{block.code}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        _passed.add(block.code)


@pytest.mark.parametrize("page", _pages(chinese=True), ids=lambda p: p.relative_to(DOCS).as_posix())
def test_chinese_page_runs_only_tested_commands(page):
    """Each block a Chinese page runs is run by its English page (the commands are the
    same in both languages; only the prose is translated)."""
    english = page.with_name(page.name.replace(".zh.md", ".md"))
    assert english.is_file(), f"{page.relative_to(ROOT)} has no English page"
    tested = {b.code for b, reason in _blocks(english) if reason is None}
    for block, reason in _blocks(page):
        if reason is None and block.syntax.split()[0] in RUN:
            assert block.code in tested, (f"{page.relative_to(ROOT)}:{block.lineno} runs a block "
                                          f"that {english.relative_to(ROOT)} does not:\n{block.code}")
