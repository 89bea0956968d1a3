"""Pong steps/s of deepq's acting configurations: one environment, several side by side,
overlap (a collector thread), EnvPool. Update every 4 steps by default.

    .venv/bin/python bench/vector_envs.py [--train-freq 4] [--steps 2000]

Each configuration runs in a fresh process: 1,000 steps of prefill, then ``--steps``
timed steps with learning. Run it on an otherwise idle machine; compare numbers only
within one run. EnvPool rows are skipped when EnvPool is not installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys

CONFIGS = [
    "num_envs=1",
    "num_envs=4 overlap=true",
    "num_envs=4 env_backend=envpool",
    "num_envs=4 overlap=true env_backend=envpool",
    "num_envs=8 overlap=true env_backend=envpool",
]


def worker(train_freq: int, steps: int, pairs: list[str]) -> dict:
    from pong_vs_sb3 import worker_deepq  # the benchmark's deepq measurement, same prefill

    from deepq import config

    return worker_deepq(train_freq, steps, config.parse_set(pairs))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-freq", type=int, default=4)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.train_freq, args.steps, args.worker)))
        return
    print(f"| configuration (update every {args.train_freq} steps) | steps/s |\n|---|---|")
    for pairs in CONFIGS:
        if "envpool" in pairs and importlib.util.find_spec("envpool") is None:
            continue
        out = subprocess.run([sys.executable, __file__, "--train-freq", str(args.train_freq),
                              "--steps", str(args.steps), "--worker", *pairs.split()],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"{pairs} failed:\n{out.stderr[-2000:]}")
        sps = json.loads(out.stdout.strip().splitlines()[-1])["steps_per_sec"]
        print(f"| {pairs.replace(' ', ', ')} | {sps:.1f} |", flush=True)


if __name__ == "__main__":
    main()
