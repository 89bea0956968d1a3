"""The convergence tables for prediction and control, generated from runs.

Each cell is run with expected (synchronous, DP-style) updates from several random
initial weights, as in ``triad``, and printed as a Markdown table beside the claims of
the tables the design document reproduces (from D. Silver's UCL course, lecture 6,
after S&B 2nd ed. Chapters 9–11): ✓ guaranteed to converge, (✓) chatters around the
near-optimal value function, ✗ no guarantee. A run shows what happens on one MDP, so a
✗ in the book can be a ✓ here (no guarantee is not a guarantee of divergence); each
disagreement is listed and explained.

Prediction: MC, TD(0), gradient TD (TDC) × table lookup / linear / neural × on-/off-
policy, on Baird's counterexample and the two-state MDP (``triad``'s cells; a cell is ✗
if any run of it diverged on either MDP).
Control: MC control, Sarsa, Q-learning and gradient Q-learning (Greedy-GQ, Maei et al.
2010) on Baird's MDP as a control task: q̂(s, a) over block features φ(s, solid) =
(x(s), 0), φ(s, dashed) = (0, x(s)), all rewards 0, so q* = 0. MC control and Sarsa learn
on-policy with an ε-greedy policy; Q-learning and Greedy-GQ learn the greedy policy from
Baird's behaviour policy (dashed 6/7).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from deepq import config, log, plot
from deepq.config import param
from deepq.lab import envs, rules, triad

FULL_TIME = "about 6 minutes"  # wall time at the defaults on a 2-core CPU, for --help
PREDICTION = ("MC", "TD", "TDC")
CONTROL = ("MC control", "Sarsa", "Q-learning", "gradient Q-learning")


@dataclass(frozen=True)
class ConvergenceConfig(triad.CellConfig):
    """The settings of ``deepq lab convergence``: the prediction cells are ``triad``'s (on
    both MDPs, targets MC, TD and TDC), the control cells its own."""

    epsilon: float = param(0.1, "exploration of the on-policy control methods, MC control and "
                           "Sarsa (probability of a random action)", min=0.0, max=1.0)
    control_sweeps_tabular: int = param(5_000, "sweeps per tabular control run", min=1)
    control_sweeps_linear: int = param(5_000, "sweeps per linear control run", min=1)
    control_sweeps_neural: int = param(2_000, "sweeps per neural control run", min=1)

    def control_sweeps(self, kind: str) -> int:
        """Control sweeps of a ``kind`` cell, scaled."""
        return int({"tabular": self.control_sweeps_tabular, "linear": self.control_sweeps_linear,
                    "neural": self.control_sweeps_neural}[kind] * self.sweep_scale)


BOOK_PREDICTION = {  # (policy, method) → claims for table lookup, linear, non-linear
    ("on-policy", "MC"): "✓✓✓", ("on-policy", "TD"): "✓✓✗", ("on-policy", "TDC"): "✓✓✓",
    ("off-policy", "MC"): "✓✓✓", ("off-policy", "TD"): "✓✗✗", ("off-policy", "TDC"): "✓✓✓",
}
BOOK_CONTROL = {"MC control": ["✓", "(✓)", "✗"], "Sarsa": ["✓", "(✓)", "✗"],
                "Q-learning": ["✓", "✗", "✗"], "gradient Q-learning": ["✓", "✓", "✗"]}
WHY = {
    "✗→✓": "✗ in the book means no guarantee, not certain divergence; this MDP does not "
           "trigger it (counterexamples exist: Tsitsiklis and Van Roy 1997 for non-linear TD)",
    "(✓)→✓": "chattering needs the greedy policy to keep switching between near-equal "
             "actions; with all rewards 0 every policy has q = 0, so there is nothing to chatter around",
    "✓→✗": "the nonlinear gradient-TD here drops the Hessian term of nonlinear GTD "
           "(Maei et al. 2009), so its guarantee does not apply",
    "✗→~": "the error had not blown up by the end of the sweeps, but it was not falling either; "
           "✗ is the absence of a guarantee",
    "✓→~": "bounded, but the error was not falling steadily over the last quarter of the "
           "sweeps; the guarantee is for step sizes that are small enough or decrease over "
           "time, and these are constant",
}


def baird_control():
    """(pair features Φ [14, 16], pair transitions P [14, 7], behaviour b [7, 2], γ);
    pair index = 2·s + a, a = 0 dashed, 1 solid."""
    mdp, _, b = envs.baird()
    X = mdp.X
    Phi = np.zeros((14, 16))
    Phi[1::2, :8] = X  # solid
    Phi[0::2, 8:] = X  # dashed
    return Phi, mdp.P.reshape(14, 7), b, mdp.gamma


def _pair_transitions(P_sa: np.ndarray, policy: np.ndarray) -> np.ndarray:
    """(s, a) → (s', a') with a' ~ policy(s'): [14, 14]."""
    return (P_sa[:, :, None] * policy[None]).reshape(len(P_sa), -1)


def _eps_greedy(q: np.ndarray, eps: float) -> np.ndarray:
    return np.stack([rules.epsilon_greedy_probs(qs, eps) for qs in q.reshape(-1, 2)])


def run_control_cell(method: str, kind: str, seed: int, sweeps: int,
                     cfg: ConvergenceConfig = ConvergenceConfig()) -> np.ndarray:
    """Error max |q̂ − q*| after each sweep: [sweeps + 1] (q* = 0)."""
    Phi, P_sa, b, gamma = baird_control()
    mdp, _, _ = envs.baird()
    approx, w = triad.approximator(kind, Phi, seed, cfg.hidden)
    h = np.zeros_like(w)
    r = np.zeros(14)
    alpha = cfg.alpha(kind)
    pairs = np.arange(14)
    d_b = (mdp.stationary(b)[:, None] * b).reshape(-1)
    err = np.full(sweeps + 1, np.inf)
    with np.errstate(all="ignore"):
        for t in range(sweeps + 1):
            q = approx.value(w, pairs)
            err[t] = np.max(np.abs(q))
            if not np.isfinite(err[t]) or err[t] > cfg.diverged * err[0] or t == sweeps:
                break
            grads = approx.grad(w, pairs)
            greedy = _eps_greedy(q, 0.0)
            if method in ("MC control", "Sarsa"):
                pi = _eps_greedy(q, cfg.epsilon)
                d = (mdp.stationary(pi)[:, None] * pi).reshape(-1)
                if method == "MC control":  # target: the exact return of the current policy
                    target = envs.solve_policy(mdp, pi)[1].reshape(-1)
                else:
                    target = r + gamma * _pair_transitions(P_sa, pi) @ q
                w = rules.expected_semi_gradient_update(w, grads, d, target, q, alpha)
            elif method == "Q-learning":
                target = r + gamma * _pair_transitions(P_sa, greedy) @ q
                w = rules.expected_semi_gradient_update(w, grads, d_b, target, q, alpha)
            else:  # Greedy-GQ: TDC toward the greedy policy's pairs
                w, h = rules.expected_tdc_sweep(w, h, grads, q, _pair_transitions(P_sa, greedy), r, d_b,
                                                gamma, alpha, cfg.tdc_beta)
    return err


def _mark(statuses: list[str]) -> str:
    if "diverged" in statuses:
        return "✗"
    return "✓" if all(s in ("converged", "converging") for s in statuses) else "~"


def run(cfg: ConvergenceConfig | None = None, *, out: Path | None = None, show_progress: bool = True,
        **changes) -> dict:
    """Both tables for ``cfg`` (default ``ConvergenceConfig()``, with ``changes`` applied on
    top): {"prediction": triad-style results (targets MC, TD, TDC), "control": {(method,
    approximator): {"status", "final_error", "errors"}}, "markdown": the tables}."""
    cfg = config.override(cfg or ConvergenceConfig(), changes)
    pred = triad.run_grid(cfg, tuple(triad.MDPS), PREDICTION, show_progress)
    control = triad.run_cells(list(product(CONTROL, cfg.approximators)),
                              lambda cell, seed: run_control_cell(*cell, seed, cfg.control_sweeps(cell[1]), cfg),
                              cfg, "convergence: control cells", show_progress)
    result = {"prediction": pred, "control": control}
    result["markdown"] = markdown(result, cfg.approximators)
    if out is not None:
        _write(result, cfg, out)
    return result


def _compare(book: str, ours: str, notes: list[str], where: str) -> str:
    if book == ours:
        return ours
    note = WHY.get(f"{book}→{ours}", "see the run's errors in convergence.csv")
    notes.append(f"- {where}: book {book}, runs {ours}: {note}.")
    return f"**{ours}** (book {book})"


def markdown(result: dict, approximators=triad.APPROXIMATORS) -> str:
    """The two tables, runs beside the book, with each disagreement explained below."""
    cols = [triad.APPROXIMATORS.index(a) for a in approximators]
    head = "| | " + " | ".join(approximators) + " |\n|---|" + "---|" * len(approximators)
    notes: list[str] = []
    lines = ["### Prediction (runs; the book's claim in brackets where it differs)", "", head]
    pred = result["prediction"]
    for policy, method in BOOK_PREDICTION:
        row = []
        for j, kind in zip(cols, approximators):
            st = [s for (m, k, t, p), c in pred.items() if (k, t, p) == (kind, method, policy) for s in c["status"]]
            row.append(_compare(BOOK_PREDICTION[(policy, method)][j], _mark(st), notes,
                                f"{policy} {method}, {kind}"))
        lines.append(f"| {policy} {method} | " + " | ".join(row) + " |")
    lines += ["", "### Control", "", head]
    for method in CONTROL:
        row = []
        for j, kind in zip(cols, approximators):
            row.append(_compare(BOOK_CONTROL[method][j], _mark(result["control"][(method, kind)]["status"]),
                                notes, f"{method}, {kind}"))
        lines.append(f"| {method} | " + " | ".join(row) + " |")
    lines += ["", "✓ every run converged or was still converging (error falling) at the end, "
              "~ bounded but not falling, ✗ at least one run diverged.", "", "### Disagreements", ""] + (notes or ["none"])
    return "\n".join(lines) + "\n"


def _write(result: dict, cfg: ConvergenceConfig, out: Path) -> None:
    rows = [("prediction", *cell, i, st, fe) for cell, c in result["prediction"].items()
            for i, (st, fe) in enumerate(zip(c["status"], c["final_error"]))]
    rows += [("control", "baird-control", kind, method, "greedy/eps-greedy", i, st, fe)
             for (method, kind), c in result["control"].items()
             for i, (st, fe) in enumerate(zip(c["status"], c["final_error"]))]
    log.write_csv(out / "convergence.csv", ["table", "mdp", "approximator", "method", "policy", "seed",
                                            "status", "final_error"], rows)
    (out / "convergence.md").write_text(result["markdown"])
    print(result["markdown"])
    kinds = list(dict.fromkeys(k for _, k in result["control"]))
    fig, axes = plt.subplots(1, len(kinds), figsize=(5 * len(kinds), 4), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        for (method, k), c in result["control"].items():
            if k == kind:
                plot.band(ax, np.arange(c["errors"].shape[1]), triad.log10_errors(c["errors"], cfg),
                          f"{method} ({triad.summary(c)})")
        ax.set(title=f"control on Baird's MDP: {kind}", xlabel="sweeps", ylabel="log10 max |q̂ − q*|")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    plot.save_figure(fig, out / "convergence.png", dpi=80)
