"""The bookkeeping of one training run, in one place: counters, period crossings, the
logger (metrics.csv, TensorBoard, progress), evaluations and the stop rule, SIGINT and
SIGTERM, and the checkpoint and plot at the end. No learning happens here.

``RunBook`` holds what a checkpoint must carry (``state``/``restore``); ``session``
is one call of ``learn``: it opens the run directory and the logger, installs the
signal handlers and keeps the wall time, and on a normal end saves the run and draws
its plot.
"""

from __future__ import annotations

import _thread
import math
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from deepq import config
from deepq.errors import DeepQError
from deepq.log import RunLogger, write_config

# After a first SIGINT/SIGTERM the loop stops at its next step; one stuck longer than
# this (a hung environment, an endless sampling loop) is interrupted without a save.
STOP_GRACE_S = 60.0


class RunBook:
    """Counters and statistics of a run (all saved in checkpoints)."""

    def __init__(self, cfg: Any, run_dir: Path | None, progress: bool = False, tensorboard: bool = True):
        self.cfg = cfg
        self.run_dir = run_dir
        self.progress = progress
        self.tensorboard = tensorboard
        self.step = 0  # environment steps
        self.update = 0  # gradient updates
        self.evaluations = 0
        self.wall_time = 0.0  # seconds spent in learn(), over all sessions
        self.episode_returns: list[float] = []
        self.last_eval: float | None = None
        self.loss_sum: Any = 0.0  # summed where the learner keeps it, read at log time
        self.q_sum: Any = 0.0
        self.loss_count = 0
        self.inexact_resumes: list[dict[str, Any]] = []  # resumes that lacked a part
        self.interrupted: int | None = None  # the signal that stopped the last session

    def crossed(self, period: int, n: int) -> bool:
        """Did the last step of n environments pass a multiple of ``period``?"""
        return self.step // period > (self.step - n) // period

    def add_loss(self, loss: Any, q_mean: Any) -> None:
        self.update += 1
        self.loss_sum = self.loss_sum + loss
        self.q_sum = self.q_sum + q_mean
        self.loss_count += 1

    def state(self) -> dict[str, Any]:
        return {"counters": {"step": self.step, "update": self.update, "evaluations": self.evaluations,
                             "wall_time": self.wall_time},
                "episode_returns": self.episode_returns, "last_eval": self.last_eval,
                "loss_window": [float(self.loss_sum), float(self.q_sum), self.loss_count],
                "inexact_resumes": self.inexact_resumes}

    def restore(self, state: dict[str, Any]) -> None:
        """Restore what ``state`` wrote; a value out of range is a DeepQError."""
        counters = state["counters"]
        window = state["loss_window"]

        def finite(x):
            return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)

        counts = [counters["step"], counters["update"], counters["evaluations"]]
        if not all(isinstance(v, int) and 0 <= v <= config.INT_MAX for v in counts):
            raise DeepQError(f"checkpoint counters {counts} are not step counts")
        if not (finite(counters["wall_time"]) and counters["wall_time"] >= 0):
            raise DeepQError(f"checkpoint wall_time {counters['wall_time']!r} is not a duration")
        if not all(finite(r) for r in state["episode_returns"]) or not (
                state["last_eval"] is None or finite(state["last_eval"])):
            raise DeepQError("checkpoint episode returns or last evaluation are not finite numbers")
        if not (len(window) == 3 and finite(window[0]) and finite(window[1])
                and isinstance(window[2], int) and window[2] >= 0):
            raise DeepQError(f"checkpoint loss_window {str(window)[:60]} is not [loss sum, Q sum, count]")
        self.step, self.update = counters["step"], counters["update"]
        self.evaluations, self.wall_time = counters["evaluations"], counters["wall_time"]
        self.episode_returns = [float(r) for r in state["episode_returns"]]
        self.last_eval = state["last_eval"]
        self.loss_sum, self.q_sum, self.loss_count = state["loss_window"]
        self.inexact_resumes = list(state.get("inexact_resumes", []))

    def session(self, end: int) -> Session:
        return Session(self, end)


