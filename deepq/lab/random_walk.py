"""The 1000-state random walk: oracle regression, gradient MC and semi-gradient TD.

Left panel: the S&B 2nd ed. Figure 9.1 and 9.2 (left) setups: 10 groups of 100
states; v_π (from DP) against oracle regression (SGD toward v_π(s), s ~ μ), gradient
Monte Carlo and semi-gradient TD(0). Right panel: Figure 9.2 (right): n-step
semi-gradient TD with 20 groups, RMS error over the states averaged over the first 10
episodes, against the step size, for n = 1, 2, 4, …, 512. The dashed lines are the
exact asymptotes: the μ-weighted least-squares solution (where oracle regression and
MC go) and the TD fixed point.

Deviation: TD(0) in the left panel runs 10,000 episodes with α = 2·10⁻³ rather than
MC's 100,000 with α = 2·10⁻⁵: its step-by-step loop is far slower than MC's closed form
per episode. The same α × episodes brings the expected update as close to its fixed
point (both end within 0.01 of their limits); the price is more noise, visible as a
wider band.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from deepq import config, log, plot
from deepq.config import param
from deepq.errors import DeepQError
from deepq.lab import envs, rules
from deepq.lab.features import StateAggregation

FULL_TIME = "about 2 minutes"  # wall time at the defaults on a 2-core CPU, for --help


@dataclass(frozen=True)
class RandomWalkConfig:
    """The settings of ``deepq lab random-walk``; the defaults are the book's (but for TD(0),
    see the deviation above)."""

    seed: int = param(0, "seed of the sampled episodes and of oracle regression's states", min=0)
    runs: int = param(10, "runs of the left panel", min=1)
    groups: int = param(10, "state-aggregation groups of the left panel (must divide the 1000 states)",
                        min=1)
    mc_alpha: float = param(2e-5, "step size of gradient MC and oracle regression (Figure 9.1; "
                            "per update)", min=0.0)
    mc_episodes: int = param(100_000, "episodes of gradient MC per run; oracle regression makes as "
                             "many updates as MC visits states", min=1)
    td_alpha: float = param(2e-3, "step size of semi-gradient TD(0) in the left panel (per update)",
                            min=0.0)
    td_episodes: int = param(10_000, "episodes of semi-gradient TD(0) per run", min=1)
    nstep_groups: int = param(20, "state-aggregation groups of the right panel (Figure 9.2 right; "
                              "must divide the 1000 states)", min=1)
    nstep_episodes: int = param(10, "episodes per run of the right panel; its RMS error is the "
                                "mean over them", min=1)
    nstep_runs: int | None = param(None, "runs of the right panel; none = 10 × runs (they are cheap)",
                                   min=1)
    nstep_ns: tuple[int, ...] = param((1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
                                      "n of each n-step TD curve of the right panel (steps)", min=1)
    nstep_alphas: tuple[float, ...] = param((0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
                                            "step sizes of the right panel's x axis (per update)",
                                            min=0.0)

    def __post_init__(self):
        for key in ("groups", "nstep_groups"):
            if envs.RW_STATES % getattr(self, key):
                raise DeepQError(f"config key '{key}' must divide the {envs.RW_STATES} states; "
                                 f"got {getattr(self, key)}")
        if not (self.nstep_ns and self.nstep_alphas):
            raise DeepQError("config keys 'nstep_ns' and 'nstep_alphas' need at least one value each")


def n_step_td(episodes: list[list[tuple[np.ndarray, float]]], n: int, alphas: np.ndarray, agg: StateAggregation,
              on_episode_end=None) -> np.ndarray:
    """n-step semi-gradient TD with state aggregation, for every run × step size at once.

    ``episodes[r]`` is run r's list of (states, terminal reward). Returns weights
    [R, len(alphas), groups]. With γ = 1 and a reward only at termination the n-step
    target of S_t is v̂(S_{t+n}) or, within n steps of the end, the terminal reward; the
    update of S_t happens after those of S_0..S_{t−1}, so processing t in order is the
    algorithm exactly. ``on_episode_end(rows, W)`` is called when runs ``rows`` finish one.
    """
    R, A = len(episodes), len(alphas)
    streams = []
    for eps in episodes:  # flatten each run's episodes into (group, bootstrap index, G, end)
        grp, boot, ret, end, k0 = [], [], [], [], 0
        for states, G in eps:
            T = len(states)
            idx = np.arange(T)
            grp.append(agg.group(states))
            boot.append(np.where(idx + n < T, k0 + idx + n, -1))
            ret.append(np.full(T, G))
            end.append(idx == T - 1)
            k0 += T
        streams.append([np.concatenate(a) for a in (grp, boot, ret, end)])
    K = max(len(s[0]) for s in streams)
    pad = [np.stack([np.pad(s[i], (0, K - len(s[i])), constant_values=c) for s in streams])
           for i, c in enumerate((0, -1, 0.0, False))]
    grp, boot, ret, end = (np.repeat(a, A, axis=0) for a in pad)  # [B, K], B = R·A, run-major
    live = np.repeat(np.arange(K)[None] < np.array([len(s[0]) for s in streams])[:, None], A, axis=0)
    alpha = np.tile(alphas, R)
    W = np.zeros((R * A, agg.n_features))
    rows = np.arange(R * A)
    for k in range(K):
        g = grp[:, k]
        bootstrap = W[rows, grp[rows, np.maximum(boot[:, k], 0)]]
        target = np.where(boot[:, k] >= 0, bootstrap, ret[:, k])
        # rules.semi_gradient_update with one-hot x, for B independent learners at once
        W[rows, g] += alpha * live[:, k] * (target - W[rows, g])
        if on_episode_end is not None and end[:, k].any():
            on_episode_end(np.flatnonzero(end[:, k]), W)
    return W.reshape(R, A, -1)


def gradient_mc(rng: np.random.Generator, agg: StateAggregation, n_episodes: int, alpha: float) -> np.ndarray:
    w = np.zeros(agg.n_features)
    for _ in range(n_episodes):
        states, G = envs.random_walk_episode(rng)
        counts = np.bincount(agg.group(states), minlength=agg.n_features)
        w = rules.repeated_update_same_target(w, counts, G, alpha)
    return w


def oracle_regression(rng: np.random.Generator, agg: StateAggregation, n_updates: int, alpha: float,
                      batch: int = 1000) -> np.ndarray:
    """SGD toward the true v_π(s) with s ~ μ, in minibatches whose gradients are summed
    (the same α per sample as the sequential rule; α·batch/groups ≪ 1 keeps it close)."""
    v, mu = envs.random_walk_true_values(), envs.random_walk_distribution()
    w = np.zeros(agg.n_features)
    for _ in range(n_updates // batch):
        s = rng.choice(envs.RW_STATES, batch, p=mu)
        x = agg(s)
        w = rules.semi_gradient_update(w, x, v[s], x @ w, alpha)
    return w


def asymptotes(agg: StateAggregation) -> dict[str, np.ndarray]:
    """The μ-weighted least-squares weights (MC's and the oracle's limit) and the TD
    fixed point w_TD = A⁻¹b, A = Xᵀ D (I − P) X, b = Xᵀ D r (S&B eq. 9.12)."""
    P, r = envs.random_walk_model()
    v, mu = envs.random_walk_true_values(), envs.random_walk_distribution()
    X = agg(np.arange(envs.RW_STATES))
    XD = X.T * mu
    return {"least squares": np.linalg.solve(XD @ X, XD @ v),
            "TD fixed point": np.linalg.solve(XD @ (X - P @ X), XD @ r)}


def run(cfg: RandomWalkConfig | None = None, *, out: Path | None = None, show_progress: bool = True,
        **changes) -> dict:
    """Both panels; ``changes`` are field values applied on top of ``cfg`` (default
    ``RandomWalkConfig()``). Returns {"weights": {method: [runs, groups]}, "ve": {method:
    [runs]}, "asymptote_ve": {...}, "nstep_rms": [len(nstep_ns), nstep runs, len(nstep_alphas)]}."""
    cfg = config.override(cfg or RandomWalkConfig(), changes)
    runs = cfg.runs
    rng = np.random.default_rng(cfg.seed)
    agg = StateAggregation(envs.RW_STATES, cfg.groups)
    v, mu = envs.random_walk_true_values(), envs.random_walk_distribution()
    X = agg(np.arange(envs.RW_STATES))
    nstep_runs = cfg.nstep_runs or 10 * runs
    nstep_alphas = np.array(cfg.nstep_alphas)
    bar = log.progress_bar(3 * runs + len(cfg.nstep_ns), "random-walk", enabled=show_progress, leave=False)
    W = {"oracle regression": [], "gradient MC": []}
    mean_len = 0.0
    for _ in range(runs):
        W["gradient MC"].append(gradient_mc(rng, agg, cfg.mc_episodes, cfg.mc_alpha))
        bar.update()
        if not mean_len:  # the oracle makes as many updates as MC visits states
            mean_len = np.mean([len(envs.random_walk_episode(rng)[0]) for _ in range(1000)])
        W["oracle regression"].append(oracle_regression(rng, agg, int(cfg.mc_episodes * mean_len), cfg.mc_alpha))
        bar.update()
    td_eps = [[envs.random_walk_episode(rng) for _ in range(cfg.td_episodes)] for _ in range(runs)]
    W["semi-gradient TD(0)"] = n_step_td(td_eps, 1, np.array([cfg.td_alpha]), agg)[:, 0]
    bar.update(runs)
    W = {k: np.asarray(w) for k, w in W.items()}
    ve = {k: np.array([rules.value_error(wi, X, v, mu) for wi in w]) for k, w in W.items()}
    asym = asymptotes(agg)
    asym_ve = {k: rules.value_error(w, X, v, mu) for k, w in asym.items()}

    agg_n = StateAggregation(envs.RW_STATES, cfg.nstep_groups)
    X_n = agg_n(np.arange(envs.RW_STATES))
    eps = [[envs.random_walk_episode(rng) for _ in range(cfg.nstep_episodes)] for _ in range(nstep_runs)]
    rms = np.zeros((len(cfg.nstep_ns), nstep_runs * len(nstep_alphas)))

    def record(rows, Wb, i):
        rms[i, rows] += np.sqrt(((Wb[rows] @ X_n.T - v) ** 2).mean(1)) / cfg.nstep_episodes

    for i, n in enumerate(cfg.nstep_ns):
        n_step_td(eps, n, nstep_alphas, agg_n, on_episode_end=lambda rows, Wb, i=i: record(rows, Wb, i))
        bar.update()
    bar.close()
    result = {"weights": W, "ve": ve, "asymptotes": asym, "asymptote_ve": asym_ve,
              "nstep_rms": rms.reshape(len(cfg.nstep_ns), nstep_runs, len(nstep_alphas))}
    if out is not None:
        _write(result, cfg, agg, out)
    return result


def _write(result: dict, cfg: RandomWalkConfig, agg: StateAggregation, out: Path) -> None:
    v, mu = envs.random_walk_true_values(), envs.random_walk_distribution()
    states = np.arange(envs.RW_STATES)
    rows = [("true v_pi", s, v[s], 0.0) for s in states[::10]]
    for k, w in result["weights"].items():
        vals = w @ agg(states).T
        mean, se = plot.mean_se(vals)
        rows += [(k, s, mean[s], se[s]) for s in states[::10]]
        rows.append((k, "VE", *plot.mean_se(result["ve"][k])))
    rows += [(f"{k} (exact)", "VE", ve, 0.0) for k, ve in result["asymptote_ve"].items()]
    for i, n in enumerate(cfg.nstep_ns):
        mean, se = plot.mean_se(result["nstep_rms"][i])
        rows += [(f"{n}-step TD, {cfg.nstep_groups} groups", f"rms@alpha={a}", mean[j], se[j])
                 for j, a in enumerate(cfg.nstep_alphas)]
    log.write_csv(out / "random-walk.csv", ["series", "state_or_metric", "mean", "se"], rows)

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(14, 5))
    ax.plot(states, v, "k", lw=2, label="true $v_\\pi$ (DP)")
    for k, w in result["weights"].items():
        ve_mean = result["ve"][k].mean()
        plot.band(ax, states, w @ agg(states).T, f"{k} (VE {ve_mean:.4f})", lw=1.2)
    for (k, w), ls in zip(result["asymptotes"].items(), ("--", ":")):
        ax.plot(states, w @ agg(states).T, "k", ls=ls, lw=0.8, label=f"{k} (VE {result['asymptote_ve'][k]:.4f})")
    ax.set(title=f"{cfg.groups}-group state aggregation (Figs. 9.1, 9.2 left)", xlabel="state", ylabel="value")
    twin = ax.twinx()
    twin.fill_between(states, mu, color="grey", alpha=0.15, step="mid")
    twin.set_ylabel("on-policy distribution μ", color="grey")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    for i, n in enumerate(cfg.nstep_ns):
        plot.band(ax2, np.array(cfg.nstep_alphas), result["nstep_rms"][i], f"n = {n}", lw=1.2)
    ax2.set(title=f"n-step TD, {cfg.nstep_groups} groups, first {cfg.nstep_episodes} episodes "
            "(Fig. 9.2 right)", xlabel="α",
            ylabel="RMS error over states, averaged over episodes", ylim=(0.25, 0.55))
    ax2.legend(fontsize=8, ncol=2)
    ax2.grid(alpha=0.3)
    plot.save_figure(fig, out / "random-walk.png", dpi=80)
