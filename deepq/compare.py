"""Compare variants across seeds: one PNG of mean return ± a band against environment
steps, and a table of the steps and wall time each run took to reach a return.

Runs are grouped by name: ``runs/variants/c51-s0``, ``…/c51-s1`` (``NAME-sSEED``) or
``NAME-seedSEED-TIME`` (the CLI's default run names) are seeds of ``NAME``. A run's
curve is its evaluation returns (or, without evaluations, the mean of its last 10
training episodes); with ``source="train"`` (``--curve train``) it is always the
training mean of 10, and the table gives the first step where 10 training episodes
averaged the threshold (the ``stop_on = "train"`` criterion). A run that stopped early
(its stop criterion met) keeps its last value to the end of the longest run of its
group, so the mean is over all seeds at every step.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from deepq import plot  # noqa: E402
from deepq.errors import DeepQError  # noqa: E402
from deepq.log import read_metrics  # noqa: E402

_SEED = re.compile(r"-(s|seed)(\d+)(-\d{8}-\d{6})?$")


def group_runs(runs: list[Path]) -> dict[str, list[Path]]:
    """{variant name: its run directories}, in the order first seen."""
    groups: dict[str, list[Path]] = defaultdict(list)
    for run in runs:
        if not (run / "metrics.csv").exists():
            raise DeepQError(f"{run} has no metrics.csv: is it a deepq run directory?")
        groups[_SEED.sub("", run.name) or run.name].append(run)
    return dict(groups)


def curve(run: Path, source: str = "eval") -> tuple[np.ndarray, np.ndarray]:
    """(steps, returns) of one run: its evaluations (``source = "eval"``, when it has any),
    else its training episodes' mean of 10."""
    rows = read_metrics(run)
    pts = [(int(r["step"]), float(r["eval_return"])) for r in rows if r["event"] == "eval"]
    if pts and source == "eval":
        steps, values = zip(*pts)
        return np.asarray(steps), np.asarray(values)
    pts = [(int(r["step"]), float(r["episode_return"])) for r in rows if r["event"] == "episode"]
    if not pts:
        return np.zeros(0), np.zeros(0)
    steps, values = zip(*pts)
    return np.asarray(steps), plot.rolling_mean(np.asarray(values), 10)


def reached(run: Path, threshold: float,
            source: str = "eval") -> tuple[int | None, float | None, int, float | None]:
    """(first step whose evaluation return, or with ``source = "train"`` whose mean of the
    last 10 training episodes, is ≥ threshold; wall time there in seconds; last step of
    the run; best such value); the first two None when it never did, the last None
    without any."""
    rows = read_metrics(run)
    last = max((int(r["step"]) for r in rows), default=0)
    if source == "train":
        episodes = [r for r in rows if r["event"] == "episode"]
        mean10 = plot.rolling_mean(np.array([float(r["episode_return"]) for r in episodes]), 10)
        points = [(r, float(m)) for r, m in zip(episodes[9:], mean10[9:])]  # full windows only
    else:
        points = [(r, float(r["eval_return"])) for r in rows if r["event"] == "eval"]
    best = max((v for _, v in points), default=None)
    for r, v in points:
        if v >= threshold:
            return int(r["step"]), float(r["wall_time"]), last, best
    return None, None, last, best


def table(groups: dict[str, list[Path]], threshold: float, source: str = "eval") -> str:
    """A Markdown table: variant, steps to reach ``threshold`` and wall time per seed; a
    seed that never reached it shows its last step and its best value."""
    lines = [f"| variant | steps to reach {threshold:g} (per seed) | wall time, s (per seed) | mean steps |",
             "|---|---|---|---|"]
    for name, runs in groups.items():
        results = [reached(r, threshold, source) for r in runs]
        steps = [f"{s:,}" if s is not None else
                 f"not in {last:,}" + (f" (best {best:g})" if best is not None else "")
                 for s, _, last, best in results]
        walls = [f"{w:.0f}" if w is not None else "–" for _, w, _, _ in results]
        got = [s for s, _, _, _ in results if s is not None]
        mean = f"{np.mean(got):,.0f}" if len(got) == len(results) else "–"
        lines.append(f"| {name} | {' / '.join(steps)} | {' / '.join(walls)} | {mean} |")
    return "\n".join(lines)


def plot_compare(groups: dict[str, list[Path]], out: Path, band: str = "std",
                 threshold: float | None = None, source: str = "eval") -> Path:
    """One line per variant: mean over its seeds, shaded ± std (or min–max)."""
    fig, ax = plt.subplots(figsize=(9, 5))
    for i, (name, runs) in enumerate(groups.items()):
        curves = [c for c in (curve(r, source) for r in runs) if len(c[0])]
        if not curves:
            continue
        grid = np.unique(np.concatenate([s for s, _ in curves]))
        # each run's value at every grid step: its latest point so far (carried forward)
        values = np.stack([v[np.clip(np.searchsorted(s, grid, side="right") - 1, 0, None)]
                           for s, v in curves])  # [runs, steps]
        started = np.stack([grid >= s[0] for s, _ in curves]).all(axis=0)
        grid, values = grid[started], values[:, started]
        color = f"C{i}" if len(groups) <= 10 else plt.get_cmap("tab20")(i % 20)
        plot.band(ax, grid, values, f"{name} ({len(curves)} seeds)", band, fill_alpha=0.2, color=color)
    if threshold is not None:
        ax.axhline(threshold, color="grey", linestyle=":", linewidth=1)
    band_text = "± 1 std" if band == "std" else "min–max"
    what = "evaluation return" if source == "eval" else "return of the last 10 training episodes"
    ax.set(title=f"mean {what} over seeds ({band_text} shaded)",
           xlabel=plot.step_label([r for runs in groups.values() for r in runs]), ylabel="return")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, ncol=2)
    return plot.save_figure(fig, out, dpi=80)
