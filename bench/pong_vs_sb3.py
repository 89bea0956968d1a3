"""Benchmark: deepq vs Stable-Baselines3 DQN on PongNoFrameskip-v4, in the same run.

    .venv/bin/pip install -e ".[bench]"         # Stable-Baselines3 (benchmark only)
    .venv/bin/python bench/pong_vs_sb3.py        # ~10 minutes on 2 cores

Both train DQN with identical hyperparameters (batch 32, replay 100k, Adam 1e-4, target
sync every 1000 steps, ε = 0.05, the same preprocessed 4-frame Pong environment) with an update
every step and every 4 steps. Each measurement runs in a fresh process, so peak RSS is
per system; deepq and SB3 alternate in paired rounds and the table reports the median
ratio. Steps/s are counted only after learning has started. Each round also measures
the learner's updates/s alone and environment+acting steps/s alone, and from them the
machine's limit for the setting, min(acting alone, learning alone × train_freq): what a
loop that overlaps acting and learning perfectly could reach. deepq / limit is the
median over rounds of each round's ratio.

deepq runs with its defaults: one environment, acting and learning in turn.
``--set KEY=VALUE`` changes a deepq config value in both settings, e.g. ``--set
num_envs=8 --set env_backend=envpool`` (8 EnvPool environments acting from one forward
pass, the same replay ratio; the fastest on 2 cores) or ``--set overlap=true``.
docs/speed.md has the tables.

The machine drifts by ±25% over minutes: compare numbers only within one run.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

PREFILL = 1_000  # random steps before learning starts (not timed)
# ε during the timed steps, the same for both (and for "acting alone"): a fixed low value,
# so ~95% of steps run the Q-network as late in training. Left to their schedules, the two
# libraries would be at very different ε this early (deepq's pong preset ≈ 0.95, SB3's
# exploration_fraction over this short run ≈ 0.05) and would pay for different amounts
# of acting.
EPSILON = 0.05


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_deepq(train_freq: int, steps: int, speed: dict) -> dict:
    from deepq import DQN, config
    from deepq.presets import PRESETS

    cfg = config.override(PRESETS["pong"].config, {
        "learn_start": PREFILL, "train_freq": train_freq, "buffer_size": 100_000, "batch_size": 32,
        "eval_every": 0, "checkpoint_every": 0, "stop_return": None, "eps_start": EPSILON,
        "eps_final": EPSILON, **speed})
    model = DQN(cfg)
    model.learn(PREFILL)
    for _ in range(3):  # builds MasterAdam's compiled kernel (seconds, once) outside the timing
        model.train_step()
    t, start = time.perf_counter(), model.step
    model.learn(steps)
    sps = (model.step - start) / (time.perf_counter() - t)
    return {"steps_per_sec": sps, "peak_rss_mb": _peak_rss_mb()}


def worker_sb3(train_freq: int, steps: int) -> dict:
    from stable_baselines3 import DQN as SB3DQN
    from stable_baselines3.common.callbacks import BaseCallback

    from deepq import envs

    class Timer(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps == PREFILL:
                self.t0 = time.perf_counter()
            return True

    env = envs.make("PongNoFrameskip-v4", frame_stack=4)
    model = SB3DQN("CnnPolicy", env, buffer_size=100_000, batch_size=32, learning_starts=PREFILL,
                   train_freq=train_freq, gradient_steps=1, target_update_interval=1000,
                   learning_rate=1e-4, gamma=0.99, exploration_initial_eps=EPSILON,
                   exploration_final_eps=EPSILON, verbose=0, seed=0,
                   device="cpu")
    timer = Timer()
    model.learn(PREFILL + steps, callback=timer)
    sps = steps / (time.perf_counter() - timer.t0)
    return {"steps_per_sec": sps, "peak_rss_mb": _peak_rss_mb()}


def worker_learner(updates: int, speed: dict) -> dict:
    """deepq's update alone on a filled replay: updates/s at batch 32."""
    from deepq import DQN, config
    from deepq.presets import PRESETS

    cfg = config.override(PRESETS["pong"].config, {
        "learn_start": 10**9, "buffer_size": 100_000, "eval_every": 0, "checkpoint_every": 0,
        "stop_return": None, **speed})
    model = DQN(cfg)
    model.learn(2_000)
    for _ in range(10):
        model.train_step()
    t = time.perf_counter()
    for _ in range(updates):
        model.train_step()
    return {"updates_per_sec": updates / (time.perf_counter() - t), "peak_rss_mb": _peak_rss_mb()}


