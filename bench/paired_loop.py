"""Loop steps/s of two deepq checkouts, paired: the same benchmark agent as
``pong_vs_sb3.py`` (Pong preset, batch 32, fixed ε, prefilled), each measurement in a
fresh process, the checkouts alternating round by round, so drift hits both alike.

    .venv/bin/python bench/paired_loop.py BEFORE_DIR AFTER_DIR [--rounds 3] [--steps 1500]
        [--set num_envs=16 --set env_backend=envpool]

BEFORE_DIR and AFTER_DIR are checkouts (``git worktree add /tmp/before REV``); each
process imports deepq and this benchmark's helpers from its own checkout. Prints the
median steps/s of each checkout per setting (an update every step, every 4 steps) and
the ratio after / before.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = """
import json, sys
sys.path.insert(0, {bench!r})
from pong_vs_sb3 import loop_block, ready_model
model = ready_model({train_freq}, {speed!r})
n, sec = loop_block(model, {steps})
print(json.dumps(n / sec))
"""


def measure(checkout: str, train_freq: int, steps: int, speed: dict) -> float:
    code = CHILD.format(bench=os.path.join(checkout, "bench"), train_freq=train_freq, speed=speed,
                        steps=steps)
    env = dict(os.environ, PYTHONPATH=checkout)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=checkout, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    speed = dict(kv.split("=", 1) for kv in args.set)
    for train_freq in (1, 4):
        got: dict[str, list[float]] = {"before": [], "after": []}
        for r in range(args.rounds):
            order = ("before", "after") if r % 2 == 0 else ("after", "before")
            for which in order:
                got[which].append(measure(getattr(args, which), train_freq, args.steps, speed))
            print(f"# train_freq {train_freq} round {r + 1}: " + json.dumps(got), flush=True)
        b, a = statistics.median(got["before"]), statistics.median(got["after"])
        print(f"update every {train_freq}: before {b:.1f} steps/s, after {a:.1f} steps/s, "
              f"after/before {a / b:.3f} (median of {args.rounds})", flush=True)


if __name__ == "__main__":
    main()
