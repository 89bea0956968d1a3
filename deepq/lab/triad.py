"""The deadly triad as an experiment grid (S&B 2nd ed., Section 11.3).

{tabular, linear, neural} × {MC, TD} × {on-policy, off-policy} on Baird's
counterexample and on the two-state "w → 2w" MDP, each cell run from several random
initial weights and labelled converged / diverged with its final error.

Every update is the expected (synchronous, DP-style) one: each sweep weights every
state by the behaviour policy's stationary distribution d_b and takes exact
expectations over the model. That removes sampling noise, so a divergence can only come
from the update itself, not from importance-sampling variance or an unlucky sample.
- on-policy: the target policy is the behaviour policy b (learn v_b from b's data);
- off-policy: the target policy is π ≠ b, the data still come from b;
- MC: the target is the true value v (what the expectation of an importance-weighted
  return equals), so the update is gradient descent on VE;
- TD: the target r + γ P_π v̂ bootstraps from the current estimate.
All rewards are 0, so v = 0 under every policy and the error is RMS v̂ over the states.
"""

from __future__ import annotations

from itertools import product
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from deepq.lab import common, envs, rules
from deepq.lab.features import Linear, MatrixFeatures, Neural

MDPS = {"baird": envs.baird, "two-state": envs.two_state}
APPROXIMATORS = ("tabular", "linear", "neural")
TARGETS = ("MC", "TD")
POLICIES = ("on-policy", "off-policy")
ALPHA = {"tabular": 0.5, "linear": 0.1, "neural": 0.1}  # step size per sweep, by approximator
# sweeps per cell, by approximator: Baird's γ = 0.99 makes even tabular TD contract by only
# about α·d(s)·(1 − γ) ≈ 10⁻³ per sweep; a neural sweep costs ~100× a linear one
SWEEPS = {"tabular": 5_000, "linear": 5_000, "neural": 3_000}
TDC_BETA = 0.5  # TDC's second step size, per sweep (used by the convergence experiment)
HIDDEN = (16,)  # the neural approximator's hidden widths (the core MLP, ReLU)
FULL_SEEDS = 3  # initial weights per cell
FULL_TIME = "about 3 minutes"
DIVERGED = 1e3  # an error this many times the initial one counts as diverged
CONVERGED = 0.05  # an error below this fraction of the initial one counts as converged


def approximator(kind: str, features: np.ndarray, seed: int):
    """(approximator, initial weights) over rows of ``features`` [N, D]: tabular =
    one-hot rows, linear = the features, neural = the core MLP on the features."""
    rng = np.random.default_rng(seed)
    if kind == "neural":
        net = Neural(MatrixFeatures(features), HIDDEN, seed=seed)
        w0 = net.initial_weights()
        w0[-1] += 1.0  # output bias: start v̂ near 1, away from the answer v = 0
        return net, w0
    table = np.eye(len(features)) if kind == "tabular" else features
    return Linear(MatrixFeatures(table)), rng.uniform(0.5, 1.5, table.shape[1])


def run_cell(mdp_name: str, kind: str, target: str, policy: str, seed: int, sweeps: int) -> np.ndarray:
    """Error (RMS of v̂ − v over the states) after each sweep: [sweeps + 1].
    ``target`` is "MC", "TD" or "TDC"; the curve stops growing once non-finite."""
    mdp, pi, b = MDPS[mdp_name]()
    d = mdp.stationary(b)
    P, r = mdp.under(b if policy == "on-policy" else pi)
    v_true = np.zeros(mdp.n_states)
    states = np.arange(mdp.n_states)
    approx, w = approximator(kind, mdp.X, seed)
    h = np.zeros_like(w)  # TDC's second weight vector
    alpha = ALPHA[kind]
    err = np.full(sweeps + 1, np.inf)
    with np.errstate(all="ignore"):
        for t in range(sweeps + 1):
            values = approx.value(w, states)
            err[t] = np.sqrt(np.mean((values - v_true) ** 2))
            if not np.isfinite(err[t]) or err[t] > DIVERGED * err[0] or t == sweeps:
                break
            grads = approx.grad(w, states)
            if target == "MC":
                w = rules.expected_semi_gradient_update(w, grads, d, v_true, values, alpha)
            elif target == "TD":
                w = rules.expected_semi_gradient_update(w, grads, d, r + mdp.gamma * P @ values, values, alpha)
            else:
                w, h = rules.expected_tdc_sweep(w, h, grads, values, P, r, d, mdp.gamma, alpha, TDC_BETA)
    return err


