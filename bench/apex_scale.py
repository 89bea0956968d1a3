"""Simulated Ape-X scale-out: N actors (local Ray actors, each stepping CartPole-v1, a
cheap environment) and K replay shards on this machine; the learner's updates/s and the
actors' steps/s against N. On a machine with fewer cores than N + 1 the actors share
the cores, so the table shows where this machine, and the single learner, saturate.

    PYTHONPATH=. python bench/apex_scale.py [--actors 1 2 4 8] [--shards 1 2] [--seconds 10]

Ray is started with max(N) logical CPUs (one per actor, as ``Apex`` asks). Each row runs
``Apex.learn`` with ``train_freq = 1`` (the learner may take one update per environment
step, so it is never held back) and measures over ``--seconds`` after a warm-up.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time

import ray

from deepq import config
from deepq.apex import Apex
from deepq.presets import PRESETS


def measure(n: int, k: int, seconds: float, warmup: float) -> tuple[float, float, float]:
    """(actor steps/s, learner updates/s, updates per 1000 steps) of N actors, K shards."""
    cfg = config.override(PRESETS["apex-cartpole"].config, {
        "num_actors": n, "replay_shards": k, "total_steps": 10_000_000, "learn_start": 1000,
        "train_freq": 1, "eval_every": 0, "stop_return": None, "hidden": [64, 64]})
    model = Apex(cfg, tensorboard=False)
    marks = []

    def clock():
        while model.update == 0:  # Ray actors started and learning began
            time.sleep(0.1)
        time.sleep(warmup)
        marks.append((time.perf_counter(), model.step, model.update))
        time.sleep(seconds)
        marks.append((time.perf_counter(), model.step, model.update))
        os.kill(os.getpid(), signal.SIGINT)  # the run stops as on Ctrl-C (no run_dir: no save)

    threading.Thread(target=clock, daemon=True).start()
    model.learn()
    (t0, s0, u0), (t1, s1, u1) = marks
    return (s1 - s0) / (t1 - t0), (u1 - u0) / (t1 - t0), 1000 * (u1 - u0) / max(s1 - s0, 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--shards", type=int, nargs="+", default=[1, 2])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=4.0)
    args = p.parse_args()
    ray.init(num_cpus=max(args.actors), include_dashboard=False, log_to_driver=False)
    print(f"{os.cpu_count()} cores; CartPole-v1, MLP 64-64, batch 64, {args.seconds:g} s per row")
    print("| actors N | shards K | actor steps/s | learner updates/s | updates per 1000 steps |")
    print("|---:|---:|---:|---:|---:|")
    for n in args.actors:
        for k in args.shards:
            if k > n:
                continue
            sps, ups, ratio = measure(n, k, args.seconds, args.warmup)
            print(f"| {n} | {k} | {sps:,.0f} | {ups:,.0f} | {ratio:.0f} |", flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()
