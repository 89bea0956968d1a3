"""Each lab learning rule against an update computed by hand."""

import numpy as np
import pytest

from deepq.lab import rules

X2 = np.array([[1.0], [2.0]])  # two states, features 1 and 2 (the "w → 2w" pair)
SWAP = np.array([[0.0, 1.0], [1.0, 0.0]])  # each state moves to the other
HALF = np.array([0.5, 0.5])


def test_semi_gradient_update_single_and_batch():
    # err = 3 − 2 = 1: w + 0.1·1·x
    w = rules.semi_gradient_update(np.array([1.0, 2.0]), np.array([1.0, 0.5]), 3.0, 2.0, 0.1)
    assert w == pytest.approx([1.1, 2.05])
    # a batch sums the two updates: 0.1·(1·[1, 0] + (−2)·[0, 1])
    w = rules.semi_gradient_update(np.zeros(2), np.eye(2), np.array([1.0, -1.0]), np.array([0.0, 1.0]), 0.1)
    assert w == pytest.approx([0.1, -0.2])


def test_targets():
    assert rules.td_target(1.0, 0.9, 2.0) == pytest.approx(2.8)
    assert rules.td_target(1.0, 0.0, 2.0) == 1.0  # terminal: discount 0, no bootstrap
    assert rules.n_step_return([1.0, 0.0, 2.0], 0.5, 4.0) == pytest.approx(1 + 0 + 0.5 + 0.125 * 4)
    assert rules.n_step_return([1.0, 1.0], 1.0, 0.0) == 2.0  # episode ended: the MC return
    assert rules.expected_sarsa_target(1.0, 0.9, np.array([1.0, 3.0]), np.array([0.25, 0.75])) \
        == pytest.approx(1 + 0.9 * 2.5)
    assert rules.max_q_target(1.0, 0.9, np.array([1.0, 3.0])) == pytest.approx(3.7)


def test_epsilon_greedy_splits_ties():
    assert rules.epsilon_greedy_probs([1.0, 3.0, 3.0], 0.3) == pytest.approx([0.1, 0.45, 0.45])
    assert rules.epsilon_greedy_probs([2.0, 1.0], 0.0) == pytest.approx([1.0, 0.0])


def test_off_policy_td_scales_by_rho():
    # δ = 0.5 + 0.9·1 − 1 = 0.4; w₀ += 0.1·2·0.4
    x, x2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    w = rules.off_policy_td_update(np.ones(2), x, 0.5, 0.9, x2, 2.0, 0.1)
    assert w == pytest.approx([1.08, 1.0])
    assert rules.off_policy_td_update(np.ones(2), x, 0.5, 0.9, x2, 0.0, 0.1) == pytest.approx([1.0, 1.0])


def test_tdc():
    # δ = 0.4, xᵀv = 0.5: w += 0.1·2·(0.4·x − 0.9·x'·0.5); v += 0.2·2·(0.4 − 0.5)·x
    x, x2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    w, v = rules.tdc_update(np.ones(2), np.array([0.5, 0.0]), x, 0.5, 0.9, x2, 2.0, 0.1, 0.2)
    assert w == pytest.approx([1.08, 0.91])
    assert v == pytest.approx([0.46, 0.0])


def test_emphatic_td_follow_on_trace():
    # F = 0.9·0.5·2 + 1 = 1.9; w₀ += 0.1·1.9·2·0.4
    x, x2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    w, F = rules.emphatic_td_update(np.ones(2), 2.0, x, 0.5, 0.9, x2, 2.0, 0.5, 0.1)
    assert F == pytest.approx(1.9)
    assert w == pytest.approx([1.152, 1.0])


def test_expected_td_on_two_states():
    # v = (1, 2); δ̄ = (0.9·2 − 1, 0.9·1 − 2) = (0.8, −1.1); Σ d δ̄ x = 0.4 − 1.1 = −0.7
    w = rules.expected_td_update(np.array([1.0]), X2, SWAP, np.zeros(2), HALF, 0.9, 0.1)
    assert w == pytest.approx([0.93])
    assert rules.expected_td_error(np.array([1.0]), X2, SWAP, np.zeros(2), 0.9) == pytest.approx([0.8, -1.1])


def test_expected_semi_gradient_is_expected_td_for_linear():
    rng = np.random.default_rng(0)
    X, P = rng.random((4, 3)), rng.dirichlet(np.ones(4), 4)
    r, d, w = rng.random(4), rng.dirichlet(np.ones(4)), rng.random(3)
    v = X @ w
    assert rules.expected_semi_gradient_update(w, X, d, r + 0.8 * P @ v, v, 0.3) == \
        pytest.approx(rules.expected_td_update(w, X, P, r, d, 0.8, 0.3))


