"""Pong training-loop speed of the TensorFlow backend against torch, in one run.

    .venv/bin/python bench/tf_vs_torch.py [--steps 1500] [--rounds 3] [--preset seed-pong]

For each update period (every step, every 4 steps) it builds three learners on the
preset: ``tensorflow`` (fp32), ``torch`` with the preset's speed settings (bf16 passes
and MasterAdam on this CPU) and ``torch`` fp32 (like for like). Each first fills its
replay past ``learn_start``, then the three take turns, ``--rounds`` times, training
``--steps`` steps each; the medians give steps/s and the ratios. Where the time goes
is measured inside the same runs: seconds per step spent acting (the ε-greedy
forward pass), in updates, and in the rest (environment, replay, bookkeeping).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from deepq import config, presets  # noqa: E402
from deepq.algos.dqn import DQN  # noqa: E402

SETUPS = {
    "tensorflow": {"backend": "tensorflow"},
    "torch": {},
    "torch fp32": {"speed.precision": "fp32", "speed.master_adam": "off"},
}


def timed(model: DQN, clock: dict[str, float]) -> None:
    """Accumulate the seconds spent in the learner's act and update calls."""
    learner = model.learner
    for name in ("act", "update"):
        inner = getattr(learner, name)

        def wrapper(*a, _inner=inner, _name=name):
            t = time.perf_counter()
            try:
                return _inner(*a)
            finally:
                clock[_name] += time.perf_counter() - t

        setattr(learner, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="seed-pong")
    parser.add_argument("--steps", type=int, default=1500, help="steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    base = presets.PRESETS[args.preset].config
    print(f"{args.preset}: {args.rounds} rounds of {args.steps} steps per setup, learning phase")
    for train_freq in (1, 4):
        models, clocks, rates = {}, {}, defaultdict(list)
        for name, overrides in SETUPS.items():
            cfg = config.override(base, {"train_freq": train_freq, "learn_start": 1000,
                                         "buffer_size": 20_000, "eval_every": 0,
                                         "checkpoint_every": 0, **overrides})
            models[name] = DQN(cfg)
            models[name].learn(1000 + 200)  # replay past learn_start; graphs traced, kernels compiled
            clocks[name] = defaultdict(float)
            timed(models[name], clocks[name])
        for _ in range(args.rounds):
            for name, model in models.items():
                t = time.perf_counter()
                model.learn(args.steps)
                rates[name].append(args.steps / (time.perf_counter() - t))
        print(f"\nupdate every {train_freq} step{'s' if train_freq > 1 else ''}:")
        print(f"  {'setup':<12} {'steps/s':>8} {'act ms/step':>12} {'update ms/step':>15} {'rest ms/step':>13}")
        total_steps = args.steps * args.rounds
        for name in SETUPS:
            rate = statistics.median(rates[name])
            act = clocks[name]["act"] / total_steps * 1e3
            upd = clocks[name]["update"] / total_steps * 1e3
            rest = 1e3 / statistics.mean(rates[name]) - act - upd
            print(f"  {name:<12} {rate:>8.1f} {act:>12.2f} {upd:>15.2f} {rest:>13.2f}")
        tf_rate = statistics.median(rates["tensorflow"])
        print(f"  ratio tensorflow / torch: {tf_rate / statistics.median(rates['torch']):.3f}; "
              f"tensorflow / torch fp32: {tf_rate / statistics.median(rates['torch fp32']):.3f}")


if __name__ == "__main__":
    main()
