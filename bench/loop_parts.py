"""Benchmark: where the time of deepq's Pong loop goes, part by part, in one process.

    .venv/bin/python bench/loop_parts.py --train-freq 4 --set num_envs=16 --set env_backend=envpool

Each part of the training loop is wrapped in a timer (the acting forward pass, the
environments' step, storing into the replay, the updates), and the loop runs in blocks
of ``--steps`` environment steps. Every block prints milliseconds per loop iteration (one
step of all ``num_envs`` environments) for each part; "other" is what the loop does
beyond them. The timers themselves cost a few microseconds per call.

The machine drifts by ±25% over minutes: compare numbers only within one run, or across
processes run in turn.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

from pong_vs_sb3 import loop_block, ready_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-freq", type=int, default=4, help="environment steps per update")
    p.add_argument("--blocks", type=int, default=3, help="timed blocks")
    p.add_argument("--steps", type=int, default=2560, help="environment steps per block")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a deepq config value, e.g. num_envs=16")
    args = p.parse_args()

    from deepq import config

    model = ready_model(args.train_freq, config.parse_set(args.set))
    spent: dict[str, float] = defaultdict(float)

    def timed(owner, attr: str, part: str) -> None:
        inner = getattr(owner, attr)

        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return inner(*a, **k)
            finally:
                spent[part] += time.perf_counter() - t

        setattr(owner, attr, wrapper)

    timed(model.policy, "greedy_batch", "forward pass")  # inside ε-greedy acting
    timed(model.policy, "batch", "acting")
    timed(model.actor, "transitions", "environments' step")
    timed(model.replay, "add_batch", "store")
    timed(model, "train_step", "updates")
    outer = ("acting", "environments' step", "store", "updates")
    n = model.cfg.num_envs
    print(f"# train_freq {args.train_freq}, {n} environment(s), backend {model.cfg.env_backend}; "
          f"ms per iteration ({n} steps)", flush=True)
    for b in range(args.blocks):
        spent.clear()
        steps, sec = loop_block(model, args.steps)
        per = 1000 / (steps / n)
        other = sec - sum(spent[k] for k in outer)
        parts = ", ".join(f"{k} {v * per:.2f}" for k, v in spent.items())
        print(f"block {b + 1}: {steps / sec:.1f} steps/s; total {sec * per:.2f}: {parts}, "
              f"other {other * per:.2f}", flush=True)


if __name__ == "__main__":
    main()
