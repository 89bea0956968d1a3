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

import dataclasses
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from deepq import config, log, plot
from deepq.config import param
from deepq.errors import DeepQError
from deepq.lab import envs, rules
from deepq.lab.features import Linear, MatrixFeatures, Neural

MDPS = {"baird": envs.baird, "two-state": envs.two_state}
APPROXIMATORS = ("tabular", "linear", "neural")
POLICIES = ("on-policy", "off-policy")
FULL_TIME = "about 3 minutes"  # wall time at the defaults on a 2-core CPU, for --help


@dataclass(frozen=True)
class CellConfig:
    """How a cell of expected-update sweeps is run and judged: the settings that ``triad``
    and ``convergence`` share."""

    seed: int = param(0, "seed of a cell's first random initial weights; its runs use seed, "
                      "seed + 1, ...", min=0)
    seeds: int = param(3, "random initial weights per cell", min=1)
    approximators: tuple[str, ...] = param(APPROXIMATORS, "the approximators of the grid",
                                           choices=APPROXIMATORS)
    alpha_tabular: float = param(0.5, "step size of the tabular approximator (per sweep)", min=0.0)
    alpha_linear: float = param(0.1, "step size of the linear approximator (per sweep)", min=0.0)
    alpha_neural: float = param(0.1, "step size of the neural approximator (per sweep)", min=0.0)
    # Baird's γ = 0.99 makes even tabular TD contract by only about α·d(s)·(1 − γ) ≈ 10⁻³ per
    # sweep, hence thousands of sweeps; a neural sweep costs ~100× a linear one
    sweeps_tabular: int = param(5_000, "sweeps per tabular prediction run", min=1)
    sweeps_linear: int = param(5_000, "sweeps per linear prediction run", min=1)
    sweeps_neural: int = param(3_000, "sweeps per neural prediction run", min=1)
    sweep_scale: float = param(1.0, "multiplies every sweeps count, for quick runs (ratio)",
                               min=0.0, min_exclusive=True)
    tdc_beta: float = param(0.5, "TDC's (and Greedy-GQ's) second step size (per sweep)", min=0.0)
    hidden: tuple[int, ...] = param((16,), "the neural approximator's hidden widths (the core MLP, "
                                    "ReLU)", min=1)
    diverged: float = param(1e3, "a run whose error passes this multiple of its initial error "
                            "has diverged (ratio)", min=1.0)
    converged: float = param(0.05, "a run whose final error is below this fraction of its "
                             "initial error has converged (ratio)", min=0.0, max=1.0)

    def __post_init__(self):
        for f in dataclasses.fields(self):  # a grid with no approximators, targets or MDPs is empty
            if getattr(self, f.name) == ():
                raise DeepQError(f"config key '{f.name}' needs at least one value")

    def alpha(self, kind: str) -> float:
        return {"tabular": self.alpha_tabular, "linear": self.alpha_linear, "neural": self.alpha_neural}[kind]

    def sweeps(self, kind: str) -> int:
        """Prediction sweeps of a ``kind`` cell, scaled."""
        return int({"tabular": self.sweeps_tabular, "linear": self.sweeps_linear,
                    "neural": self.sweeps_neural}[kind] * self.sweep_scale)


@dataclass(frozen=True)
class TriadConfig(CellConfig):
    """The settings of ``deepq lab triad``."""

    targets: tuple[str, ...] = param(("MC", "TD"), "the learning targets of the grid (TDC: "
                                     "gradient TD)", choices=("MC", "TD", "TDC"))
    mdps: tuple[str, ...] = param(tuple(MDPS), "the MDPs of the grid", choices=tuple(MDPS))


def approximator(kind: str, features: np.ndarray, seed: int, hidden: tuple[int, ...]):
    """(approximator, initial weights) over rows of ``features`` [N, D]: tabular =
    one-hot rows, linear = the features, neural = the core MLP with ``hidden`` widths on
    the features."""
    rng = np.random.default_rng(seed)
    if kind == "neural":
        net = Neural(MatrixFeatures(features), hidden, seed=seed)
        w0 = net.initial_weights()
        w0[-1] += 1.0  # output bias: start v̂ near 1, away from the answer v = 0
        return net, w0
    table = np.eye(len(features)) if kind == "tabular" else features
    return Linear(MatrixFeatures(table)), rng.uniform(0.5, 1.5, table.shape[1])


