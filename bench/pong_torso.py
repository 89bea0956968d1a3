"""Benchmark: the Nature CNN against the 2013 DQN network (``torso = nips``) on Pong, in one
process; or any other config key's two values with ``--vary``.

    .venv/bin/python bench/pong_torso.py                     # ~3 minutes on 2 cores
    .venv/bin/python bench/pong_torso.py --train-freq 4 --set speed.threads=1
    .venv/bin/python bench/pong_torso.py --set torso=nips --vary prioritized=false,true

Both agents are the benchmark agent of ``pong_vs_sb3.py`` (the pong preset at batch 32,
replay 100k, fixed ε 0.05) with the Pong presets' rule on top: Double DQN, a dueling head,
3-step returns and 4 environments. They differ only in ``torso`` (or in the ``--vary``
key). Blocks take turns, the order reversed every other round: the update alone
(``--updates`` calls of ``train_step``) and the training loop (``--loop-steps`` steps of
``learn`` with an update every ``--train-freq`` steps). The table gives medians and the median of each round's
second / first ratio. The machine drifts by ±25% over minutes: only the same-round ratios
mean much.
"""

from __future__ import annotations

import argparse
import statistics

from pong_vs_sb3 import learner_block, loop_block, ready_model

RULE = {"double": True, "dueling": True, "n_step": 3, "num_envs": 4}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-freq", type=int, default=4, help="environment steps per update in the loop blocks")
    p.add_argument("--rounds", type=int, default=8, help="rounds of blocks")
    p.add_argument("--updates", type=int, default=40, help="updates per update block")
    p.add_argument("--loop-steps", type=int, default=800, help="environment steps per loop block")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a deepq config value for both agents, e.g. speed.threads=1")
    p.add_argument("--vary", default="torso=nature,nips", metavar="KEY=A,B",
                   help="the config key the two agents differ in, and its two values")
    args = p.parse_args()
    key, _, values = args.vary.partition("=")
    if len(values.split(",")) != 2:
        p.error(f"--vary expects KEY=A,B, got {args.vary!r}")

    import torch

    from deepq import config

    common = config.parse_set(args.set)
    first, second = values.split(",")
    pair = (first, second)  # the two agents, named by their value of `key`
    models = {t: ready_model(args.train_freq, {**RULE, **common, key: t}) for t in pair}
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, train_freq {args.train_freq}",
          flush=True)
    updates: dict[str, list[float]] = {t: [] for t in pair}
    loop: dict[str, list[float]] = {t: [] for t in pair}
    for r in range(args.rounds):
        for t in (pair if r % 2 == 0 else pair[::-1]):
            n, sec = learner_block(models[t], args.updates)
            updates[t].append(n / sec)
            n, sec = loop_block(models[t], args.loop_steps)
            loop[t].append(n / sec)
        print(f"  round {r + 1}: " + ", ".join(f"{t} {updates[t][-1]:.0f} updates/s, loop {loop[t][-1]:.0f} steps/s"
                                               for t in pair), flush=True)
    med = statistics.median
    print(f"\n| {key} | updates/s | loop steps/s (update every {args.train_freq}) |\n|---|---|---|")
    for t in pair:
        print(f"| {t} | {med(updates[t]):.1f} | {med(loop[t]):.1f} |")
    print(f"| {second} / {first} | {med(a / b for a, b in zip(updates[second], updates[first])):.2f}× | "
          f"{med(a / b for a, b in zip(loop[second], loop[first])):.2f}× |")
    print("(medians over rounds; the ratios are medians of each round's own ratio)")


if __name__ == "__main__":
    main()
