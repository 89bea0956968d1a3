"""The lab's environments, with their exact models where the experiments need them.

- the 1000-state random walk (S&B 2nd ed., Example 9.1), with v_π and the on-policy
  distribution μ computed exactly by dynamic programming;
- Mountain Car with the book's dynamics (Section 10.1);
- Baird's counterexample (Section 11.2), as a known model;
- ``FiniteMDP``: small MDPs whose v_π and q_π come from dynamic programming, and the
  two-state "w → 2w" MDP of Section 11.2's first example.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# ---- 1000-state random walk (Example 9.1)
RW_STATES = 1000
RW_START = 500
RW_MAX_JUMP = 100


def random_walk_model() -> tuple[np.ndarray, np.ndarray]:
    """(P, r): P [1000, 1000] transitions among non-terminal states, r [1000] the expected
    reward of leaving each state (−1 off the left end, +1 off the right). A jump past an
    end lands on the terminal state there, so the near-edge states end more often."""
    n, k = RW_STATES, RW_MAX_JUMP
    p = 1.0 / (2 * k)
    s = np.arange(n)[:, None]
    dest = np.concatenate([s - np.arange(1, k + 1), s + np.arange(1, k + 1)], axis=1)  # [n, 2k]
    inside = (dest >= 0) & (dest < n)
    P = np.zeros((n, n))
    np.add.at(P, (np.broadcast_to(s, dest.shape)[inside], dest[inside]), p)
    r = p * ((dest >= n).sum(1) - (dest < 0).sum(1))
    return P, r


@lru_cache(maxsize=1)
def random_walk_true_values(tol: float = 1e-10) -> np.ndarray:
    """v_π [1000] by iterative policy evaluation (synchronous DP sweeps, γ = 1)."""
    P, r = random_walk_model()
    v = np.zeros(RW_STATES)
    while True:
        v_new = r + P @ v
        if np.max(np.abs(v_new - v)) < tol:
            return v_new  # cached: callers must not modify it in place
        v = v_new


@lru_cache(maxsize=1)
def random_walk_distribution() -> np.ndarray:
    """μ [1000]: the fraction of time spent in each state (S&B eq. 9.2 and 9.3)."""
    P, _ = random_walk_model()
    h = np.zeros(RW_STATES)
    h[RW_START] = 1.0
    eta = np.linalg.solve(np.eye(RW_STATES) - P.T, h)  # expected visits per episode
    return eta / eta.sum()


def random_walk_episode(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """One episode: the visited states [T] (start included) and the terminal reward ±1."""
    states = [RW_START]
    while True:
        jumps = rng.integers(1, RW_MAX_JUMP + 1, 64) * rng.choice((-1, 1), 64)
        path = states[-1] + np.cumsum(jumps)
        out = np.flatnonzero((path < 0) | (path >= RW_STATES))
        if len(out):
            states.extend(path[: out[0]].tolist())
            return np.asarray(states), (-1.0 if path[out[0]] < 0 else 1.0)
        states.extend(path.tolist())


# ---- Mountain Car (S&B Section 10.1)
MC_X_RANGE = (-1.2, 0.5)
MC_V_RANGE = (-0.07, 0.07)


def mountain_car_reset(rng: np.random.Generator, n: int | None = None):
    """Start at rest at a position uniform in [−0.6, −0.4): (x, v), floats or [n] arrays."""
    return rng.uniform(-0.6, -0.4, n), np.zeros(n) if n is not None else 0.0


def mountain_car_step(x, v, action):
    """The book's dynamics, on floats or arrays: action ∈ {0: reverse, 1: zero, 2: forward}.

    v ← bound(v + 0.001(a−1) − 0.0025cos 3x); x ← bound(x + v); reaching the left wall
    zeroes v; reaching x = 0.5 ends the episode. The reward is −1 on every step.
    Gymnasium's MountainCar-v0 has the same update in the same order (velocity first,
    the left wall zeroes a negative velocity) and the same start; it differs only by
    its 200-step time limit, which the book does not have. Returns (x, v, done)."""
    v = np.clip(v + 0.001 * (np.asarray(action) - 1) - 0.0025 * np.cos(3 * x), *MC_V_RANGE)
    x = np.clip(x + v, *MC_X_RANGE)
    v = np.where((x == MC_X_RANGE[0]) & (v < 0), 0.0, v)
    return x, v, x >= MC_X_RANGE[1]


# ---- finite MDPs and dynamic programming
@dataclass(frozen=True)
class FiniteMDP:
    """P [S, A, S'] transition probabilities, R [S, A] expected rewards, γ the discount
    (per step, unitless), X [S, D] the state features the linear approximators use."""

    P: np.ndarray
    R: np.ndarray
    gamma: float
    X: np.ndarray

    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    def under(self, policy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(P_π [S, S], r_π [S]) for a policy given as probabilities [S, A]."""
        return np.einsum("sa,sat->st", policy, self.P), (policy * self.R).sum(1)

    def stationary(self, policy: np.ndarray) -> np.ndarray:
        """The on-policy state distribution of a continuing MDP under ``policy``: [S]."""
        P, _ = self.under(policy)
        evals, evecs = np.linalg.eig(P.T)
        d = np.real(evecs[:, np.argmin(np.abs(evals - 1))])
        return d / d.sum()


def policy_evaluation(mdp: FiniteMDP, policy: np.ndarray, tol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """(v_π [S], q_π [S, A]) by iterative policy evaluation sweeps."""
    P, r = mdp.under(policy)
    v = np.zeros(mdp.n_states)
    while True:
        v_new = r + mdp.gamma * P @ v
        if np.max(np.abs(v_new - v)) < tol:
            break
        v = v_new
    return v_new, mdp.R + mdp.gamma * mdp.P @ v_new


def solve_policy(mdp: FiniteMDP, policy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(v_π, q_π) by solving v = r_π + γP_πv directly: what ``policy_evaluation``
    converges to, in one step (the control experiment needs it every sweep)."""
    P, r = mdp.under(policy)
    v = np.linalg.solve(np.eye(mdp.n_states) - mdp.gamma * P, r)
    return v, mdp.R + mdp.gamma * mdp.P @ v


def value_iteration(mdp: FiniteMDP, tol: float = 1e-12) -> np.ndarray:
    """q* [S, A] by value iteration."""
    q = np.zeros_like(mdp.R)
    while True:
        q_new = mdp.R + mdp.gamma * mdp.P @ q.max(1)
        if np.max(np.abs(q_new - q)) < tol:
            return q_new
        q = q_new


def baird() -> tuple[FiniteMDP, np.ndarray, np.ndarray]:
    """Baird's counterexample (S&B Figure 11.1): (mdp, target policy π, behaviour b).

    Seven states, two actions: 0 = dashed (to one of the six upper states, uniformly),
    1 = solid (to the seventh, lower state). All rewards 0, γ = 0.99. v̂(upper i) =
    2w_i + w_8, v̂(lower) = w_7 + 2w_8. π always takes solid; b takes dashed 6/7."""
    n = 7
    P = np.zeros((n, 2, n))
    P[:, 0, :6] = 1 / 6
    P[:, 1, 6] = 1.0
    X = np.zeros((n, 8))
    X[np.arange(6), np.arange(6)] = 2.0
    X[:6, 7] = 1.0
    X[6, 6], X[6, 7] = 1.0, 2.0
    pi = np.tile([0.0, 1.0], (n, 1))
    b = np.tile([6 / 7, 1 / 7], (n, 1))
    return FiniteMDP(P, np.zeros((n, 2)), 0.99, X), pi, b


BAIRD_W0 = np.array([1, 1, 1, 1, 1, 1, 10, 1], dtype=float)  # Figure 11.2's start


def two_state() -> tuple[FiniteMDP, np.ndarray, np.ndarray]:
    """The "w → 2w" MDP (after S&B Section 11.2's first example): (mdp, π, b).

    State A (feature 1) and B (feature 2), one weight, so v̂(A) = w and v̂(B) = 2w.
    Action 0 moves to the other state; action 1 stays. π always moves (it spends half its
    time in each state); b stays in A with probability 0.8, so updates happen mostly at
    A, where the target γ·2w pulls w up faster than B's updates pull it down. Rewards 0,
    γ = 0.9: expected off-policy TD multiplies w by 1 + α(12γ − 9)/6 > 1 per sweep,
    on-policy (d = ½, ½) by 1 + α(4γ − 5)/2 < 1."""
    P = np.zeros((2, 2, 2))
    P[0, 0, 1] = P[1, 0, 0] = 1.0
    P[0, 1, 0] = P[1, 1, 1] = 1.0
    pi = np.array([[1.0, 0.0], [1.0, 0.0]])
    b = np.array([[0.2, 0.8], [1.0, 0.0]])
    return FiniteMDP(P, np.zeros((2, 2)), 0.9, np.array([[1.0], [2.0]])), pi, b