def run_cell(mdp_name: str, kind: str, target: str, policy: str, seed: int, sweeps: int,
             cfg: CellConfig = CellConfig()) -> np.ndarray:
    """Error (RMS of v̂ − v over the states) after each sweep: [sweeps + 1].
    ``target`` is "MC", "TD" or "TDC"; the curve stops growing once non-finite or past
    ``cfg.diverged`` × the initial error."""
    mdp, pi, b = MDPS[mdp_name]()
    d = mdp.stationary(b)
    P, r = mdp.under(b if policy == "on-policy" else pi)
    v_true = np.zeros(mdp.n_states)
    states = np.arange(mdp.n_states)
    approx, w = approximator(kind, mdp.X, seed, cfg.hidden)
    h = np.zeros_like(w)  # TDC's second weight vector
    alpha = cfg.alpha(kind)
    err = np.full(sweeps + 1, np.inf)
    with np.errstate(all="ignore"):
        for t in range(sweeps + 1):
            values = approx.value(w, states)
            err[t] = np.sqrt(np.mean((values - v_true) ** 2))
            if not np.isfinite(err[t]) or err[t] > cfg.diverged * err[0] or t == sweeps:
                break
            grads = approx.grad(w, states)
            if target == "MC":
                w = rules.expected_semi_gradient_update(w, grads, d, v_true, values, alpha)
            elif target == "TD":
                w = rules.expected_semi_gradient_update(w, grads, d, r + mdp.gamma * P @ values, values, alpha)
            else:
                w, h = rules.expected_tdc_sweep(w, h, grads, values, P, r, d, mdp.gamma, alpha, cfg.tdc_beta)
    return err


def status(err: np.ndarray, cfg: CellConfig = CellConfig()) -> str:
    """"diverged": non-finite or past ``cfg.diverged`` × the initial error; "converged":
    below ``cfg.converged`` × the initial error; "converging": falling at every sweep of
    the last quarter (slow geometric convergence, as Baird's γ = 0.99 gives; the updates
    are exact, so noise cannot fake it, and chattering would not be monotone); otherwise
    "bounded"."""
    if not np.isfinite(err).all() or err[-1] > cfg.diverged * err[0]:
        return "diverged"
    if err[-1] < cfg.converged * err[0]:
        return "converged"
    if np.all(np.diff(err[3 * len(err) // 4:]) < 0):
        return "converging"
    return "bounded"


def run_cells(cells: list[tuple], errors, cfg: CellConfig, desc: str, show_progress: bool) -> dict:
    """{cell: {"status": [seeds], "final_error": [seeds], "errors": [seeds, sweeps + 1]}},
    ``errors(cell, seed)`` giving one run's error curve."""
    bar = log.progress_bar(len(cells) * cfg.seeds, desc, enabled=show_progress, leave=False)
    result = {}
    for cell in cells:
        errs = []
        for i in range(cfg.seeds):
            errs.append(errors(cell, cfg.seed + i))
            bar.update()
        errs = np.array(errs)
        result[cell] = {"status": [status(e, cfg) for e in errs],
                        "final_error": np.array([e[np.isfinite(e)][-1] if np.isfinite(e).any() else np.inf
                                                 for e in errs]),
                        "errors": errs}
    bar.close()
    return result


def run_grid(cfg: CellConfig, mdps, targets, show_progress: bool = True) -> dict:
    """{(mdp, approximator, target, policy): a ``run_cells`` entry} over ``cfg.approximators``."""
    cells = list(product(mdps, cfg.approximators, targets, POLICIES))
    return run_cells(cells, lambda cell, seed: run_cell(*cell, seed, cfg.sweeps(cell[1]), cfg), cfg,
                     "triad (cell runs)", show_progress)


def run(cfg: TriadConfig | None = None, *, out: Path | None = None, show_progress: bool = True,
        **changes) -> dict:
    """The grid of ``cfg`` (default ``TriadConfig()``, with ``changes`` applied on top):
    {(mdp, approximator, target, policy): {"status": [seeds], "final_error": [seeds],
    "errors": [seeds, sweeps + 1]}}."""
    cfg = config.override(cfg or TriadConfig(), changes)
    result = run_grid(cfg, cfg.mdps, cfg.targets, show_progress)
    if out is not None:
        _write(result, cfg, out)
    return result


def log10_errors(errors: np.ndarray, cfg: CellConfig) -> np.ndarray:
    """log10 of error curves for a figure: non-finite values left as gaps, the rest floored
    and capped (at 10 × the divergence ratio) so the log axis stays readable."""
    return np.log10(np.clip(np.where(np.isfinite(errors), errors, np.nan), 1e-8, cfg.diverged * 10))


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


def _write(result: dict, cfg: TriadConfig, out: Path) -> None:
    rows = [(*cell, i, st, fe) for cell, c in result.items()
            for i, (st, fe) in enumerate(zip(c["status"], c["final_error"]))]
    log.write_csv(out / "triad.csv", ["mdp", "approximator", "target", "policy", "seed", "status", "final_error"],
                  rows)
    (out / "triad.md").write_text(markdown(result))
    mdps = list(dict.fromkeys(k[0] for k in result))
    kinds = list(dict.fromkeys(k[1] for k in result))
    fig, axes = plt.subplots(len(mdps), len(kinds), figsize=(5 * len(kinds), 4.2 * len(mdps)), squeeze=False)
    for (i, mdp), (j, kind) in product(enumerate(mdps), enumerate(kinds)):
        ax = axes[i, j]
        for cell, c in result.items():
            if cell[0] == mdp and cell[1] == kind:
                plot.band(ax, np.arange(c["errors"].shape[1]), log10_errors(c["errors"], cfg),
                          f"{cell[2]}, {cell[3]} ({summary(c)})", ls="-" if cell[3] == "on-policy" else "--")
        ax.set(title=f"{mdp}: {kind}", xlabel="sweeps", ylabel="log10 RMS error")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    plot.save_figure(fig, out / "triad.png", dpi=80)
