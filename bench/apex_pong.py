"""Ape-X on Pong beside single-process ``pong-fast``, back to back on this machine.

    .venv/bin/python bench/apex_pong.py [--apex-minutes 30] [--single-minutes 15] [--out DIR]

Trains ``apex-pong`` (2 Ray actors on this machine's cores) for ``--apex-minutes``,
stops it with SIGINT (it checkpoints), then ``pong-fast`` for ``--single-minutes``, and
prints for each: environment steps/s (all actors together), learner updates/s, both
over the learning phase (from the first logged row past ``learn_start`` to the last),
and for Ape-X the weight lag (learner updates the actors' weights were behind) and the
replay fill, from metrics.csv.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from deepq.log import read_metrics  # noqa: E402
from deepq.presets import PRESETS  # noqa: E402


def train_for(preset: str, run_dir: Path, minutes: float) -> int:
    """``deepq train PRESET`` for ``minutes``, then SIGINT; returns its exit status."""
    deepq = Path(sys.executable).with_name("deepq")
    with open(run_dir.with_suffix(".log"), "w") as log:
        proc = subprocess.Popen([str(deepq), "train", preset, "--run-dir", str(run_dir), "--no-progress"],
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=minutes * 60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            return proc.wait(timeout=300)
    return proc.returncode


def summary(preset: str, run_dir: Path) -> dict[str, float]:
    rows = [r for r in read_metrics(run_dir) if r["event"] in ("train", "apex")]
    start = PRESETS[preset].config.learn_start
    learning = [r for r in rows if int(r["step"]) > start]
    first, last = learning[0], learning[-1]
    seconds = float(last["wall_time"]) - float(first["wall_time"])
    out = {"steps": int(last["step"]), "wall_time": float(last["wall_time"]),
           "steps_per_sec": (int(last["step"]) - int(first["step"])) / seconds,
           "updates_per_sec": (int(last["update"]) - int(first["update"])) / seconds}
    apex = [r for r in learning if r["event"] == "apex"]
    if apex:
        lags = [float(r["weight_lag"]) for r in apex]
        out |= {"weight_lag_median": statistics.median(lags), "weight_lag_max": max(lags),
                "replay_fill": float(apex[-1]["replay_fill"])}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apex-minutes", type=float, default=30.0)
    parser.add_argument("--single-minutes", type=float, default=15.0)
    parser.add_argument("--out", default="runs/apex-pong-bench")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = [("apex-pong", args.apex_minutes), ("pong-fast", args.single_minutes)]
    for preset, minutes in runs:
        status = train_for(preset, out / preset, minutes)
        print(f"{preset}: trained {minutes:g} min, exit status {status}", flush=True)
    for preset, _ in runs:
        s = summary(preset, out / preset)
        line = (f"{preset:<10} step {s['steps']:,} after {s['wall_time']:.0f} s; learning phase: "
                f"{s['steps_per_sec']:.1f} env steps/s, {s['updates_per_sec']:.1f} updates/s")
        if "weight_lag_median" in s:
            line += (f", weight lag median {s['weight_lag_median']:.0f} (max {s['weight_lag_max']:.0f}) "
                     f"updates, replay fill {s['replay_fill']:.2f}")
        print(line)


if __name__ == "__main__":
    main()
