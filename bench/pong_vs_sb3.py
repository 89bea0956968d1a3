"""Benchmark: deepq vs Stable-Baselines3 DQN on PongNoFrameskip-v4, in the same run.

    .venv/bin/pip install -e ".[bench]"         # Stable-Baselines3 (benchmark only)
    .venv/bin/python bench/pong_vs_sb3.py        # ~10 minutes on 2 cores

Both train DQN with identical hyperparameters (batch 32, replay 100k, Adam 1e-4, target
sync every 1000 steps, ε = 0.05, the same preprocessed 4-frame Pong environment) with an update
every step and every 4 steps. Each measurement runs in a fresh process, so peak RSS is
per system; deepq and SB3 alternate in paired rounds and the table reports the median
ratio. Steps/s are counted only after learning has started.

The machine's limit for a setting is min(acting alone, learning alone × train_freq):
what a loop that overlaps acting and learning perfectly could reach. Each round measures
it twice:
- in the deepq run's own process, right after its timed steps (two blocks of
  ``LEARNER_BLOCK`` updates and two of ``ACTING_BLOCK`` steps of the same loop with its
  updates switched off, in turn): the limit the table's deepq / limit uses, since it is
  taken seconds from the loop it is compared with;
- in separate fresh processes within the same round (the learner alone on 300 updates,
  acting alone on 3000 steps): the last column, and the "learner alone" line under the
  table. On a machine that drifts by ±25% over minutes these scatter more.
deepq / limit is the median over rounds of each round's ratio. "limit, serial" is
1 / (1/acting + 1/(learning × train_freq)), a loop that acts and learns in turn.

deepq runs with its defaults: one environment, acting and learning in turn.
``--set KEY=VALUE`` changes a deepq config value in both settings, e.g. ``--set
num_envs=8 --set env_backend=envpool`` (8 EnvPool environments acting from one forward
pass, the same replay ratio; the fastest on 2 cores) or ``--set speed.overlap=true``.
bench/speed-log.md has the tables.

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


LEARNER_BLOCK = 40  # updates per in-process learner-alone block (~0.5 s)
ACTING_BLOCK = 800  # environment steps per in-process acting-alone block (~0.4 s with EnvPool)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def limits(acting: float, learning: float, train_freq: int) -> tuple[float, float]:
    """(overlapped, serial) limits in steps/s from acting steps/s and learner updates/s:
    min(acting, learning × train_freq), and 1 / (1/acting + 1/(learning × train_freq))."""
    return min(acting, learning * train_freq), 1 / (1 / acting + 1 / (learning * train_freq))


def ready_model(train_freq: int, speed: dict):
    """The benchmark's deepq agent (the pong preset at batch 32, replay 100k, fixed ε),
    prefilled, with MasterAdam's compiled kernel built (seconds, once) outside any timing."""
    from deepq import DQN, config
    from deepq.presets import PRESETS

    cfg = config.override(PRESETS["pong"].config, {
        "learn_start": PREFILL, "train_freq": train_freq, "buffer_size": 100_000, "batch_size": 32,
        "eval_every": 0, "checkpoint_every": 0, "stop_return": None, "eps_start": EPSILON,
        "eps_final": EPSILON, **speed})
    model = DQN(cfg, tensorboard=False)
    model.learn(PREFILL)
    for _ in range(3):
        model.train_step()
    return model


def learner_block(model, updates: int) -> tuple[int, float]:
    """``updates`` calls of the agent's own ``train_step`` on its replay → (updates, seconds)."""
    t = time.perf_counter()
    for _ in range(updates):
        model.train_step()
    return updates, time.perf_counter() - t


def loop_block(model, steps: int) -> tuple[int, float]:
    """``steps`` environment steps of the agent's training loop → (steps taken, seconds)."""
    t, start = time.perf_counter(), model.step
    model.learn(steps)
    return model.step - start, time.perf_counter() - t


def acting_block(model, steps: int) -> tuple[int, float]:
    """``loop_block`` with the loop's updates switched off (stepping, ε-greedy acting,
    storing) → (steps taken, seconds)."""
    model.train_step = lambda: None
    try:
        return loop_block(model, steps)
    finally:
        del model.train_step  # back to the class's update


