"""Acting and the rollout's episode bookkeeping, edge cases by name."""

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import RecordEpisodeStatistics

from deepq import agent


def test_exponential_schedule_matches_formula():
    f = agent.exponential_epsilon
    assert f(0, 1.0, 0.01, 30_000) == pytest.approx(1.0)
    assert f(30_000, 1.0, 0.01, 30_000) == pytest.approx(0.01 + 0.99 / math.e)
    assert f(10**7, 1.0, 0.01, 30_000) == pytest.approx(0.01)


def test_linear_schedule_reaches_final_and_stays():
    f = agent.linear_epsilon
    assert f(0, 1.0, 0.1, 1000) == pytest.approx(1.0)
    assert f(500, 1.0, 0.1, 1000) == pytest.approx(0.55)
    assert f(1000, 1.0, 0.1, 1000) == pytest.approx(0.1)
    assert f(5000, 1.0, 0.1, 1000) == pytest.approx(0.1)


def cartpole(limit):
    return RecordEpisodeStatistics(gym.make("CartPole-v1", max_episode_steps=limit))


def test_truncation_is_not_termination_and_keeps_final_observation():
    ro = agent.Rollout(cartpole(3), seed=0)
    steps = [ro.step(lambda o: 0 if o[3] > 0 else 1) for _ in range(4)]
    last = steps[2]
    assert last.truncated and not last.terminated and last.episode_end
    assert last.episode_return == 3.0 and last.episode_length == 3
    # the next step starts a new episode from a reset observation, not the final one
    assert not np.array_equal(steps[3].obs, last.next_obs)
    assert [s.episode_end for s in steps[:2]] == [False, False]
    np.testing.assert_array_equal(steps[1].next_obs, steps[2].obs)


def test_termination_sets_terminated():
    ro = agent.Rollout(cartpole(500), seed=0)
    while True:
        s = ro.step(lambda o: 0)  # always push left: the pole falls quickly
        if s.episode_end:
            break
    assert s.terminated and not s.truncated and s.episode_length < 50


def test_state_restore_replays_the_same_episode():
    policy_rng = np.random.default_rng(3)
    ro = agent.Rollout(cartpole(500), seed=7)
    for _ in range(5):
        ro.step(lambda o: int(policy_rng.integers(2)))
    state = ro.state_dict()
    fresh = agent.Rollout(cartpole(500), seed=7)
    fresh.load_state_dict(state)
    a, b = ro.step(lambda o: 1), fresh.step(lambda o: 1)
    np.testing.assert_array_equal(a.obs, b.obs)
    np.testing.assert_array_equal(a.next_obs, b.next_obs)


def test_episodes_get_distinct_seeds_per_stream():
    seeds = {agent.episode_seed(0, stream, ep) for stream in range(3) for ep in range(50)}
    assert len(seeds) == 150


def test_epsilon_greedy_extremes():
    import torch

    net = torch.nn.Linear(2, 3)
    with torch.no_grad():
        net.weight.zero_()
        net.bias.copy_(torch.tensor([0.0, 5.0, 1.0]))
    pol = agent.EpsilonGreedy(net, 3, np.random.default_rng(0))
    assert {pol(np.zeros(2, np.float32), 0.0) for _ in range(20)} == {1}
    assert {pol(np.zeros(2, np.float32), 1.0) for _ in range(200)} == {0, 1, 2}
