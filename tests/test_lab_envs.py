"""The lab's environments and dynamic programming."""

import gymnasium as gym
import numpy as np
import pytest

from deepq.lab import envs, rules


def test_random_walk_true_values_from_dp():
    v = envs.random_walk_true_values()
    P, r = envs.random_walk_model()
    assert v == pytest.approx(np.linalg.solve(np.eye(1000) - P, r), abs=1e-8)
    assert v == pytest.approx(-v[::-1], abs=1e-12)  # symmetric walk
    assert (np.diff(v) > 0).all()
    assert -0.95 < v[0] < -0.9 and 0.9 < v[-1] < 0.95  # Figure 9.1's end values
    # probability mass: staying inside plus leaving off either end is 1
    left_off = np.maximum(100 - np.arange(1000), 0) / 200
    right_off = np.maximum(np.arange(1000) - 899, 0) / 200
    assert P.sum(1) + left_off + right_off == pytest.approx(np.ones(1000))


def test_random_walk_distribution_and_episodes(rng):
    mu = envs.random_walk_distribution()
    assert mu.sum() == pytest.approx(1.0) and mu.argmax() in (499, 500)
    ends = [envs.random_walk_episode(rng) for _ in range(400)]
    assert all(((s >= 0) & (s < 1000)).all() and s[0] == 500 for s, _ in ends)
    assert 0.4 < np.mean([G > 0 for _, G in ends]) < 0.6


def test_mountain_car_matches_gymnasium():
    env = gym.make("MountainCar-v0").unwrapped
    obs, _ = env.reset(seed=3)
    x, v = float(obs[0]), float(obs[1])
    rng = np.random.default_rng(0)
    for t in range(300):
        a = int(rng.integers(3)) if t % 40 < 30 else 0  # mostly random, with runs into the left wall
        obs, _, terminated, _, _ = env.step(a)
        x, v, done = envs.mountain_car_step(x, v, a)
        assert (x, v) == pytest.approx((obs[0], obs[1]), abs=1e-5)  # gymnasium computes in float32
        assert bool(done) == terminated


def test_mountain_car_left_wall_and_goal():
    x, v, done = envs.mountain_car_step(-1.19, -0.05, 0)
    assert x == -1.2 and v == 0.0 and not done
    x, v, done = envs.mountain_car_step(0.49, 0.05, 2)
    assert x == 0.5 and done


def test_baird_model():
    mdp, pi, b = envs.baird()
    assert mdp.P.sum(-1) == pytest.approx(np.ones((7, 2)))
    assert mdp.X[0] @ envs.BAIRD_W0 == 3 and mdp.X[6] @ envs.BAIRD_W0 == 12  # 2w₁+w₈, w₇+2w₈
    assert mdp.stationary(b) == pytest.approx(np.full(7, 1 / 7))
    assert envs.policy_evaluation(mdp, pi)[0] == pytest.approx(np.zeros(7))


def test_two_state_grows_by_the_stated_factor():
    mdp, pi, b = envs.two_state()
    d_b, d_pi = mdp.stationary(b), mdp.stationary(pi)
    assert d_b == pytest.approx([5 / 6, 1 / 6]) and d_pi == pytest.approx([0.5, 0.5])
    P, r = mdp.under(pi)
    w = rules.expected_td_update(np.array([1.0]), mdp.X, P, r, d_b, 0.9, 0.1)
    assert w == pytest.approx([1 + 0.1 * (12 * 0.9 - 9) / 6])
    w = rules.expected_td_update(np.array([1.0]), mdp.X, P, r, d_pi, 0.9, 0.1)
    assert w == pytest.approx([1 + 0.1 * (4 * 0.9 - 5) / 2])


def test_policy_evaluation_and_value_iteration_by_hand():
    # one state, two actions: reward 1 or 2, back to itself, γ = 0.5: q* = (1 + 0.5·4, 2 + 0.5·4)
    mdp = envs.FiniteMDP(np.ones((1, 2, 1)), np.array([[1.0, 2.0]]), 0.5, np.ones((1, 1)))
    assert envs.value_iteration(mdp) == pytest.approx(np.array([[3.0, 4.0]]))
    v, q = envs.policy_evaluation(mdp, np.array([[0.5, 0.5]]))  # v = 1.5 / (1 − 0.5)
    assert v == pytest.approx([3.0]) and q == pytest.approx(np.array([[2.5, 3.5]]))
    assert envs.solve_policy(mdp, np.array([[0.5, 0.5]]))[1] == pytest.approx(q)