def worker_acting(steps: int, speed: dict) -> dict:
    """Environment stepping plus ε-greedy acting at the timed runs' ε."""
    from deepq import DQN, config
    from deepq.presets import PRESETS

    cfg = config.override(PRESETS["pong"].config, {
        "learn_start": 10**9, "buffer_size": 100_000, "eval_every": 0, "checkpoint_every": 0,
        "stop_return": None, "eps_start": EPSILON, "eps_final": EPSILON, **speed})
    model = DQN(cfg)
    model.learn(200)
    t, start = time.perf_counter(), model.step
    model.learn(steps)
    return {"steps_per_sec": (model.step - start) / (time.perf_counter() - t), "peak_rss_mb": _peak_rss_mb()}


def run_worker(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"worker {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3, help="paired rounds per setting")
    p.add_argument("--steps", type=int, default=1500, help="timed env steps per measurement")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a deepq config value for both settings, e.g. precision=fp32")
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        kind, *rest = args.worker
        fn = {"deepq": lambda: worker_deepq(int(rest[0]), int(rest[1]), json.loads(rest[2])),
              "sb3": lambda: worker_sb3(int(rest[0]), int(rest[1])),
              "learner": lambda: worker_learner(int(rest[0]), json.loads(rest[1])),
              "acting": lambda: worker_acting(int(rest[0]), json.loads(rest[1]))}[kind]
        print(json.dumps(fn()))
        return

    import torch

    from deepq import config

    speed = json.dumps(config.parse_set(args.set))  # deepq config values, used in both update settings
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}; deepq speed settings {speed}")
    rows, learner_all = [], []
    for train_freq in (1, 4):
        # Each round measures the learner alone and acting alone next to the paired deepq and
        # SB3 runs, so every limit compares numbers taken within a minute of each other.
        ratios, ours, theirs, rss_ours, rss_theirs, acts, learns, limits, serials = ([] for _ in range(9))
        for r in range(args.rounds):
            learner = run_worker(["learner", "300", speed])
            acting = run_worker(["acting", "3000", speed])
            a = run_worker(["deepq", str(train_freq), str(args.steps), speed])
            b = run_worker(["sb3", str(train_freq), str(args.steps)])
            ours.append(a["steps_per_sec"])
            theirs.append(b["steps_per_sec"])
            rss_ours.append(a["peak_rss_mb"])
            rss_theirs.append(b["peak_rss_mb"])
            ratios.append(a["steps_per_sec"] / b["steps_per_sec"])
            learns.append(learner["updates_per_sec"])
            acts.append(acting["steps_per_sec"])
            limits.append(min(acts[-1], learns[-1] * train_freq))
            serials.append(1 / (1 / acts[-1] + 1 / (learns[-1] * train_freq)))
            print(f"  train_freq={train_freq} round {r + 1}: deepq {a['steps_per_sec']:.1f} steps/s, "
                  f"SB3 {b['steps_per_sec']:.1f} steps/s, ratio {ratios[-1]:.2f}; learner alone "
                  f"{learns[-1]:.1f} updates/s, acting alone {acts[-1]:.0f} steps/s, deepq / limit "
                  f"{ours[-1] / limits[-1]:.0%}", flush=True)
        learner_all += learns
        med = statistics.median
        rows.append((train_freq, med(ours), med(theirs), med(ratios), max(rss_ours), max(rss_theirs),
                     med(acts), med(limits), med(o / lim for o, lim in zip(ours, limits)), med(serials)))
    print()
    print("| updates | deepq steps/s | SB3 steps/s | ratio (median) | deepq peak RSS | SB3 peak RSS "
          "| acting alone | limit (overlapped) | deepq / limit (median of rounds) | limit, serial |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for tf, o, t, ratio, ro, rt, act, lo, frac, ls in rows:
        print(f"| every {tf} step{'s' if tf > 1 else ''} | {o:.1f} | {t:.1f} | {ratio:.2f}× | {ro:.0f} MB | "
              f"{rt:.0f} MB | {act:.0f} | {lo:.1f} | {frac:.0%} | {ls:.1f} |")
    print(f"\nlearner alone {statistics.median(learner_all):.1f} updates/s at batch 32 "
          f"(median of {len(learner_all)}: {', '.join(f'{x:.1f}' for x in learner_all)})")


if __name__ == "__main__":
    main()