def worker_deepq(train_freq: int, steps: int, speed: dict) -> dict:
    model = ready_model(train_freq, speed)
    n, sec = loop_block(model, steps)
    rss = _peak_rss_mb()  # before the acting blocks add replay
    # the limit's two parts, in this process, right after the timed steps (not before: the
    # timed steps start as they always have, right after the prefill and the warm-up)
    learned, acted = [], []
    for _ in range(2):
        learned.append(learner_block(model, LEARNER_BLOCK))
        acted.append(acting_block(model, ACTING_BLOCK))
    return {"steps_per_sec": n / sec, "peak_rss_mb": rss,
            "learner_updates_per_sec": sum(n for n, _ in learned) / sum(s for _, s in learned),
            "acting_steps_per_sec": sum(n for n, _ in acted) / sum(s for _, s in acted)}


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
    n, sec = learner_block(model, updates)
    return {"updates_per_sec": n / sec, "peak_rss_mb": _peak_rss_mb()}


def worker_acting(steps: int, speed: dict) -> dict:
    """Environment stepping plus ε-greedy acting at the timed runs' ε."""
    from deepq import DQN, config
    from deepq.presets import PRESETS

    cfg = config.override(PRESETS["pong"].config, {
        "learn_start": 10**9, "buffer_size": 100_000, "eval_every": 0, "checkpoint_every": 0,
        "stop_return": None, "eps_start": EPSILON, "eps_final": EPSILON, **speed})
    model = DQN(cfg)
    model.learn(200)
    n, sec = loop_block(model, steps)
    return {"steps_per_sec": n / sec, "peak_rss_mb": _peak_rss_mb()}


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
                   help="a deepq config value for both settings, e.g. speed.precision=fp32")
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
    med = statistics.median

    for train_freq in (1, 4):
        # Each round: the learner alone and acting alone in their own processes, then the
        # paired deepq and SB3 runs (deepq's run measures the limit again, in its process).
        ratios, ours, theirs, rss_ours, rss_theirs = [], [], [], [], []
        near, far = [], []  # per round: (acting, learning, overlapped, serial) in-process / separate
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
            learner_all.append(learner["updates_per_sec"])
            for out, act, learn in ((near, a["acting_steps_per_sec"], a["learner_updates_per_sec"]),
                                    (far, acting["steps_per_sec"], learner["updates_per_sec"])):
                out.append((act, learn, *limits(act, learn, train_freq)))
            print(f"  train_freq={train_freq} round {r + 1}: deepq {ours[-1]:.1f} steps/s, SB3 "
                  f"{theirs[-1]:.1f} steps/s, ratio {ratios[-1]:.2f}; in deepq's process: learner "
                  f"{near[-1][1]:.1f} updates/s, acting {near[-1][0]:.0f} steps/s, deepq / limit "
                  f"{ours[-1] / near[-1][2]:.1%}; separate processes: learner {far[-1][1]:.1f}, "
                  f"acting {far[-1][0]:.0f}, deepq / limit {ours[-1] / far[-1][2]:.1%}", flush=True)
        rows.append((train_freq, med(ours), med(theirs), med(ratios), max(rss_ours), max(rss_theirs),
                     med(x[0] for x in near), med(x[1] for x in near), med(x[2] for x in near),
                     med(o / x[2] for o, x in zip(ours, near)), med(x[3] for x in near),
                     med(o / x[2] for o, x in zip(ours, far))))
    print()
    print("| updates | deepq steps/s | SB3 steps/s | ratio (median) | deepq peak RSS | SB3 peak RSS "
          "| acting alone | learner alone | limit (overlapped) | deepq / limit | limit, serial "
          "| deepq / limit, separate processes |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for tf, o, t, ratio, ro, rt, act, learn, lo, frac, ls, frac_far in rows:
        print(f"| every {tf} step{'s' if tf > 1 else ''} | {o:.1f} | {t:.1f} | {ratio:.2f}× | {ro:.0f} MB | "
              f"{rt:.0f} MB | {act:.0f} | {learn:.1f} | {lo:.1f} | {frac:.1%} | {ls:.1f} | {frac_far:.1%} |")
    print("(acting alone, learner alone and the limits: measured in deepq's process right after its "
          "timed steps; medians over rounds)")
    print(f"\nlearner alone in its own process {statistics.median(learner_all):.2f} updates/s at batch 32 "
          f"(median of {len(learner_all)}: {', '.join(f'{x:.1f}' for x in learner_all)})")


if __name__ == "__main__":
    main()
