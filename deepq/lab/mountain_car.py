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

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from deepq.lab import common, envs
from deepq.lab.features import TileCoder

TILINGS, TILES = 8, 8  # tilings, and tiles per dimension in each
EPISODES = 500  # episodes per run (Figures 10.2, 10.3)
ALPHAS = (0.1, 0.2, 0.5)  # Figure 10.2's step sizes, in units of 1/TILINGS
NSTEP = ((1, 0.5), (8, 0.3))  # Figure 10.3's (n, α·TILINGS) pairs
SWEEP_NS = (1, 2, 4, 8, 16)  # Figure 10.4's n values ...
SWEEP_ALPHAS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6)  # ... step sizes (×1/TILINGS) ...
SWEEP_EPISODES = 50  # ... and episodes averaged
FULL_RUNS = 10  # runs per setting; the book averages 100
FULL_TIME = "about 3 minutes"
MAX_STEPS = 20_000  # an episode this long marks the learner as failed (too large a step size)


def coder() -> TileCoder:
    return TileCoder((envs.MC_X_RANGE[0], envs.MC_V_RANGE[0]),
                     (envs.MC_X_RANGE[1], envs.MC_V_RANGE[1]), TILES, TILINGS)


def sarsa(alphas: np.ndarray, n: int, episodes: int, rng: np.random.Generator, bar=None):
    """n-step semi-gradient Sarsa (S&B p. 247) for len(alphas) independent learners.

    Returns (steps per episode [B, episodes], final weights [B, 3, features]). A learner
    whose weights overflow or whose episode reaches MAX_STEPS stops; its remaining
    episodes are NaN (Figure 10.4's curves stop where the step size is too large).
    Rewards are all −1 and γ = 1, so the n-step return of a pair k steps before the end
    is −k, and otherwise −n + q̂(S_{t+n}, A_{t+n})."""
    tc = coder()
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
    buf_idx = np.zeros((B, n, TILINGS), dtype=np.int64)  # the last n (tiles, action) pairs
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
        failed |= t_ep >= MAX_STEPS
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


def run(runs: int = FULL_RUNS, seed: int = 0, episodes: int = EPISODES, sweep: bool = True,
        out: Path | None = None, show_progress: bool = True) -> dict:
    """Returns {"alpha": {α·8: steps [runs, episodes]}, "nstep": {n: steps}, "sweep":
    {n: mean steps over the first 50 episodes [runs, len(SWEEP_ALPHAS)]}, "cost_to_go"}."""
    rng = np.random.default_rng(seed)
    total = runs * episodes * (len(ALPHAS) + 1) + (runs * SWEEP_EPISODES * len(SWEEP_ALPHAS) * len(SWEEP_NS)
                                                   if sweep else 0)
    bar = common.progress(total, "mountain-car (episodes)", show_progress)
    alphas = np.repeat(np.array(ALPHAS) / TILINGS, runs)
    steps, W = sarsa(alphas, 1, episodes, rng, bar)
    result = {"alpha": {a: steps[i * runs:(i + 1) * runs] for i, a in enumerate(ALPHAS)}}
    n8, a8 = NSTEP[1]
    steps8, _ = sarsa(np.full(runs, a8 / TILINGS), n8, episodes, rng, bar)
    result["nstep"] = {NSTEP[0][0]: result["alpha"][NSTEP[0][1]], n8: steps8}
    tc = coder()
    xs = np.linspace(*envs.MC_X_RANGE, 60)
    vs = np.linspace(*envs.MC_V_RANGE, 60)
    grid = np.stack(np.meshgrid(xs, vs, indexing="ij"), -1)  # [60, 60, 2]
    w_best = W[ALPHAS.index(0.5) * runs]
    result["cost_to_go"] = (xs, vs, -w_best[:, tc.active(grid)].sum(-1).max(0))  # [60, 60]
    if sweep:
        result["sweep"] = {}
        for n in SWEEP_NS:
            with np.errstate(all="ignore"):  # large α·n overflows; sarsa flags those learners
                s, _ = sarsa(np.repeat(np.array(SWEEP_ALPHAS) / TILINGS, runs), n, SWEEP_EPISODES, rng, bar)
            result["sweep"][n] = s.mean(1).reshape(len(SWEEP_ALPHAS), runs).T
    bar.close()
    if out is not None:
        _write(result, out, episodes)
    return result


def _write(result: dict, out: Path, episodes: int) -> None:
    rows = []
    for group in ("alpha", "nstep"):
        for k, s in result[group].items():
            mean, se = common.mean_se(s)
            label = f"n=1 alpha={k}/8" if group == "alpha" else f"n={k} alpha={dict(NSTEP)[k]}/8"
            rows += [(label, e + 1, mean[e], se[e]) for e in range(episodes)]
    for n, s in result.get("sweep", {}).items():
        mean, se = common.mean_se(s)
        rows += [(f"n={n} first {SWEEP_EPISODES} episodes", f"alpha={a}/8", mean[j], se[j])
                 for j, a in enumerate(SWEEP_ALPHAS)]
    common.write_csv(out / "mountain-car.csv", ["series", "episode_or_alpha", "mean_steps", "se"], rows)

    fig = plt.figure(figsize=(18, 4.8))
    ax3d = fig.add_subplot(1, 4, 1, projection="3d")
    xs, vs, ctg = result["cost_to_go"]
    ax3d.plot_surface(*np.meshgrid(xs, vs, indexing="ij"), ctg, cmap="viridis", linewidth=0)
    ax3d.set(title=f"cost-to-go after {episodes} episodes (Fig. 10.1)", xlabel="position",
             ylabel="velocity", zlabel="−max q̂")
    ep = np.arange(1, episodes + 1)
    axes = [fig.add_subplot(1, 4, i) for i in (2, 3, 4)]
    for a, s in result["alpha"].items():
        common.band(axes[0], ep, s, f"α = {a}/8")
    for n, s in result["nstep"].items():
        common.band(axes[1], ep, s, f"n = {n}, α = {dict(NSTEP)[n]}/8")
    for ax, title in zip(axes[:2], ("one-step Sarsa (Fig. 10.2)", "one-step vs 8-step (Fig. 10.3)")):
        ax.set(title=title, xlabel="episode", ylabel="steps per episode (log)", yscale="log")
    for n, s in result.get("sweep", {}).items():
        common.band(axes[2], np.array(SWEEP_ALPHAS), s, f"n = {n}", marker=".")
    axes[2].set(title=f"first {SWEEP_EPISODES} episodes (Fig. 10.4)", xlabel="α × number of tilings",
                ylabel="mean steps per episode", ylim=(180, 320))
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    common.save(fig, out / "mountain-car.png")
