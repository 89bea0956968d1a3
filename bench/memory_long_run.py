"""Long Pong run: does resident memory stay flat once the replay is full, and do open
file handles grow with checkpoints?

    .venv/bin/python bench/memory_long_run.py                        # 300k steps, ~20-40 min on 2 cores
    .venv/bin/python bench/memory_long_run.py --steps 30000 --chunk 5000 --buffer 10000   # smoke test
    nice -n 10 .venv/bin/python bench/memory_long_run.py --out /tmp/memory_long_run.csv

Trains DQN on PongNoFrameskip-v4 through deepq's Python API (``DQN`` built from a preset,
default ``pong-fast``), in chunks: ``model.learn(chunk)`` again and again on one agent,
with a run directory under /tmp, until ``--steps`` environment steps. The defaults make
the replay fill early and the run cheap on 2 cores: replay ``--buffer`` 50,000 (full at
~50k steps), learning from step 10k, 8 EnvPool environments, one update per 16
environment steps, seed 0, ``stop_return`` none (the run never stops early), the
preset's evaluations (every 100k steps) left on, TensorBoard on as in a plain run.

Checkpoints: ``checkpoint_every`` 25,000 (``--checkpoint-every``), ``keep_checkpoints`` 1,
``save_replay`` true (the small replay makes each checkpoint ~350 MB). Note that
``model.learn`` also writes a checkpoint (and metrics.csv, TensorBoard events and
plot.png) at the end of *every* call when the agent has a run directory, so a chunked run
checkpoints at least once per chunk; the script counts every ``save`` call.

After each chunk it samples: environment steps, updates, RSS
(``psutil.Process().memory_info().rss``) and its anonymous / file-backed parts
(``RssAnon`` / ``RssFile`` of /proc/self/status), peak RSS, open file descriptors
(``psutil.Process().num_fds()`` and ``len(os.listdir('/proc/self/fd'))``), threads,
replay fill (slots written / capacity), episodes finished, checkpoints written so far,
and the chunk's wall time. At the end it prints the table, the least-squares slope of
RSS against environment steps over the samples taken with the replay full (MB per 100k
steps), the first and last RSS after the fill, and the fd counts at the first and last
sample and their maximum; the samples go to ``--out`` (CSV) as well.

``--tracemalloc`` also traces Python allocations (slower) and prints the allocation
sites that grew most between the first sample after the fill and the last one.
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import psutil

MB = 1e6  # RSS is reported in MB (10^6 bytes)


def _status_kb(field: str) -> float:
    """A kB field of /proc/self/status (RssAnon, RssFile, ...), in kB; nan if absent."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    return float("nan")


def _fill(model) -> tuple[int, int]:
    """(slots written, slots the replay can hold); (0, capacity) before it is allocated."""
    r = model.replay
    if r is None:
        return 0, model.cfg.buffer_size
    return int(r.size), r.lane_len * len(r.lanes)


def sample(model, proc: psutil.Process, wall: float, chunk_s: float, saves: int, save_s: float) -> dict:
    size, capacity = _fill(model)
    rss = proc.memory_info().rss
    return {
        "step": model.step,
        "update": model.update,
        "wall_s": round(wall, 1),
        "chunk_s": round(chunk_s, 1),
        "rss_mb": round(rss / MB, 1),
        "rss_anon_mb": round(_status_kb("RssAnon") * 1024 / MB, 1),
        "rss_file_mb": round(_status_kb("RssFile") * 1024 / MB, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB, 1),
        "num_fds": proc.num_fds(),
        "proc_fds": len(os.listdir("/proc/self/fd")),
        "threads": proc.num_threads(),
        "replay_size": size,
        "replay_capacity": capacity,
        "replay_full": int(size >= capacity),
        "episodes": len(model.episode_returns),
        "checkpoints": saves,
        "save_s": round(save_s, 1),
        "gc_objects": len(gc.get_objects()),
    }


