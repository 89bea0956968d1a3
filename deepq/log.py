"""Run output: the run directory, a console progress bar, CSV tables (``metrics.csv``
among them), ``config.json`` and TensorBoard events. The training loop and the lab
both write through these.

``metrics.csv`` has one row per event (an episode end, a training-loss report or an
evaluation) with the columns below; cells that do not apply to the event are empty.
On resume, rows written after the checkpoint's step are dropped first, so a run that
crashed and resumed has the same file as one that never stopped.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import tempfile
import time
import types
from collections.abc import Iterable, Sequence
from pathlib import Path

from tqdm import tqdm

from deepq import config
from deepq.errors import DeepQError

COLUMNS = ["step", "update", "wall_time", "event", "episode_return", "episode_length",
           "loss", "q_mean", "epsilon", "eval_return", "steps_per_sec",
           # Ape-X runs only (event "apex"): learner and replay of the distributed run
           "updates_per_sec", "replay_fill", "weight_lag"]


def read_metrics(run_dir: str | Path) -> list[dict[str, str]]:
    path = Path(run_dir) / "metrics.csv"
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def new_run_dir(name: str, given: str | Path | None = None) -> Path:
    """``given``, or ``runs/NAME-YYYYmmdd-HHMMSS``; created, and checked writable now, so
    a run that cannot save its results fails before it starts, not after. On failure
    the directories it made are removed again, and the DeepQError says why."""
    path = Path(given) if given else Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    made = []  # path and its missing ancestors, deepest first
    try:
        if path.exists() and not path.is_dir():
            raise DeepQError(f"run directory {path} exists and is not a directory")
        d = path
        while not d.exists() and d != d.parent:
            made.append(d)
            d = d.parent
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        for d in made:
            try:
                d.rmdir()
            except OSError:
                break
        raise DeepQError(f"cannot create and write the run directory {path}: "
                         f"{getattr(e, 'strerror', None) or e}") from None
    return path


def write_config(run_dir: Path, cfg) -> Path:
    """``run_dir/config.json``: every field of the config dataclass ``cfg``."""
    path = run_dir / "config.json"
    path.write_text(json.dumps(config.to_dict(cfg), indent=1) + "\n")
    return path


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> Path:
    """A CSV table, written through a temporary file so a reader never sees half of it."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        out.writerows(rows)
    os.replace(tmp, path)
    return path


def progress_bar(total: int, desc: str | None = None, *, unit: str = "it", initial: int = 0,
                 enabled: bool = True, leave: bool = True, bar_format: str | None = None) -> tqdm:
    """The console progress bar of every run; ``enabled=False`` gives one that prints nothing."""
    return tqdm(total=total, desc=desc, unit=unit, initial=initial, disable=not enabled, leave=leave,
                dynamic_ncols=True, smoothing=0.05, mininterval=0.5, bar_format=bar_format)


ETA_AFTER_S = 5.0  # seconds of learning before the time left is estimated (s)


def time_left(step: int, total: int, learning_since: tuple[float, int] | None, now: float) -> str:
    """The time left as the training bar shows it, from the learning phase only.

    ``learning_since`` is (time, step) when updates began (None before). Steps before
    ``learn_start`` only act and store, at about twice the speed of steps that also
    train, so a rate measured over them would promise hours too few on Atari: until
    ``ETA_AFTER_S`` seconds of learning have passed this says "estimating".
    """
    if step >= total:
        return "0:00"
    if learning_since is None or now - learning_since[0] < ETA_AFTER_S or step <= learning_since[1]:
        return "estimating"
    rate = (step - learning_since[1]) / (now - learning_since[0])  # steps/s while learning
    return tqdm.format_interval((total - step) / rate)


def _truncate_after(path: Path, step: int) -> None:
    rows = [r for r in read_metrics(path.parent) if int(r["step"]) <= step]
    write_csv(path, COLUMNS, ([r.get(c, "") for c in COLUMNS] for r in rows))


class RunLogger:
    """Writes the metrics of one run; ``start_step`` > 0 when resuming."""

    def __init__(self, run_dir: Path, total_steps: int, start_step: int = 0,
                 tensorboard: bool = True, progress: bool = True, learn_start: int = 0):
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
            # TensorBoard's writer imports TensorFlow whenever it is installed (the [tf]
            # extra): seconds and TensorFlow's start-up lines in every run. Its marker module
            # "notf" makes it use its own stub, as it does without TensorFlow.
            sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
            from torch.utils.tensorboard import SummaryWriter  # slow import: only when used

            self._tb = SummaryWriter(str(run_dir / "tb"), purge_step=start_step or None)
        # tqdm's own estimate of the time left would include the fast steps before
        # learn_start: the bar shows time_left's instead, as "left" in the postfix
        self._bar = progress_bar(total_steps, unit="step", initial=start_step, enabled=progress,
                                 bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}, {rate_fmt}{postfix}]")
        self._total = total_steps
        self._learn_start = learn_start
        self._learning_since: tuple[float, int] | None = \
            (time.perf_counter(), start_step) if start_step >= learn_start else None
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

    def apex(self, step: int, update: int, wall: float, updates_per_sec: float, replay_fill: float,
             weight_lag: float) -> None:
        """An Ape-X row: learner updates/s, replay fill (fraction of capacity) and weight lag
        (learner updates the actors' weights were behind, mean over the actor batches)."""
        self._row(step=step, update=update, wall_time=f"{wall:.2f}", event="apex",
                  updates_per_sec=f"{updates_per_sec:.1f}", replay_fill=f"{replay_fill:.4f}",
                  weight_lag=f"{weight_lag:.1f}")
        self._scalar("apex/updates_per_sec", updates_per_sec, step)
        self._scalar("apex/replay_fill", replay_fill, step)
        self._scalar("apex/weight_lag", weight_lag, step)

    def progress(self, steps: int, recent_return: float | None) -> None:
        if recent_return is not None:
            self._postfix["ret"] = f"{recent_return:.1f}"
        step, now = self._bar.n + steps, time.perf_counter()
        if self._learning_since is None and step >= self._learn_start:
            self._learning_since = (now, step)
        self._bar.set_postfix({"left": time_left(step, self._total, self._learning_since, now),
                               **self._postfix}, refresh=False)
        self._bar.update(steps)

    def message(self, text: str) -> None:
        self._bar.write(text, file=sys.stderr)

    def close(self) -> None:
        self._bar.close()
        self._fh.close()
        if self._tb is not None:
            self._tb.close()
