"""What every lab experiment shares: its run directory, CSV, figure and progress bar."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402


def run_dir(name: str, given: str | Path | None) -> Path:
    """``given``, or runs/lab-NAME-<time>; created either way."""
    path = Path(given) if given else Path("runs") / f"lab-{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def progress(total: int, desc: str, enabled: bool):
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True)


def mean_se(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over axis 0 (runs); the error is 0 for a single run."""
    samples = np.asarray(samples, dtype=float)
    n = samples.shape[0]
    se = samples.std(0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(samples.shape[1:])
    return samples.mean(0), se


def band(ax, x, samples, label: str, **kw) -> None:
    """A mean line with a shaded ± one standard error band over runs."""
    mean, se = mean_se(samples)
    line, = ax.plot(x, mean, label=label, **kw)
    ax.fill_between(x, mean - se, mean + se, color=line.get_color(), alpha=0.25, linewidth=0)


def write_csv(path: Path, header: list[str], rows) -> Path:
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(header)
        out.writerows(rows)
    return path


def save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