class Session:
    """One call of ``learn``: ``with book.session(end) as s: ...``."""

    def __init__(self, book: RunBook, end: int):
        self.book = book
        self.end = end
        self.solved = False
        self.stopping = False  # a signal asked the loop to stop
        self.logger: RunLogger | None = None
        c = book.cfg
        self.recent = deque(book.episode_returns[-c.stop_window:], maxlen=c.stop_window)
        self.loss_from = book.step  # where the loss sum being collected began
        self._watchdog: threading.Timer | None = None
        self._finished = False

    def __enter__(self) -> Session:
        b = self.book
        b.interrupted = None
        if b.run_dir is not None:
            b.run_dir.mkdir(parents=True, exist_ok=True)
            write_config(b.run_dir, b.cfg)
            self.logger = RunLogger(b.run_dir, self.end, b.step, b.tensorboard, b.progress,
                                    learn_start=b.cfg.learn_start)
            if b.inexact_resumes and b.inexact_resumes[-1]["step"] == b.step:
                self.message(f"resuming inexactly at step {b.step:,} without: "
                             + ", ".join(b.inexact_resumes[-1]["missing"]))
        self._restore_signals = self._install_signal_handlers()
        self.started = self.window_start = time.perf_counter()
        self.window_step = b.step
        return self

    def __exit__(self, kind, error, tb) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._restore_signals()
        if not self._finished:
            self.book.wall_time += time.perf_counter() - self.started
        if kind is not None and self.logger:
            self.logger.close()

    def wall(self, now: float) -> float:
        return self.book.wall_time + (now - self.started)

    def message(self, text: str) -> None:
        if self.logger:
            self.logger.message(text)

    # -- what the loop reports ----------------------------------------------------

    def episodes(self, finished: list[tuple[float, int]]) -> None:
        """Episodes that ended this step, as (raw return, length): log, stop rule."""
        b, c = self.book, self.book.cfg
        if not finished:
            return
        wall = self.wall(time.perf_counter())
        for ret, length in finished:
            b.episode_returns.append(ret)
            self.recent.append(ret)
            if self.logger:
                self.logger.episode(b.step, b.update, wall, ret, length)
            if (c.stop_on == "train" and c.stop_return is not None
                    and len(self.recent) == c.stop_window and np.mean(self.recent) >= c.stop_return):
                self.solved = True

    def losses(self, n: int, epsilon: float) -> None:
        """Every log_every steps: a row of the mean loss and Q since the last one."""
        b = self.book
        if not b.crossed(b.cfg.log_every, n):
            return
        self.check_finite()
        now = time.perf_counter()
        if b.loss_count and self.logger:
            sps = (b.step - self.window_step) / max(now - self.window_start, 1e-9)
            self.logger.train(b.step, b.update, self.wall(now), float(b.loss_sum) / b.loss_count,
                              float(b.q_sum) / b.loss_count, epsilon, sps)
            self.window_start, self.window_step = now, b.step
        b.loss_sum = b.q_sum = 0.0
        b.loss_count = 0
        self.loss_from = b.step

    def evaluated(self, mean_return: float) -> None:
        b, c = self.book, self.book.cfg
        b.last_eval = mean_return
        if self.logger:
            self.logger.eval(b.step, b.update, self.wall(time.perf_counter()), mean_return)
        if c.stop_on == "eval" and c.stop_return is not None and mean_return >= c.stop_return:
            self.solved = True

    def stepped(self, n: int) -> None:
        if self.logger:
            self.logger.progress(n, float(np.mean(self.recent)) if self.recent else None)

    def checkpoint(self, save: Callable[[Path], Any]) -> None:
        """Save into run_dir/checkpoints (after checking that the loss stayed finite)."""
        b = self.book
        if b.run_dir is None:
            return
        self.check_finite()
        now = time.perf_counter()
        b.wall_time, self.started = self.wall(now), now
        save(b.run_dir / "checkpoints")

    def check_finite(self) -> None:
        """Stop the run (before any save) when a loss since ``loss_from`` was not finite."""
        b = self.book
        if b.loss_count and not math.isfinite(float(b.loss_sum)):
            raise DeepQError(f"the loss became non-finite between step {self.loss_from:,} and step "
                             f"{b.step:,} (diverged: try a lower lr or gradient clipping); no "
                             "checkpoint was written after it, the last one is kept")

    def finish(self, save: Callable[[Path], Any]) -> None:
        """The end of a session that was not an error: message, save, plot."""
        b, c = self.book, self.book.cfg
        if self._watchdog is not None:  # the loop has stopped: the save may take its time
            self._watchdog.cancel()
        if self.solved:
            mean = b.last_eval if c.stop_on == "eval" else float(np.mean(self.recent))
            self.message(f"stop criterion met at step {b.step}: mean return {mean:.2f}")
        self.check_finite()
        b.wall_time = self.wall(time.perf_counter())
        self._finished = True
        if b.run_dir is None:
            return
        save(b.run_dir / "checkpoints")
        if self.stopping:
            self.message(f"interrupted at step {b.step}; checkpoint saved. "
                         f"Resume with: deepq train --resume {b.run_dir}")
        self.logger.close()
        self.logger = None
        from deepq import plot  # matplotlib is slow to import: only for runs with a directory

        plot.plot_runs([b.run_dir], b.run_dir / "plot.png")

    # -- signals ------------------------------------------------------------------

    def _install_signal_handlers(self):
        """SIGINT/SIGTERM ask the loop to stop; a second signal, or a loop that does not
        stop within STOP_GRACE_S, aborts at once (the previous checkpoint stays whole)."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handler(signum, frame):
            if self.stopping:
                raise KeyboardInterrupt
            self.stopping = True
            self.book.interrupted = signum
            self._watchdog = threading.Timer(STOP_GRACE_S, _thread.interrupt_main)
            self._watchdog.daemon = True
            self._watchdog.start()

        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        return lambda: [signal.signal(s, h) for s, h in old.items()]
