"""Benchmark: DQN's update alone on Pong (batch 32), several update configurations in one run.

    .venv/bin/python bench/learner.py               # ~2 minutes on 2 cores
    .venv/bin/python bench/learner.py --blocks 20 --set double=true

Each configuration gets its own agent on the `pong` preset with a replay of 2,000 random
steps; then blocks of updates run in turn (the order reversed every other round), and
the table gives each configuration's median updates/s and its median ratio to the first
configuration over the rounds. The machine drifts by ±25% over minutes, so only the
same-round ratios mean much.
"""

from __future__ import annotations

import argparse
import statistics
import time

CONFIGS = {  # name → deepq config values; ratios are to the first
    "bf16 autocast, fused Adam": {"speed.precision": "bf16", "speed.master_adam": "off"},
    "bf16 copy, MasterAdam": {"speed.precision": "bf16", "speed.master_adam": "on"},
    "fp32, fused Adam": {"speed.precision": "fp32", "speed.master_adam": "off"},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--blocks", type=int, default=12, help="rounds of blocks per configuration")
    p.add_argument("--updates", type=int, default=40, help="updates per block")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a deepq config value for every configuration, e.g. dueling=true")
    args = p.parse_args()

    import torch

    from deepq import DQN, config
    from deepq.presets import PRESETS

    common = config.parse_set(args.set)
    models = {}
    for name, values in CONFIGS.items():
        cfg = config.override(PRESETS["pong"].config, {
            "learn_start": 10**9, "buffer_size": 100_000, "batch_size": 32, "eval_every": 0,
            "checkpoint_every": 0, "stop_return": None, **values, **common})
        model = DQN(cfg, tensorboard=False)
        model.learn(2_000)
        t = time.perf_counter()
        for _ in range(10):  # MasterAdam compiles its kernel here
            model.train_step()
        print(f"# {name}: optimizer {type(model.optimizer).__name__}, warm-up {time.perf_counter() - t:.1f} s",
              flush=True)
        models[name] = model
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads")
    rates: dict[str, list[float]] = {name: [] for name in models}
    for r in range(args.blocks):
        for name in (list(models) if r % 2 == 0 else list(models)[::-1]):
            t = time.perf_counter()
            for _ in range(args.updates):
                models[name].train_step()
            rates[name].append(args.updates / (time.perf_counter() - t))
    first = list(models)[0]
    print("\n| update | updates/s (median) | range | ratio to first (median of rounds) |")
    print("|---|---|---|---|")
    for name, xs in rates.items():
        ratio = statistics.median(x / y for x, y in zip(xs, rates[first]))
        print(f"| {name} | {statistics.median(xs):.1f} | {min(xs):.1f}–{max(xs):.1f} | {ratio:.2f}× |")


if __name__ == "__main__":
    main()
