"""Baird's counterexample: off-policy semi-gradient TD diverges, TDC does not.

Reproduces the setups of S&B 2nd ed. Figure 11.2 (semi-gradient off-policy TD and
expected semi-gradient DP, α = 0.01, w₀ = (1,1,1,1,1,1,10,1)), Figure 11.5 (TDC and
expected TDC, α = 0.005, β = 0.05) and Figure 11.6 (expected Emphatic TD, α = 0.03).
The expected versions sweep all seven states with the uniform weighting d = 1/7 that
the behaviour policy visits them with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from deepq import config, log, plot
from deepq.config import param
from deepq.lab import envs, rules

FULL_TIME = "about 20 s"  # wall time at the defaults on a 2-core CPU, for --help


@dataclass(frozen=True)
class BairdConfig:
    """The settings of ``deepq lab baird``; the defaults are the book's."""

    seed: int = param(0, "seed of the behaviour policy's sampled experience", min=0)
    runs: int = param(100, "independent runs of the sampled methods (the expected ones are exact)", min=1)
    n_steps: int = param(1000, "length of every curve: steps (sampled methods) or sweeps "
                         "(expected methods)", min=1)
    td_alpha: float = param(0.01, "step size of semi-gradient TD and DP (Figure 11.2; per update)",
                            min=0.0)
    tdc_alpha: float = param(0.005, "TDC step size for w (Figure 11.5; per update)", min=0.0)
    tdc_beta: float = param(0.05, "TDC step size for its second weights v (Figure 11.5; per update)",
                            min=0.0)
    etd_alpha: float = param(0.03, "expected Emphatic TD step size (Figure 11.6; per sweep)", min=0.0)


def baird_transitions(rng: np.random.Generator, n_steps: int):
    """Behaviour-policy experience from a uniform start: (s [T], rho [T], s' [T])."""
    mdp, pi, b = envs.baird()
    solid = rng.random(n_steps) < b[0, 1]
    next_s = np.where(solid, 6, rng.integers(0, 6, n_steps))
    s = np.concatenate([[rng.integers(0, 7)], next_s[:-1]])
    rho = np.where(solid, pi[0, 1] / b[0, 1], pi[0, 0] / b[0, 0])  # 7 for solid, 0 for dashed
    return s, rho, next_s