def fd_targets() -> list[str]:
    """What each open file descriptor points at (path, pipe:[...], socket:[...], anon_inode:...),
    leaving out the descriptor that lists them."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # closed meanwhile (listdir's own descriptor)
            pass
    return sorted(out)


def slope_per_100k(steps: list[float], values: list[float]) -> float:
    """Least-squares slope of ``values`` against ``steps``, per 100,000 steps."""
    if len(steps) < 2:
        return float("nan")
    return float(np.polyfit(np.asarray(steps, float), np.asarray(values, float), 1)[0] * 100_000)


def print_table(rows: list[dict]) -> None:
    cols = ["step", "update", "wall_s", "chunk_s", "rss_mb", "rss_anon_mb", "rss_file_mb",
            "peak_rss_mb", "num_fds", "proc_fds", "threads", "replay_size", "replay_full",
            "episodes", "checkpoints", "save_s", "gc_objects"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300_000, help="environment steps in all")
    p.add_argument("--chunk", type=int, default=10_000, help="environment steps per learn() call "
                   "(one sample after each)")
    p.add_argument("--buffer", type=int, default=50_000, help="replay capacity (transitions)")
    p.add_argument("--preset", default="pong-fast", help="deepq DQN preset to start from")
    p.add_argument("--checkpoint-every", type=int, default=25_000,
                   help="checkpoint_every (learn() also checkpoints at the end of each chunk)")
    p.add_argument("--save-replay", action=argparse.BooleanOptionalAction, default=True,
                   help="store the replay in checkpoints")
    p.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, default=True,
                   help="write TensorBoard events, as a plain run does")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any deepq config value, applied last, e.g. --set train_freq=4")
    p.add_argument("--run-dir", default=None, help="run directory (default: a fresh /tmp/deepq_memrun_*)")
    p.add_argument("--keep-run-dir", action="store_true", help="leave the run directory on disk")
    p.add_argument("--out", default="/tmp/memory_long_run.csv", help="CSV of the samples")
    p.add_argument("--tracemalloc", action="store_true",
                   help="trace Python allocations and print the sites that grew after the fill")
    args = p.parse_args()

    import torch

    from deepq import DQN, config

    if args.tracemalloc:
        import tracemalloc
        tracemalloc.start(8)

    overrides = {
        "buffer_size": args.buffer, "learn_start": 10_000, "train_freq": 16, "num_envs": 8,
        "env_backend": "envpool", "seed": 0, "total_steps": args.steps, "stop_return": None,
        "checkpoint_every": args.checkpoint_every, "keep_checkpoints": 1,
        "save_replay": args.save_replay,
    }
    overrides |= config.parse_set(args.set)
    run_dir = Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix="deepq_memrun_", dir="/tmp"))
    model = DQN.from_preset(args.preset, run_dir, tensorboard=args.tensorboard, **overrides)
    c = model.cfg

    # count and time every checkpoint (the in-loop ones and learn()'s final one)
    saves, save_s = 0, 0.0
    class_save = type(model).save

    def counted_save(path):
        nonlocal saves, save_s
        t = time.perf_counter()
        out = class_save(model, path)
        saves += 1
        save_s += time.perf_counter() - t
        return out

    model.save = counted_save

    print(f"# deepq memory long run: preset {args.preset}, {args.steps:,} steps in chunks of {args.chunk:,}; "
          f"buffer_size {c.buffer_size:,}, num_envs {c.num_envs} ({c.env_backend}), train_freq "
          f"{c.train_freq}, learn_start {c.learn_start:,}, checkpoint_every {c.checkpoint_every:,}, "
          f"keep_checkpoints {c.keep_checkpoints}, save_replay {c.save_replay}, eval_every "
          f"{c.eval_every:,}, tensorboard {args.tensorboard}, seed {c.seed}", flush=True)
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads; run dir {run_dir}; "
          f"csv {args.out}; pid {os.getpid()}", flush=True)

    proc = psutil.Process()
    out_fh = open(args.out, "w", newline="")
    writer = None
    rows: list[dict] = []
    snap_after_fill = None
    t0 = time.perf_counter()

    def record(row: dict) -> None:
        nonlocal writer
        rows.append(row)
        if writer is None:
            writer = csv.DictWriter(out_fh, list(row))
            writer.writeheader()
        writer.writerow(row)
        out_fh.flush()
        print(f"step {row['step']:>8,}  upd {row['update']:>6,}  rss {row['rss_mb']:8.1f} MB "
              f"(anon {row['rss_anon_mb']:.1f}, file {row['rss_file_mb']:.1f})  fds {row['num_fds']}/"
              f"{row['proc_fds']}  thr {row['threads']}  replay {row['replay_size']:,}/"
              f"{row['replay_capacity']:,}  ckpt {row['checkpoints']}  chunk {row['chunk_s']:.0f} s  "
              f"wall {row['wall_s']:.0f} s", flush=True)

    record(sample(model, proc, 0.0, 0.0, saves, save_s))  # after building the agent, before learning
    fds_first_chunk = None
    try:
        while model.step < args.steps:
            t, target = time.perf_counter(), min(model.step + args.chunk, args.steps)
            model.learn(target - model.step)
            now = time.perf_counter()
            row = sample(model, proc, now - t0, now - t, saves, save_s)
            record(row)
            if model.step < target:  # SIGINT/SIGTERM: learn() stopped early and checkpointed
                print(f"# interrupted at step {model.step:,}: summary of the samples so far", flush=True)
                break
            fds_last = fd_targets()
            if fds_first_chunk is None:
                fds_first_chunk = fds_last
            if args.tracemalloc and row["replay_full"] and snap_after_fill is None:
                snap_after_fill = tracemalloc.take_snapshot()
    finally:
        out_fh.close()
    total = time.perf_counter() - t0

    print()
    print_table(rows)
    full = [r for r in rows if r["replay_full"]]
    print(f"\nwall time {total:.0f} s ({total / 60:.1f} min) for {model.step:,} steps, "
          f"{model.update:,} updates, {saves} checkpoints ({save_s:.0f} s in save), "
          f"{len(model.episode_returns)} episodes")
    if len(full) >= 2:
        steps = [r["step"] for r in full]
        print(f"after the replay is full ({len(full)} samples, steps {steps[0]:,} → {steps[-1]:,}):")
        for key in ("rss_mb", "rss_anon_mb", "rss_file_mb"):
            print(f"  {key}: slope {slope_per_100k(steps, [r[key] for r in full]):+.1f} MB per 100k steps, "
                  f"first {full[0][key]:.1f} MB, last {full[-1][key]:.1f} MB, "
                  f"min {min(r[key] for r in full):.1f}, max {max(r[key] for r in full):.1f}")
        if len(full) >= 3:
            later = full[1:]
            print(f"  leaving out the first sample after the fill (steps {later[0]['step']:,} → "
                  f"{later[-1]['step']:,}): rss_mb slope "
                  f"{slope_per_100k([r['step'] for r in later], [r['rss_mb'] for r in later]):+.1f} MB per 100k steps")
    else:
        print(f"the replay was full at {len(full)} samples: no slope after the fill "
              f"(fewer than 2 samples); lower --buffer or raise --steps")
    for key in ("num_fds", "proc_fds", "threads"):
        vals = [r[key] for r in rows]
        print(f"{key}: first {vals[0]}, last {vals[-1]}, max {max(vals)}"
              + (f"; after the first chunk: first {vals[1]}, last {vals[-1]}, max {max(vals[1:])}"
                 if len(vals) > 1 else ""))
    if fds_first_chunk is not None:  # multisets: one file can be open several times
        first, last = Counter(fds_first_chunk), Counter(fds_last)
        new, gone = sorted((last - first).elements()), sorted((first - last).elements())
        print(f"open fds after the first chunk ({len(fds_first_chunk)}): {', '.join(fds_first_chunk)}")
        print(f"  at the last sample ({len(fds_last)}), new: {', '.join(new) or 'none'}; "
              f"closed: {', '.join(gone) or 'none'}")
    ckpt_root = run_dir / "checkpoints"
    on_disk = sorted(p.name for p in ckpt_root.iterdir()) if ckpt_root.exists() else []
    print(f"checkpoints written {saves}; in {ckpt_root}: {', '.join(on_disk)}")

    if args.tracemalloc and snap_after_fill is not None:
        last = tracemalloc.take_snapshot()
        print("\ntracemalloc: allocation sites that grew most since the first sample after the fill")
        for stat in last.compare_to(snap_after_fill, "traceback")[:10]:
            print(f"  {stat.size_diff / 1e3:+.1f} kB in {stat.count_diff:+d} blocks: "
                  + " <- ".join(f"{f.filename.split('site-packages/')[-1]}:{f.lineno}"
                                for f in stat.traceback[:4]))

    if not args.keep_run_dir and not args.run_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
