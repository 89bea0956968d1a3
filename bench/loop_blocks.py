"""Benchmark: deepq's Pong loop against its own learner and acting, in one process.

    .venv/bin/python bench/loop_blocks.py --train-freq 4 --set num_envs=16 --set env_backend=envpool
    .venv/bin/python bench/loop_blocks.py --train-freq 1     # ~3 minutes per setting

``pong_vs_sb3.py`` measures the limit in two short blocks of each kind right after each
timed run; this script looks closer, taking the three numbers from one agent, seconds
apart, in many blocks that follow each other:
- learner alone: ``--updates`` calls of ``train_step`` on the loop's own replay;
- acting alone: ``--acting-steps`` steps of the training loop with its updates switched
  off (environment stepping, ε-greedy acting, storing into the replay);
- the loop: ``--loop-steps`` steps of ``learn`` with its updates, as a run trains.

Every block gives its own limits: the overlapped limit min(acting, learner × train_freq)
that ``pong_vs_sb3.py`` reports, and the serial limit 1 / (1/acting + 1/(learner ×
train_freq)), what a loop that acts and learns in turn, with no overhead of its own,
would reach. The table gives medians over the blocks. ε is the benchmark's fixed 0.05.

The machine drifts by ±25% over minutes: compare numbers only within one run.
"""

from __future__ import annotations

import argparse
import statistics

from pong_vs_sb3 import acting_block, learner_block, limits, loop_block, ready_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-freq", type=int, default=4, help="environment steps per update")
    p.add_argument("--blocks", type=int, default=12, help="blocks of each kind")
    p.add_argument("--updates", type=int, default=40, help="updates per learner-alone block")
    p.add_argument("--acting-steps", type=int, default=800, help="environment steps per acting-alone block")
    p.add_argument("--loop-steps", type=int, default=None,
                   help="environment steps per loop block (default: 160 × train_freq)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a deepq config value, e.g. num_envs=16")
    args = p.parse_args()

    from deepq import config

    tf = args.train_freq
    loop_steps = args.loop_steps or 160 * tf
    model = ready_model(tf, config.parse_set(args.set))
    cfg = model.cfg
    print(f"# train_freq {tf}, {cfg.num_envs} environment(s), backend {cfg.env_backend}, "
          f"optimizer {type(model.optimizer).__name__}", flush=True)

    learner, acting, loop = [], [], []
    for b in range(args.blocks):
        n, sec = learner_block(model, args.updates)
        learner.append(n / sec)
        n, sec = acting_block(model, args.acting_steps)
        acting.append(n / sec)

        n, sec = loop_block(model, loop_steps)
        loop.append(n / sec)
        print(f"  block {b + 1}: learner {learner[-1]:.1f} updates/s, acting {acting[-1]:.0f} steps/s, "
              f"loop {loop[-1]:.1f} steps/s", flush=True)

    over, serial = zip(*(limits(a, u, tf) for a, u in zip(acting, learner)))
    med = statistics.median
    print("\n| updates | learner alone | acting alone | loop | limit (overlapped) | loop / overlapped "
          "| limit, serial | loop / serial |\n|---|---|---|---|---|---|---|---|")
    print(f"| every {tf} step{'s' if tf > 1 else ''} | {med(learner):.1f} | {med(acting):.0f} | "
          f"{med(loop):.1f} | {med(over):.1f} | {med(x / y for x, y in zip(loop, over)):.0%} | "
          f"{med(serial):.1f} | {med(x / y for x, y in zip(loop, serial)):.0%} |")
    print("(medians over blocks; each ratio is the median of the blocks' own ratios)")


if __name__ == "__main__":
    main()