def run(cfg: BairdConfig | None = None, *, out: Path | None = None, show_progress: bool = True,
        **changes) -> dict:
    """All five methods for ``n_steps`` steps (sampled) or sweeps (expected); ``changes``
    are field values applied on top of ``cfg`` (default ``BairdConfig()``).

    Returns {"weights": {method: [runs or 1, n_steps + 1, 8]}} plus "sqrt_ve"/"sqrt_pbe"
    {method: [runs or 1, n_steps + 1]}; writes baird.csv and baird.png under ``out``."""
    cfg = config.override(cfg or BairdConfig(), changes)
    n_steps, runs = cfg.n_steps, cfg.runs
    mdp, pi, b = envs.baird()
    X, g = mdp.X, mdp.gamma
    P, r = mdp.under(pi)
    d = np.full(7, 1 / 7)
    v_true = np.zeros(7)  # every reward is 0
    m = rules.emphasis(P, d, g)
    rng = np.random.default_rng(cfg.seed)
    W = {k: np.zeros((runs, n_steps + 1, 8)) for k in ("TD", "TDC")}
    W |= {k: np.zeros((1, n_steps + 1, 8)) for k in ("expected TD (DP)", "expected TDC", "expected ETD")}
    bar = log.progress_bar(runs + 1, "baird", enabled=show_progress, leave=False)
    for i in range(runs):
        s, rho, s2 = baird_transitions(rng, n_steps)
        w_td, w_tdc, v = envs.BAIRD_W0.copy(), envs.BAIRD_W0.copy(), np.zeros(8)
        W["TD"][i, 0] = W["TDC"][i, 0] = w_td
        for t in range(n_steps):
            w_td = rules.off_policy_td_update(w_td, X[s[t]], 0.0, g, X[s2[t]], rho[t], cfg.td_alpha)
            w_tdc, v = rules.tdc_update(w_tdc, v, X[s[t]], 0.0, g, X[s2[t]], rho[t], cfg.tdc_alpha,
                                        cfg.tdc_beta)
            W["TD"][i, t + 1], W["TDC"][i, t + 1] = w_td, w_tdc
        bar.update()
    w_dp, w_etdc, v, w_etd = envs.BAIRD_W0.copy(), envs.BAIRD_W0.copy(), np.zeros(8), envs.BAIRD_W0.copy()
    for t in range(n_steps + 1):
        W["expected TD (DP)"][0, t], W["expected TDC"][0, t], W["expected ETD"][0, t] = w_dp, w_etdc, w_etd
        w_dp = rules.expected_td_update(w_dp, X, P, r, d, g, cfg.td_alpha)
        w_etdc, v = rules.expected_tdc_update(w_etdc, v, X, P, r, d, g, cfg.tdc_alpha, cfg.tdc_beta)
        w_etd = rules.expected_etd_update(w_etd, X, P, r, m, g, cfg.etd_alpha)
    bar.update()
    bar.close()
    ve = {k: np.sqrt(np.einsum("s,rts->rt", d, (v_true - w @ X.T) ** 2)) for k, w in W.items()}
    pbe = {k: np.sqrt(np.apply_along_axis(rules.projected_bellman_error, -1, w, X, P, r, d, g))
           for k, w in W.items() if "TDC" in k or "ETD" in k}
    result = {"weights": W, "sqrt_ve": ve, "sqrt_pbe": pbe}
    if out is not None:
        _write(result, out, n_steps)
    return result


def _write(result: dict, out: Path, n_steps: int) -> None:
    W, ve, pbe = result["weights"], result["sqrt_ve"], result["sqrt_pbe"]
    rows = []
    for k, w in W.items():
        mean, se = plot.mean_se(w)
        for t in range(0, n_steps + 1, max(1, n_steps // 100)):
            rows += [(k, t, f"w{j + 1}", mean[t, j], se[t, j]) for j in range(8)]
            rows.append((k, t, "sqrt_VE", *(x[t] for x in plot.mean_se(ve[k]))))
            if k in pbe:
                rows.append((k, t, "sqrt_PBE", *(x[t] for x in plot.mean_se(pbe[k]))))
    log.write_csv(out / "baird.csv", ["method", "step_or_sweep", "quantity", "mean", "se"], rows)
    steps = np.arange(n_steps + 1)
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    titles = {"TD": "semi-gradient off-policy TD (Fig. 11.2 left)",
              "expected TD (DP)": "expected semi-gradient DP (Fig. 11.2 right)",
              "TDC": "TDC (Fig. 11.5 left)", "expected TDC": "expected TDC (Fig. 11.5 right)",
              "expected ETD": "expected Emphatic TD (Fig. 11.6)"}
    for ax, (k, title) in zip(axes.flat, titles.items()):
        for j in range(8):
            plot.band(ax, steps, W[k][:, :, j], f"w{j + 1}", lw=1)
        if k in pbe:
            plot.band(ax, steps, pbe[k], "√PBE", color="k", ls="--")
        plot.band(ax, steps, ve[k], "√VE", color="k", ls=":")
        ax.set(title=title, xlabel="sweeps" if "expected" in k else "steps", ylabel="weight")
        ax.grid(alpha=0.3)
    for ax in (axes[0, 0], axes[0, 2]):
        ax.legend(fontsize=7, ncol=2)
    ax = axes.flat[5]
    for k in W:
        plot.band(ax, steps, ve[k], k)
    ax.set(title="√VE (true values are all 0)", xlabel="steps or sweeps", yscale="log")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    plot.save_figure(fig, out / "baird.png", dpi=80)
