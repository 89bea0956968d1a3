"""Memory of a 1,000,000-transition Pong replay: reported bytes and measured peak RSS.

    .venv/bin/python bench/replay_memory.py [--transitions 1000000]

Fills deepq's replay with synthetic 4×84×84 uint8 Pong-shaped transitions (episodes of
~850 steps, as Pong games last), samples batches from it, and prints the buffer's own
byte count, the process's peak resident memory, and what the design document's list of
float observation pairs would need for the same transitions.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from deepq.replay import ReplayBuffer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--transitions", type=int, default=1_000_000)
    args = p.parse_args()
    n = args.transitions
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(n, (4, 84, 84), np.uint8, frame_stack=4, rng=rng)
    frames = rng.integers(0, 256, (64, 84, 84), dtype=np.uint8)  # a pool, to fill fast
    t = time.perf_counter()
    stack = np.stack([frames[0]] * 4)
    for i in range(n):
        nxt = np.concatenate([stack[1:], frames[(i + 1) % 64][None]])
        end = i % 850 == 849
        buf.add(stack, i % 6, 0.0, 0.0 if end else 0.99, nxt, end)
        stack = np.stack([frames[(i + 2) % 64]] * 4) if end else nxt
    fill_s = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(200):
        batch = buf.sample(32)
    sample_ms = (time.perf_counter() - t) / 200 * 1000
    assert batch.obs.shape == (32, 4, 84, 84) and batch.obs.dtype == np.uint8
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # the design document keeps (s, s') per transition as float arrays of single frames;
    # at float32 that is 2 · 84·84 · 4 bytes (its /255.0 actually yields float64: twice that)
    naive = n * 2 * 84 * 84 * 4
    print(f"transitions:            {n:,}")
    print(f"replay nbytes:          {buf.nbytes:,} B ({buf.nbytes / 1e9:.2f} GB)")
    print(f"peak RSS (process):     {peak:,} B ({peak / 1e9:.2f} GB)")
    print(f"design document's list: {naive:,} B ({naive / 1e9:.1f} GB) (float32 frame pairs)")
    print(f"fill: {fill_s:.0f} s; sample(32): {sample_ms:.2f} ms")


if __name__ == "__main__":
    main()
