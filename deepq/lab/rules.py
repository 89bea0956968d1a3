"""Learning rules of value-function approximation, each a small pure function of arrays.

Notation (S&B 2nd ed., Chapters 9–11): ``w`` weights [W]; ``x`` the gradient ∇v̂(S_t)
(the feature vector for linear v̂) [W]; ``alpha`` the step size (per update, unitless);
``discount`` = γ·(1 − terminal), so a terminal transition needs no special case;
``rho`` = π(A|S)/b(A|S), the importance-sampling ratio of the action taken.

Oracle regression, gradient Monte Carlo, semi-gradient TD and the Sarsa family differ
only in their target, so they share ``semi_gradient_update``; the targets are their own
functions. The expected (DP-style) rules take the whole known model at once:
``X`` features [S, W], ``P`` the target policy's transition matrix [S, S], ``r`` its
expected reward [S], ``d`` the state weighting of the updates [S].
"""

from __future__ import annotations

import numpy as np


def semi_gradient_update(w, x, target, estimate, alpha):
    """w + α (U − v̂) ∇v̂. A true SGD step when U does not depend on w (oracle v_π, MC's
    G_t); a semi-gradient step when U bootstraps from v̂ itself (TD, Sarsa, Q-learning).
    A batch of updates ([B] targets, [B, W] gradients) is summed."""
    err = np.asarray(target, dtype=float) - np.asarray(estimate, dtype=float)
    return w + alpha * np.tensordot(err, x, axes=np.ndim(err))


def td_target(reward, discount, next_value):
    """R + γ v̂(S'): TD(0)'s target; with next_value = q̂(S', A') it is Sarsa's."""
    return reward + discount * next_value


def n_step_return(rewards, gamma, bootstrap):
    """R_{t+1} + γR_{t+2} + … + γ^{n−1}R_{t+n} + γ^n·bootstrap, for rewards [n].
    Pass bootstrap = 0 when the episode ended within the n steps (the MC return then)."""
    rewards = np.asarray(rewards, dtype=float)
    powers = gamma ** np.arange(len(rewards))
    return float(rewards @ powers + gamma ** len(rewards) * bootstrap)


def expected_sarsa_target(reward, discount, next_q, next_probs):
    """R + γ Σ_a π(a|S') q̂(S', a), next_q and next_probs [A]."""
    return reward + discount * float(np.dot(next_probs, next_q))


def max_q_target(reward, discount, next_q):
    """R + γ max_a q̂(S', a): Q-learning's target, for one transition (next_q [A]) or a
    batch ([B] rewards and discounts, next_q [B, A]). The numpy twin of the core's
    ``deepq.learner.q_learning_target``; tests/test_lab_rules.py checks they agree."""
    return reward + discount * np.max(next_q, axis=-1)


def epsilon_greedy_probs(q, epsilon):
    """π(·|s) of ε-greedy over q [A], ties split evenly among the greedy actions."""
    q = np.asarray(q, dtype=float)
    greedy = q == q.max()
    return epsilon / len(q) + (1 - epsilon) * greedy / greedy.sum()


def off_policy_td_update(w, x, reward, discount, x_next, rho, alpha):
    """Semi-gradient off-policy TD(0) (S&B eq. 11.2): w + α ρ δ x, δ = R + γw·x' − w·x."""
    delta = reward + discount * (w @ x_next) - w @ x
    return w + alpha * rho * delta * x


def tdc_update(w, v, x, reward, discount, x_next, rho, alpha, beta):
    """TDC, also called GTD(0) (S&B eq. 11.30, with the ratio of Section 11.7).

    w ← w + αρ(δx − γ x'(xᵀv)); v ← v + βρ(δ − vᵀx)x. ``v`` estimates the least-squares
    solution E[xxᵀ]⁻¹E[ρδx]; ``beta`` is its step size (per update, unitless).
    Returns (w, v)."""
    delta = reward + discount * (w @ x_next) - w @ x
    w_new = w + alpha * rho * (delta * x - discount * x_next * (x @ v))
    v_new = v + beta * rho * (delta - v @ x) * x
    return w_new, v_new