def test_expected_tdc_on_two_states():
    # Dδ̄ = (0.4, −0.55), XᵀDδ̄ = −0.7; D X v = (0.25, 0.5); (PX)ᵀ D X v = 2·0.25 + 1·0.5 = 1;
    # XᵀDXv = 0.25 + 1 = 1.25. w = 1 + 0.1(−0.7 − 0.9) ; v = 0.5 + 0.2(−0.7 − 1.25)
    w, v = rules.expected_tdc_update(np.array([1.0]), np.array([0.5]), X2, SWAP, np.zeros(2), HALF, 0.9, 0.1, 0.2)
    assert w == pytest.approx([0.84])
    assert v == pytest.approx([0.11])


def test_emphasis_and_errors():
    # m = (I − 0.5 Pᵀ)⁻¹ d: m₀ − 0.5m₁ = 0.5 and m₁ − 0.5m₀ = 0.5 give m = (1, 1)
    assert rules.emphasis(SWAP, HALF, 0.5) == pytest.approx([1.0, 1.0])
    assert rules.value_error(np.array([1.0]), X2, np.zeros(2), HALF) == pytest.approx(0.5 * 1 + 0.5 * 4)
    # PBE = (XᵀDδ̄)² / XᵀDX = 0.49 / 2.5
    assert rules.projected_bellman_error(np.array([1.0]), X2, SWAP, np.zeros(2), HALF, 0.9) == pytest.approx(0.196)


def test_repeated_update_equals_sequential_steps():
    w0, counts, alpha = np.array([0.3, -0.2, 0.0]), np.array([3, 0, 5]), 0.1
    w = w0.copy()
    for i, k in enumerate(counts):
        for _ in range(k):
            w = rules.semi_gradient_update(w, np.eye(3)[i], 1.0, w[i], alpha)
    assert rules.repeated_update_same_target(w0, counts, 1.0, alpha) == pytest.approx(w)


def test_semi_gradient_sarsa_and_expected_sarsa_steps_on_linear_q():
    from deepq.lab.features import LinearQ, MatrixFeatures

    q = LinearQ(MatrixFeatures(np.array([[1.0, 2.0], [3.0, 0.0]])), n_actions=2)
    w = np.array([1.0, 0.0, 0.0, 1.0])  # q̂(0, 1) = 2, q̂(1, ·) = (3, 0)
    grad, estimate = q.grad(w, 0, 1), q.value(w, 0, 1)
    # Sarsa with A' = 0: U = −1 + 0.5·3 = 0.5, error −1.5, step 0.1·(−1.5)·(0, 0, 1, 2)
    sarsa = rules.semi_gradient_update(w, grad, rules.td_target(-1.0, 0.5, q.value(w, 1, 0)), estimate, 0.1)
    assert sarsa == pytest.approx([1.0, 0.0, -0.15, 0.7])
    assert rules.max_q_target(-1.0, 0.5, q.values(w, 1)) == pytest.approx(0.5)  # max is A' = 0 here
    # Expected Sarsa with π(·|S') = (½, ½): U = −1 + 0.5·1.5 = −0.25, error −2.25
    expected = rules.semi_gradient_update(
        w, grad, rules.expected_sarsa_target(-1.0, 0.5, q.values(w, 1), np.array([0.5, 0.5])), estimate, 0.1)
    assert expected == pytest.approx([1.0, 0.0, -0.225, 0.55])


def test_max_q_target_agrees_with_the_core_q_learning_target():
    import torch

    from deepq import learner

    reward = np.array([1.0, -0.5, 2.0, 0.0, 3.0])
    discount = np.array([0.9, 0.99, 0.0, 0.5, 0.9 ** 3])  # row 2 is terminal: discount 0
    next_q = np.array([[1.0, 3.0, -2.0],
                       [-1.0, -4.0, -0.5],  # every value negative: the max is still the max
                       [10.0, 20.0, 30.0],  # terminal: ignored
                       [2.0, 2.0, 1.0],  # a tie
                       [0.25, 0.0, -0.25]])
    core = learner.q_learning_target(*(torch.as_tensor(a, dtype=torch.float64) for a in (reward, discount, next_q)))
    assert rules.max_q_target(reward, discount, next_q) == pytest.approx(core.numpy())
    assert core.numpy() == pytest.approx([3.7, -0.995, 2.0, 1.0, 3.0 + 0.729 * 0.25])  # by hand
    for i in range(len(reward)):  # one transition at a time, as the lab calls it
        assert rules.max_q_target(reward[i], discount[i], next_q[i]) == pytest.approx(float(core[i]))
