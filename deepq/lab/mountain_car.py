"""Mountain Car with tile-coded semi-gradient Sarsa: one-step and n-step.

Setups of S&B 2nd ed. Figure 10.1 (the cost-to-go surface −max_a q̂), Figure 10.2 (steps
per episode over 500 episodes for α = 0.1/8, 0.2/8, 0.5/8), Figure 10.3 (one-step
α = 0.5/8 against 8-step α = 0.3/8) and Figure 10.4 (mean steps per episode over the
first 50 episodes against α, for n = 1 … 16). 8 tilings of 8 × 8 tiles over position and
velocity, one weight table per action, w₀ = 0 (optimistic: returns are negative, so
ε = 0 still explores), γ = 1. The book's dynamics (``envs.mountain_car_step``).

All learners of a figure (runs × step sizes) step in lockstep as numpy arrays, so one
environment step costs the same few array operations for 1 or 100 learners.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from deepq import config, log, plot
from deepq.config import param
from deepq.errors import DeepQError
from deepq.lab import envs
from deepq.lab.features import TileCoder

FULL_TIME = "about 3 minutes"  # wall time at the defaults on a 2-core CPU, for --help


@dataclass(frozen=True)
class MountainCarConfig:
    """The settings of ``deepq lab mountain-car``. Step sizes are in units of 1/tilings, as
    the book gives them (α = 0.5/8 is written 0.5)."""

    seed: int = param(0, "seed of the start states and of greedy tie-breaking", min=0)
    runs: int = param(10, "runs per step size (the book averages 100)", min=1)
    episodes: int = param(500, "episodes per run of Figures 10.1-10.3", min=1)
    tilings: int = param(8, "tilings of the tile coder", min=1)
    tiles: int = param(8, "tiles per dimension in each tiling", min=1)
    alphas: tuple[float, ...] = param((0.1, 0.2, 0.5), "one-step Sarsa step sizes of Figure 10.2 "
                                      "(× 1/tilings)", min=0.0)
    best_alpha: float = param(0.5, "the one of alphas whose runs Figure 10.3 sets against n-step "
                              "Sarsa and whose last weights Figure 10.1 draws (× 1/tilings)", min=0.0)
    nstep_n: int = param(8, "n of Figure 10.3's n-step Sarsa, set against one-step (steps)", min=2)
    nstep_alpha: float = param(0.3, "step size of Figure 10.3's n-step Sarsa (× 1/tilings)", min=0.0)
    sweep: bool = param(True, "run Figure 10.4's sweep of n × step size (the larger part of the time)")
    sweep_ns: tuple[int, ...] = param((1, 2, 4, 8, 16), "n of each curve of Figure 10.4 (steps)", min=1)
    sweep_alphas: tuple[float, ...] = param((0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6),
                                            "step sizes of Figure 10.4's x axis (× 1/tilings)", min=0.0)
    sweep_episodes: int = param(50, "episodes per run of Figure 10.4, averaged", min=1)
    max_steps: int = param(20_000, "an episode this long marks its learner as failed: too large "
                           "a step size (steps)", min=1)

    def __post_init__(self):
        if self.best_alpha not in self.alphas:
            raise DeepQError(f"config key 'best_alpha' must be one of alphas "
                             f"({', '.join(map(str, self.alphas))}); got {self.best_alpha}")


def coder(cfg: MountainCarConfig) -> TileCoder:
    return TileCoder((envs.MC_X_RANGE[0], envs.MC_V_RANGE[0]),
                     (envs.MC_X_RANGE[1], envs.MC_V_RANGE[1]), cfg.tiles, cfg.tilings)


def sarsa(alphas: np.ndarray, n: int, episodes: int, rng: np.random.Generator, tc: TileCoder,
          max_steps: int, bar=None):
    """n-step semi-gradient Sarsa (S&B p. 247) for len(alphas) independent learners.

    Returns (steps per episode [B, episodes], final weights [B, 3, features]). A learner
    whose weights overflow or whose episode reaches ``max_steps`` stops; its remaining
    episodes are NaN (Figure 10.4's curves stop where the step size is too large).
    Rewards are all −1 and γ = 1, so the n-step return of a pair k steps before the end
    is −k, and otherwise −n + q̂(S_{t+n}, A_{t+n})."""
    B = len(alphas)
    alpha = np.asarray(alphas, dtype=float)
    W = np.zeros((B, 3, tc.n_features))
    rows = np.arange(B)

    def q_all(idx):  # [B, T] active tiles → q̂(s, ·) [B, 3]
        return W[rows[:, None], :, idx].sum(1)

    def act(idx):  # greedy, ties broken at random (all of q̂ is 0 at the start)
        q = q_all(idx)
        return np.argmax(q + 1e-9 * rng.random(q.shape), axis=1)

    def update(mask, idx, a, G):  # semi-gradient step of the learners in mask
        b = rows[mask]
        q = W[b[:, None], a[mask][:, None], idx[mask]].sum(1)
        W[b[:, None], a[mask][:, None], idx[mask]] += (alpha[mask] * (G[mask] - q))[:, None]
        failed[b[~np.isfinite(q)]] = True

    x, v = envs.mountain_car_reset(rng, B)
    idx = tc.active(np.stack([x, v], 1))
    a = act(idx)
    buf_idx = np.zeros((B, n, tc.n_tilings), dtype=np.int64)  # the last n (tiles, action) pairs
    buf_a = np.zeros((B, n), dtype=np.int64)
    head = np.zeros(B, dtype=np.int64)  # ring position of the oldest pending pair
    pending = np.zeros(B, dtype=np.int64)
    steps = np.full((B, episodes), np.nan)
    failed = np.zeros(B, dtype=bool)
    episode = np.zeros(B, dtype=np.int64)
    t_ep = np.zeros(B, dtype=np.int64)
    while ((episode < episodes) & ~failed).any():
        slot = (head + pending) % n
        buf_idx[rows, slot], buf_a[rows, slot] = idx, a
        pending += 1
        t_ep += 1
        x, v, done = envs.mountain_car_step(x, v, a)
        failed |= t_ep >= max_steps
        done = done | failed
        idx = tc.active(np.stack([x, v], 1))
        a = act(idx)
        full = ~done & (pending == n)
        if full.any():  # the oldest pair's n-step return is complete
            G = -n + q_all(idx)[rows, a]
            update(full, buf_idx[rows, head], buf_a[rows, head], G)
            head = np.where(full, (head + 1) % n, head)
            pending = np.where(full, pending - 1, pending)
        if done.any():  # flush every pending pair of the finished episodes, oldest first
            for _ in range(n):
                m = done & (pending > 0)
                if not m.any():
                    break
                update(m, buf_idx[rows, head], buf_a[rows, head], -pending.astype(float))
                head = np.where(m, (head + 1) % n, head)
                pending = np.where(m, pending - 1, pending)
            live = done & (episode < episodes) & ~failed
            steps[rows[live], episode[live]] = t_ep[live]
            episode += done
            if bar is not None:
                bar.update(int(live.sum()))
            x0, v0 = envs.mountain_car_reset(rng, B)
            x, v = np.where(done, x0, x), np.where(done, v0, v)
            idx = np.where(done[:, None], tc.active(np.stack([x, v], 1)), idx)
            a = np.where(done, act(idx), a)
            t_ep = np.where(done, 0, t_ep)
            head = np.where(done, 0, head)
    return steps, W


def run(cfg: MountainCarConfig | None = None, *, out: Path | None = None, show_progress: bool = True,
        **changes) -> dict:
    """All four figures; ``changes`` are field values applied on top of ``cfg`` (default
    ``MountainCarConfig()``). Returns {"alpha": {α·tilings: steps [runs, episodes]}, "nstep":
    {n: steps}, "sweep": {n: mean steps over the first sweep_episodes [runs,
    len(sweep_alphas)]}, "cost_to_go"}."""
    cfg = config.override(cfg or MountainCarConfig(), changes)
    runs, episodes, tc = cfg.runs, cfg.episodes, coder(cfg)
    rng = np.random.default_rng(cfg.seed)
    total = runs * episodes * (len(cfg.alphas) + 1) + (
        runs * cfg.sweep_episodes * len(cfg.sweep_alphas) * len(cfg.sweep_ns) if cfg.sweep else 0)
    bar = log.progress_bar(total, "mountain-car (episodes)", enabled=show_progress, leave=False)
    alphas = np.repeat(np.array(cfg.alphas) / cfg.tilings, runs)
    steps, W = sarsa(alphas, 1, episodes, rng, tc, cfg.max_steps, bar)
    result = {"alpha": {a: steps[i * runs:(i + 1) * runs] for i, a in enumerate(cfg.alphas)}}
    steps_n, _ = sarsa(np.full(runs, cfg.nstep_alpha / cfg.tilings), cfg.nstep_n, episodes, rng, tc,
                       cfg.max_steps, bar)
    result["nstep"] = {1: result["alpha"][cfg.best_alpha], cfg.nstep_n: steps_n}
    xs = np.linspace(*envs.MC_X_RANGE, 60)
    vs = np.linspace(*envs.MC_V_RANGE, 60)
    grid = np.stack(np.meshgrid(xs, vs, indexing="ij"), -1)  # [60, 60, 2]
    w_best = W[cfg.alphas.index(cfg.best_alpha) * runs]
    result["cost_to_go"] = (xs, vs, -w_best[:, tc.active(grid)].sum(-1).max(0))  # [60, 60]
    if cfg.sweep:
        result["sweep"] = {}
        for n in cfg.sweep_ns:
            with np.errstate(all="ignore"):  # large α·n overflows; sarsa flags those learners
                s, _ = sarsa(np.repeat(np.array(cfg.sweep_alphas) / cfg.tilings, runs), n, cfg.sweep_episodes,
                             rng, tc, cfg.max_steps, bar)
            result["sweep"][n] = s.mean(1).reshape(len(cfg.sweep_alphas), runs).T
    bar.close()
    if out is not None:
        _write(result, cfg, out)
    return result


def _write(result: dict, cfg: MountainCarConfig, out: Path) -> None:
    episodes, tilings = cfg.episodes, cfg.tilings
    n_alpha = {1: cfg.best_alpha, cfg.nstep_n: cfg.nstep_alpha}  # Figure 10.3's step size of each n
    rows = []
    for group in ("alpha", "nstep"):
        for key, s in result[group].items():
            mean, se = plot.mean_se(s)
            label = (f"n=1 alpha={key}/{tilings}" if group == "alpha"
                     else f"n={key} alpha={n_alpha[key]}/{tilings}")
            rows += [(label, e + 1, mean[e], se[e]) for e in range(episodes)]
    for n, s in result.get("sweep", {}).items():
        mean, se = plot.mean_se(s)
        rows += [(f"n={n} first {cfg.sweep_episodes} episodes", f"alpha={a}/{tilings}", mean[j], se[j])
                 for j, a in enumerate(cfg.sweep_alphas)]
    log.write_csv(out / "mountain-car.csv", ["series", "episode_or_alpha", "mean_steps", "se"], rows)

    fig = plt.figure(figsize=(18, 4.8))
    ax3d = fig.add_subplot(1, 4, 1, projection="3d")
    xs, vs, ctg = result["cost_to_go"]
    ax3d.plot_surface(*np.meshgrid(xs, vs, indexing="ij"), ctg, cmap="viridis", linewidth=0)
    ax3d.set(title=f"cost-to-go after {episodes} episodes (Fig. 10.1)", xlabel="position",
             ylabel="velocity", zlabel="−max q̂")
    ep = np.arange(1, episodes + 1)
    axes = [fig.add_subplot(1, 4, i) for i in (2, 3, 4)]
    for a, s in result["alpha"].items():
        plot.band(axes[0], ep, s, f"α = {a}/{tilings}")
    for n, s in result["nstep"].items():
        plot.band(axes[1], ep, s, f"n = {n}, α = {n_alpha[n]}/{tilings}")
    for ax, title in zip(axes[:2], ("one-step Sarsa (Fig. 10.2)",
                                          f"one-step vs {cfg.nstep_n}-step (Fig. 10.3)")):
        ax.set(title=title, xlabel="episode", ylabel="steps per episode (log)", yscale="log")
    for n, s in result.get("sweep", {}).items():
        plot.band(axes[2], np.array(cfg.sweep_alphas), s, f"n = {n}", marker=".")
    axes[2].set(title=f"first {cfg.sweep_episodes} episodes (Fig. 10.4)", xlabel="α × number of tilings",
                ylabel="mean steps per episode", ylim=(180, 320))
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    plot.save_figure(fig, out / "mountain-car.png", dpi=80)
