"""PNG figures: episode return and loss of run directories against environment steps,
and the pieces every figure of deepq uses (a mean line with a shaded band over runs or
seeds, and saving a figure)."""

from __future__ import annotations

import json

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from deepq.errors import DeepQError  # noqa: E402
from deepq.log import read_metrics  # noqa: E402


def _series(rows, event: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [(int(r["step"]), float(r[column])) for r in rows if r["event"] == event and r[column] != ""]
    if not pts:
        return np.zeros(0), np.zeros(0)
    steps, values = zip(*pts)
    return np.asarray(steps), np.asarray(values)


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each point (fewer at the start)."""
    csum = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (csum[idx] - csum[lo]) / (idx - lo)


def mean_se(samples) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over axis 0 (runs or seeds); the error is 0 for a single run."""
    samples = np.asarray(samples, dtype=float)
    n = samples.shape[0]
    se = samples.std(0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(samples.shape[1:])
    return samples.mean(0), se


def band_bounds(samples, spread: str = "se") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high) over axis 0: ± one standard error ("se"), ± one standard deviation
    of the samples ("std"), or their minimum and maximum ("minmax")."""
    samples = np.asarray(samples, dtype=float)
    if spread == "se":
        mean, se = mean_se(samples)
        return mean, mean - se, mean + se
    mean = samples.mean(0)
    if spread == "std":
        std = samples.std(0)
        return mean, mean - std, mean + std
    if spread == "minmax":
        return mean, samples.min(0), samples.max(0)
    raise ValueError(f"spread must be se, std or minmax, not {spread!r}")


def band(ax, x, samples, label: str, spread: str = "se", fill_alpha: float = 0.25, **line_kw):
    """A mean line over the rows of ``samples`` [runs, len(x)] with its spread (as in
    ``band_bounds``) shaded in the line's colour; ``line_kw`` go to ``ax.plot``."""
    mean, lo, hi = band_bounds(samples, spread)
    line, = ax.plot(x, mean, label=label, **line_kw)
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=fill_alpha, linewidth=0)
    return line


def step_label(run_dirs: list[Path]) -> str:
    """The x-axis label for runs: Atari runs count agent steps of 4 frames each, and say so."""
    ids = []
    for run in run_dirs:
        try:
            ids.append(str(json.loads((Path(run) / "config.json").read_text()).get("env_id", "")))
        except (OSError, ValueError, AttributeError):
            ids.append("")
    atari = [("NoFrameskip" in i or i.rpartition(":")[2].startswith("ALE/")) for i in ids]
    if ids and all(atari):
        return "agent steps (1 step = 4 frames)"
    return "environment steps" if not any(atari) else "environment steps (Atari: 1 step = 4 frames)"


def plot_runs(run_dirs: list[Path], out: Path, window: int = 10) -> Path:
    """Two panels (the design document's): episode return, and training loss, vs steps."""
    fig, (ax_r, ax_l) = plt.subplots(1, 2, figsize=(13, 4.5))
    for i, run in enumerate(run_dirs):
        run = Path(run)
        if not (run / "metrics.csv").exists():
            raise DeepQError(f"{run} has no metrics.csv: is it a deepq run directory?")
        rows = read_metrics(run)
        color = f"C{i % 10}"
        label = run.name or str(run)
        steps, returns = _series(rows, "episode", "episode_return")
        if len(steps):
            ax_r.plot(steps, returns, ".", color=color, alpha=0.25, markersize=3)
            ax_r.plot(steps, rolling_mean(returns, window), color=color,
                      label=f"{label} (mean of last {window})")
        e_steps, e_returns = _series(rows, "eval", "eval_return")
        if len(e_steps):
            ax_r.plot(e_steps, e_returns, "s--", color=color, markersize=4, label=f"{label} (evaluation)")
        l_steps, losses = _series(rows, "train", "loss")
        if len(l_steps):
            ax_l.plot(l_steps, losses, color=color, label=label)
    xlabel = step_label(run_dirs)
    ax_r.set(title="episode return", xlabel=xlabel, ylabel="return (raw score)")
    ax_l.set(title="training loss (mean per log period)", xlabel=xlabel, ylabel="loss")
    if any(ax_l.get_lines()):
        ax_l.set_yscale("log")
    for ax in (ax_r, ax_l):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return save_figure(fig, out, dpi=100)


def save_figure(fig, out: Path, dpi: int) -> Path:
    """Write ``fig`` to ``out`` through a temporary file, so a reader never sees half a PNG."""
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.png")
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    tmp.replace(out)
    return out
