"""The reading path of ``deepq train pong``: which files and lines a reader follows from
the command line to the gradient step, measured by running it, not listed by hand.

It runs ``deepq train pong`` in this process (a few hundred steps, learning after 64)
under a profiler and stops at the first gradient step: the optimizer's ``step`` called
from deepq. The path is
  - every deepq function on the call stack at that moment (from ``cli.main`` down), and
  - every deepq function that ran during that update (``Model.train_step``) before the
    step: sampling the batch, the target, the loss,
except the network's forward passes (``networks.py``: the part a reader takes as
"obs → Q-values"). Each function counts with all its lines; a file counts once.

    .venv/bin/python tools/reading_path.py [--preset pong] [--set KEY=VALUE ...]

ends with a line "N files, M lines".
"""

from __future__ import annotations

import argparse
import inspect
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent / "deepq"
SKIP = {ROOT / "networks.py"}


class _Reached(Exception):
    """Raised from the profiler at the first gradient step."""


def trace(argv: list[str]) -> tuple[list, list]:
    """Run ``deepq`` with ``argv`` until the first optimizer step → (stack, ran)."""
    from deepq import cli

    stack: list = []  # deepq frames, outermost first
    ran: dict = {}  # code objects that ran inside the current update, in order
    update: list = []  # the Model.train_step frame once entered

    def deepq_code(frame) -> bool:
        return Path(frame.f_code.co_filename).resolve().is_relative_to(ROOT)

    def profile(frame, event, arg):
        if event == "call":
            self = frame.f_locals.get("self")
            if frame.f_code.co_name == "step" and isinstance(self, torch.optim.Optimizer) \
                    and stack and stack[-1].f_code.co_name == "update":
                raise _Reached
            if deepq_code(frame):
                stack.append(frame)
                if frame.f_code.co_name == "train_step":  # an update begins: sample, loss, step
                    update.append(frame)
                if update:
                    ran.setdefault(frame.f_code, None)
        elif event == "return" and stack and frame is stack[-1]:
            stack.pop()

    sys.setprofile(profile)
    try:
        cli.main(argv)
    except _Reached:
        pass
    finally:
        sys.setprofile(None)
    if not update:
        raise SystemExit("the run ended before its first gradient step")
    return [f.f_code for f in stack], list(ran)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="pong")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["train", args.preset, "--run-dir", f"{tmp}/run", "--no-progress", "--steps", "400",
                "--set", "learn_start=64", "--set", "buffer_size=1000", "--set", "batch_size=8",
                *[x for kv in args.set for x in ("--set", kv)]]
        stack, ran = trace(argv)
    codes = list(dict.fromkeys(stack + ran))
    files: dict[Path, list] = {}
    for code in codes:
        path = Path(code.co_filename).resolve()
        if path not in SKIP and code.co_name != "<lambda>" and not code.co_name.startswith("<"):
            files.setdefault(path, []).append(code)
    total = 0
    print(f"{'file':<26} {'lines':>5}  functions")
    for path, fns in files.items():
        lines = 0
        for code in fns:
            try:
                lines += len(inspect.getsourcelines(code)[0])
            except OSError:
                pass
        total += lines
        names = ", ".join(sorted({c.co_qualname for c in fns}))
        print(f"{str(path.relative_to(ROOT.parent)):<26} {lines:>5}  {names}")
    print(f"{len(files)} files, {total} lines")


if __name__ == "__main__":
    main()
