"""Run output: a console progress bar, ``metrics.csv`` and TensorBoard events.

``metrics.csv`` has one row per event (an episode end, a training-loss report or an
evaluation) with the columns below; cells that do not apply to the event are empty.
On resume, rows written after the checkpoint's step are dropped first, so a run that
crashed and resumed has the same file as one that never stopped.
"""

from __future__ import annotations

import csv
import sys
import math
import os
from pathlib import Path

from tqdm import tqdm

COLUMNS = ["step", "update", "wall_time", "event", "episode_return", "episode_length",
           "loss", "q_mean", "epsilon", "eval_return", "steps_per_sec"]


def read_metrics(run_dir: str | Path) -> list[dict[str, str]]:
    path = Path(run_dir) / "metrics.csv"
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _truncate_after(path: Path, step: int) -> None:
    rows = [r for r in read_metrics(path.parent) if int(r["step"]) <= step]
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


class RunLogger:
    """Writes the metrics of one run; ``start_step`` > 0 when resuming."""

    def __init__(self, run_dir: Path, total_steps: int, start_step: int = 0,
                 tensorboard: bool = True, progress: bool = True):
        self.path = run_dir / "metrics.csv"
        if start_step > 0 and self.path.exists():
            _truncate_after(self.path, start_step)
        new = not self.path.exists()
        self._fh = open(self.path, "a", newline="")
        self._csv = csv.DictWriter(self._fh, COLUMNS)
        if new:
            self._csv.writeheader()
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # slow import: only when used

            self._tb = SummaryWriter(str(run_dir / "tb"), purge_step=start_step or None)
        self._bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True,
                         disable=not progress, smoothing=0.05, mininterval=0.5)
        self._postfix: dict[str, str] = {}

    def _row(self, **values) -> None:
        self._csv.writerow({k: ("" if v is None else v) for k, v in values.items()})
        self._fh.flush()

    def _scalar(self, tag: str, value: float, step: int) -> None:
        if self._tb is not None and value is not None and math.isfinite(value):
            self._tb.add_scalar(tag, value, step)

    def episode(self, step: int, update: int, wall: float, ret: float, length: int) -> None:
        self._row(step=step, update=update, wall_time=f"{wall:.2f}", event="episode",
                  episode_return=ret, episode_length=length)
        self._scalar("episode/return", ret, step)
        self._scalar("episode/length", length, step)

    def train(self, step: int, update: int, wall: float, loss: float, q_mean: float,
              epsilon: float, steps_per_sec: float) -> None:
        self._row(step=step, update=update, wall_time=f"{wall:.2f}", event="train", loss=repr(loss),
                  q_mean=repr(q_mean), epsilon=f"{epsilon:.5f}", steps_per_sec=f"{steps_per_sec:.1f}")
        self._scalar("train/loss", loss, step)
        self._scalar("train/q_mean", q_mean, step)
        self._scalar("train/epsilon", epsilon, step)
        self._scalar("train/steps_per_sec", steps_per_sec, step)
        self._postfix.update(eps=f"{epsilon:.3f}", loss=f"{loss:.4f}")

    def eval(self, step: int, update: int, wall: float, mean_return: float) -> None:
        self._row(step=step, update=update, wall_time=f"{wall:.2f}", event="eval",
                  eval_return=mean_return)
        self._scalar("eval/return", mean_return, step)
        self._postfix["eval"] = f"{mean_return:.1f}"

    def progress(self, steps: int, recent_return: float | None) -> None:
        if recent_return is not None:
            self._postfix["ret"] = f"{recent_return:.1f}"
        self._bar.update(steps)
        self._bar.set_postfix(self._postfix, refresh=False)

    def message(self, text: str) -> None:
        self._bar.write(text, file=sys.stderr)

    def close(self) -> None:
        self._bar.close()
        self._fh.close()
        if self._tb is not None:
            self._tb.close()
