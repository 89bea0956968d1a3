"""The seams of the house plan hold: the loop and the run bookkeeping import no
deep-learning framework at module level, and algorithms never import each other."""

import ast
from pathlib import Path

import pytest

DEEPQ = Path(__file__).parent.parent / "deepq"


def top_level_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


@pytest.mark.parametrize("module", ["loop.py", "run.py", "settings.py", "config.py", "replay.py"])
def test_framework_free_modules(module):
    imports = top_level_imports(DEEPQ / module)
    assert not {i for i in imports if i.split(".")[0] in ("torch", "tensorflow")}, imports
    assert not {i for i in imports if i.startswith(("deepq.learner", "deepq.speed", "deepq.networks"))}


def test_algorithms_never_import_each_other():
    algos = {p.stem for p in (DEEPQ / "algos").glob("*.py") if p.stem != "__init__"}
    for name in algos:
        imports = top_level_imports(DEEPQ / "algos" / f"{name}.py")
        assert not {i for i in imports for other in algos - {name} if f"algos.{other}" in i}, name


def test_reading_path_is_five_files():
    """tools/reading_path.py, run for real: `deepq train pong` to the first gradient
    step crosses at most 5 files and about 800 lines (issue "One loop, five files")."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "tools/reading_path.py"], cwd=DEEPQ.parent,
                         capture_output=True, text=True, timeout=300, check=True).stdout
    last = out.strip().splitlines()[-1]
    files, lines = int(last.split()[0]), int(last.split()[2])
    assert last == f"{files} files, {lines} lines"
    assert files <= 5 and lines <= 800, out
    listed = [row.split()[0] for row in out.strip().splitlines()[-1 - files:-1]]
    assert {"deepq/cli.py", "deepq/loop.py", "deepq/replay.py", "deepq/algos/dqn.py"} <= set(listed), listed
