"""Pong steps/s of deepq's acting configurations: one environment, several side by side,
overlap (a collector thread), EnvPool. Update every 4 steps by default.

    .venv/bin/python bench/vector_envs.py [--train-freq 4] [--steps 2000] [--rounds 3]

Each configuration runs in a fresh process: 1,000 steps of prefill, then ``--steps``
timed steps with learning, at the benchmark's ε (``pong_vs_sb3.EPSILON``). The rounds
take the configurations in turn and the table gives each one's median, so a drifting
machine affects all of them alike. Run it on an otherwise idle machine; compare numbers
only within one run. EnvPool rows are skipped when EnvPool is not installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys

CONFIGS = [
    "num_envs=1",
    "num_envs=4",
    "num_envs=8",
    "num_envs=4 speed.overlap=true",
    "num_envs=4 env_backend=envpool",
    "num_envs=8 env_backend=envpool",
    "num_envs=16 env_backend=envpool",
    "num_envs=8 speed.overlap=true env_backend=envpool",
]


def worker(train_freq: int, steps: int, pairs: list[str]) -> dict:
    from pong_vs_sb3 import worker_deepq  # the benchmark's deepq measurement, same prefill

    from deepq import config

    return worker_deepq(train_freq, steps, config.parse_set(pairs))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-freq", type=int, default=4)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3, help="times each configuration is measured")
    p.add_argument("--worker", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.train_freq, args.steps, args.worker)))
        return
    configs = [c for c in CONFIGS if "envpool" not in c or importlib.util.find_spec("envpool")]
    results: dict[str, list[float]] = {c: [] for c in configs}
    for r in range(args.rounds):
        for pairs in configs:
            out = subprocess.run([sys.executable, __file__, "--train-freq", str(args.train_freq),
                                  "--steps", str(args.steps), "--worker", *pairs.split()],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"{pairs} failed:\n{out.stderr[-2000:]}")
            results[pairs].append(json.loads(out.stdout.strip().splitlines()[-1])["steps_per_sec"])
            print(f"  round {r + 1}: {pairs}: {results[pairs][-1]:.1f} steps/s", flush=True)
    base = statistics.median(results[configs[0]])
    print(f"\n| configuration (update every {args.train_freq} steps) | steps/s (median of {args.rounds}) "
          f"| against {configs[0]} |\n|---|---|---|")
    for pairs, sps in results.items():
        med = statistics.median(sps)
        print(f"| {pairs.replace(' ', ', ')} | {med:.1f} | {med / base:.2f}× |")


if __name__ == "__main__":
    main()