def emphatic_td_update(w, followon, x, reward, discount, x_next, rho, rho_prev, alpha, interest=1.0):
    """One-step Emphatic TD (S&B eqs. 11.31–11.33 with λ = 0).

    F_t = γρ_{t−1}F_{t−1} + I_t (the follow-on trace; pass followon = 0 at the start),
    w ← w + α F_t ρ_t δ_t x_t. Returns (w, F_t)."""
    followon = discount * rho_prev * followon + interest
    delta = reward + discount * (w @ x_next) - w @ x
    return w + alpha * followon * rho * delta * x, followon


def expected_td_error(w, X, P, r, gamma):
    """δ̄_w(s) = r(s) + γ Σ_s' P(s, s') v̂(s') − v̂(s) for every state: [S]."""
    v = X @ w
    return r + gamma * (P @ v) - v


def expected_semi_gradient_update(w, grads, d, targets, values, alpha):
    """One synchronous sweep of the semi-gradient rule over all states:
    w + α Σ_s d(s) (U(s) − v̂(s)) ∇v̂(s), ``grads`` [S, W]. U = v_π gives expected
    (full-batch) gradient MC; U = r + γPv̂ gives expected semi-gradient TD."""
    return w + alpha * grads.T @ (d * (targets - values))


def expected_td_update(w, X, P, r, d, gamma, alpha):
    """Expected semi-gradient TD(0) for linear v̂ (S&B eq. 11.9): w + α Σ_s d(s) δ̄_w(s) x(s).
    With d the behaviour's state distribution and P the target policy's it is off-policy."""
    v = X @ w
    return expected_semi_gradient_update(w, X, d, r + gamma * (P @ v), v, alpha)


def expected_tdc_update(w, v, X, P, r, d, gamma, alpha, beta):
    """Expected TDC for linear v̂: the TDC update with each expectation over d and P exact
    (Figure 11.5, right). Returns (w, v)."""
    return expected_tdc_sweep(w, v, X, X @ w, P, r, d, gamma, alpha, beta)


def expected_tdc_sweep(w, v, grads, values, P, r, d, gamma, alpha, beta):
    """Expected TDC with ∇v̂ [S, W] in place of the features. E[ρδx] = GᵀDδ̄,
    E[ρx'xᵀ]v = (PG)ᵀDGv, E[xxᵀ]v = GᵀDGv. For a non-linear v̂ this is TDC on the
    local linearisation, without the Hessian correction of non-linear GTD
    (Maei et al. 2009). Returns (w, v)."""
    dd = d * (r + gamma * (P @ values) - values)
    xv = d * (grads @ v)
    w_new = w + alpha * (grads.T @ dd - gamma * (P @ grads).T @ xv)
    v_new = v + beta * (grads.T @ dd - grads.T @ xv)
    return w_new, v_new


def emphasis(P, d, gamma, interest=None):
    """Expected emphasis m = (I − γPᵀ)⁻¹(d ⊙ i), the state weighting of one-step ETD."""
    i = np.ones(len(d)) if interest is None else interest
    return np.linalg.solve(np.eye(len(d)) - gamma * P.T, d * i)


def expected_etd_update(w, X, P, r, m, gamma, alpha):
    """Expected one-step Emphatic TD (Figure 11.6): expected TD with d replaced by m."""
    return expected_td_update(w, X, P, r, m, gamma, alpha)


def value_error(w, X, v_true, d):
    """VE(w) = Σ_s d(s) (v_π(s) − v̂(s))² (S&B eq. 9.1)."""
    return float(d @ (v_true - X @ w) ** 2)


def projected_bellman_error(w, X, P, r, d, gamma):
    """PBE(w) = ‖Π δ̄_w‖²_d, Π the d-weighted projection onto span(X) (S&B eq. 11.22)."""
    delta = expected_td_error(w, X, P, r, gamma)
    xd = X.T @ (d * delta)
    return float(xd @ np.linalg.pinv(X.T @ (d[:, None] * X)) @ xd)


def repeated_update_same_target(w, counts, target, alpha):
    """``counts[i]`` consecutive updates w_i ← w_i + α(U − w_i) toward one target U, in
    closed form: U − (1 − α)^k (U − w_i). Exact for gradient MC with one-hot features
    (state aggregation) when the return U is shared by the whole episode (γ = 1 and
    a reward only at the end, as in the random walk), so an episode costs O(groups)."""
    return target - (1 - alpha) ** np.asarray(counts) * (target - w)