def status(err: np.ndarray) -> str:
    """"diverged": non-finite or past DIVERGED × the initial error; "converged": below
    CONVERGED × the initial error; "converging": falling at every sweep of the last
    quarter (slow geometric convergence, as Baird's γ = 0.99 gives; the updates are
    exact, so noise cannot fake it, and chattering would not be monotone); otherwise
    "bounded"."""
    if not np.isfinite(err).all() or err[-1] > DIVERGED * err[0]:
        return "diverged"
    if err[-1] < CONVERGED * err[0]:
        return "converged"
    if np.all(np.diff(err[3 * len(err) // 4:]) < 0):
        return "converging"
    return "bounded"


def run(seeds: int = FULL_SEEDS, seed: int = 0, sweep_scale: float = 1.0, out: Path | None = None,
        show_progress: bool = True, approximators=APPROXIMATORS, targets=TARGETS, mdps=tuple(MDPS)) -> dict:
    """{(mdp, approximator, target, policy): {"status": [seeds], "final_error": [seeds],
    "errors": [seeds, sweeps + 1]}}; ``sweep_scale`` shrinks SWEEPS for quick runs."""
    cells = list(product(mdps, approximators, targets, POLICIES))
    bar = common.progress(len(cells) * seeds, "triad (cell runs)", show_progress)
    result = {}
    for cell in cells:
        errs = []
        for i in range(seeds):
            errs.append(run_cell(*cell, seed=seed + i, sweeps=int(SWEEPS[cell[1]] * sweep_scale)))
            bar.update()
        errs = np.array(errs)
        result[cell] = {"status": [status(e) for e in errs],
                        "final_error": np.array([e[np.isfinite(e)][-1] if np.isfinite(e).any() else np.inf
                                                 for e in errs]),
                        "errors": errs}
    bar.close()
    if out is not None:
        _write(result, out)
    return result


def summary(cell_result: dict) -> str:
    """"diverged 5/5", "converged 5/5" or a mixed count."""
    counts = {s: cell_result["status"].count(s) for s in dict.fromkeys(cell_result["status"])}
    n = len(cell_result["status"])
    return ", ".join(f"{s} {c}/{n}" for s, c in counts.items())


def markdown(result: dict) -> str:
    lines = []
    for mdp in dict.fromkeys(k[0] for k in result):
        lines += [f"**{mdp}**", "", "| approximator | target | on-policy | off-policy |", "|---|---|---|---|"]
        for kind, target in dict.fromkeys((k[1], k[2]) for k in result if k[0] == mdp):
            cols = []
            for pol in POLICIES:
                c = result[(mdp, kind, target, pol)]
                cols.append(f"{summary(c)} (final error {np.median(c['final_error']):.3g})")
            lines.append(f"| {kind} | {target} | {cols[0]} | {cols[1]} |")
        lines.append("")
    return "\n".join(lines)


def _write(result: dict, out: Path) -> None:
    rows = [(*cell, i, st, fe) for cell, c in result.items()
            for i, (st, fe) in enumerate(zip(c["status"], c["final_error"]))]
    common.write_csv(out / "triad.csv", ["mdp", "approximator", "target", "policy", "seed", "status", "final_error"],
                     rows)
    (out / "triad.md").write_text(markdown(result))
    mdps = list(dict.fromkeys(k[0] for k in result))
    kinds = list(dict.fromkeys(k[1] for k in result))
    fig, axes = plt.subplots(len(mdps), len(kinds), figsize=(5 * len(kinds), 4.2 * len(mdps)), squeeze=False)
    for (i, mdp), (j, kind) in product(enumerate(mdps), enumerate(kinds)):
        ax = axes[i, j]
        for cell, c in result.items():
            if cell[0] == mdp and cell[1] == kind:
                e = np.where(np.isfinite(c["errors"]), c["errors"], np.nan)
                e = np.clip(e, 1e-8, DIVERGED * 10)  # floor and cap, for a readable log axis
                common.band(ax, np.arange(e.shape[1]), np.log10(e), f"{cell[2]}, {cell[3]} ({summary(c)})",
                            ls="-" if cell[3] == "on-policy" else "--")
        ax.set(title=f"{mdp}: {kind}", xlabel="sweeps", ylabel="log10 RMS error")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    common.save(fig, out / "triad.png")
