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

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from deepq.lab import common, envs, rules
from deepq.lab.features import StateAggregation

GROUPS = 10  # state-aggregation groups of the left panel (100 states each)
MC_ALPHA, MC_EPISODES = 2e-5, 100_000  # gradient MC and oracle regression (Figure 9.1)
TD_ALPHA, TD_EPISODES = 2e-3, 10_000  # semi-gradient TD(0) (see the deviation above)
NSTEP_GROUPS, NSTEP_EPISODES = 20, 10  # Figure 9.2 right
NSTEP_NS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
NSTEP_ALPHAS = np.array([0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
FULL_RUNS = 10  # runs of the left panel; the right panel uses 10× as many (cheap)
FULL_TIME = "about 2 minutes"


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


def run(runs: int = FULL_RUNS, seed: int = 0, mc_episodes: int = MC_EPISODES, td_episodes: int = TD_EPISODES,
        nstep_runs: int | None = None, out: Path | None = None, show_progress: bool = True) -> dict:
    """Both panels. Returns {"weights": {method: [runs, groups]}, "ve": {method: [runs]},
    "asymptote_ve": {...}, "nstep_rms": [len(NSTEP_NS), runs, len(NSTEP_ALPHAS)]}."""
    rng = np.random.default_rng(seed)
    agg = StateAggregation(envs.RW_STATES, GROUPS)
    v, mu = envs.random_walk_true_values(), envs.random_walk_distribution()
    X = agg(np.arange(envs.RW_STATES))
    nstep_runs = nstep_runs or 10 * runs
    bar = common.progress(3 * runs + len(NSTEP_NS), "random-walk", show_progress)
    W = {"oracle regression": [], "gradient MC": []}
    mean_len = 0.0
    for _ in range(runs):
        W["gradient MC"].append(gradient_mc(rng, agg, mc_episodes, MC_ALPHA))
        bar.update()
        if not mean_len:  # the oracle makes as many updates as MC visits states
            mean_len = np.mean([len(envs.random_walk_episode(rng)[0]) for _ in range(1000)])
        W["oracle regression"].append(oracle_regression(rng, agg, int(mc_episodes * mean_len), MC_ALPHA))
        bar.update()
    td_eps = [[envs.random_walk_episode(rng) for _ in range(td_episodes)] for _ in range(runs)]
    W["semi-gradient TD(0)"] = n_step_td(td_eps, 1, np.array([TD_ALPHA]), agg)[:, 0]
    bar.update(runs)
    W = {k: np.asarray(w) for k, w in W.items()}
    ve = {k: np.array([rules.value_error(wi, X, v, mu) for wi in w]) for k, w in W.items()}
    asym = asymptotes(agg)
    asym_ve = {k: rules.value_error(w, X, v, mu) for k, w in asym.items()}

    agg20 = StateAggregation(envs.RW_STATES, NSTEP_GROUPS)
    X20 = agg20(np.arange(envs.RW_STATES))
    eps = [[envs.random_walk_episode(rng) for _ in range(NSTEP_EPISODES)] for _ in range(nstep_runs)]
    rms = np.zeros((len(NSTEP_NS), nstep_runs * len(NSTEP_ALPHAS)))

    def record(rows, Wb, i):
        rms[i, rows] += np.sqrt(((Wb[rows] @ X20.T - v) ** 2).mean(1)) / NSTEP_EPISODES

    for i, n in enumerate(NSTEP_NS):
        n_step_td(eps, n, NSTEP_ALPHAS, agg20, on_episode_end=lambda rows, Wb, i=i: record(rows, Wb, i))
        bar.update()
    bar.close()
    result = {"weights": W, "ve": ve, "asymptotes": asym, "asymptote_ve": asym_ve,
              "nstep_rms": rms.reshape(len(NSTEP_NS), nstep_runs, len(NSTEP_ALPHAS))}
    if out is not None:
        _write(result, agg, out)
    return result


def _write(result: dict, agg: StateAggregation, out: Path) -> None:
    v, mu = envs.random_walk_true_values(), envs.random_walk_distribution()
    states = np.arange(envs.RW_STATES)
    rows = [("true v_pi", s, v[s], 0.0) for s in states[::10]]
    for k, w in result["weights"].items():
        vals = w @ agg(states).T
        mean, se = common.mean_se(vals)
        rows += [(k, s, mean[s], se[s]) for s in states[::10]]
        rows.append((k, "VE", *common.mean_se(result["ve"][k])))
    rows += [(f"{k} (exact)", "VE", ve, 0.0) for k, ve in result["asymptote_ve"].items()]
    for i, n in enumerate(NSTEP_NS):
        mean, se = common.mean_se(result["nstep_rms"][i])
        rows += [(f"{n}-step TD, 20 groups", f"rms@alpha={a}", mean[j], se[j]) for j, a in enumerate(NSTEP_ALPHAS)]
    common.write_csv(out / "random-walk.csv", ["series", "state_or_metric", "mean", "se"], rows)

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(14, 5))
    ax.plot(states, v, "k", lw=2, label="true $v_\\pi$ (DP)")
    for k, w in result["weights"].items():
        ve_mean = result["ve"][k].mean()
        common.band(ax, states, w @ agg(states).T, f"{k} (VE {ve_mean:.4f})", lw=1.2)
    for (k, w), ls in zip(result["asymptotes"].items(), ("--", ":")):
        ax.plot(states, w @ agg(states).T, "k", ls=ls, lw=0.8, label=f"{k} (VE {result['asymptote_ve'][k]:.4f})")
    ax.set(title="10-group state aggregation (Figs. 9.1, 9.2 left)", xlabel="state", ylabel="value")
    twin = ax.twinx()
    twin.fill_between(states, mu, color="grey", alpha=0.15, step="mid")
    twin.set_ylabel("on-policy distribution μ", color="grey")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    for i, n in enumerate(NSTEP_NS):
        common.band(ax2, NSTEP_ALPHAS, result["nstep_rms"][i], f"n = {n}", lw=1.2)
    ax2.set(title="n-step TD, 20 groups, first 10 episodes (Fig. 9.2 right)", xlabel="α",
            ylabel="RMS error over states, averaged over episodes", ylim=(0.25, 0.55))
    ax2.legend(fontsize=8, ncol=2)
    ax2.grid(alpha=0.3)
    common.save(fig, out / "random-walk.png")
