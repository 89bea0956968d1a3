"""Environment construction and DeepMind Atari preprocessing on real ROMs."""

import numpy as np
import pytest

from deepq import agent, envs
from deepq.algos.dqn import DQN
from deepq.presets import PRESETS
from deepq import config
from deepq.errors import DeepQError


def test_pong_observations_are_stacked_uint8_84x84():
    env = envs.make("PongNoFrameskip-v4", frame_stack=4)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    obs2, reward, *_ = env.step(0)
    assert obs2.shape == (4, 84, 84) and reward in (-1.0, 0.0, 1.0)
    # stacking shifts frames: the old newest frame becomes the second newest
    np.testing.assert_array_equal(obs2[-2], obs[-1])
    assert envs.obs_info(env) == ((4, 84, 84), np.dtype(np.uint8), 4)


def test_single_frame_and_any_k():
    assert envs.make("PongNoFrameskip-v4", frame_stack=1).observation_space.shape == (1, 84, 84)
    assert envs.make("ALE/Pong-v5", frame_stack=2).observation_space.shape == (2, 84, 84)


def test_vector_env_gets_no_stacking():
    env = envs.make("CartPole-v1")
    assert envs.obs_info(env) == ((4,), np.dtype(np.float32), None)


def test_unknown_and_continuous_envs_are_clear_errors():
    with pytest.raises(DeepQError, match="unknown environment 'NoSuchGame-v0'"):
        envs.make("NoSuchGame-v0")
    with pytest.raises(DeepQError, match="discrete action space"):
        envs.make("Pendulum-v1")


def test_life_loss_terminates_learning_episode_but_not_the_game():
    env = envs.make("SpaceInvadersNoFrameskip-v4")  # 3 lives
    ro = agent.Rollout(env, seed=0, life_loss_terminal=True)
    rng = np.random.default_rng(0)
    steps = []
    while not (steps and steps[-1].episode_end):
        steps.append(ro.step(lambda o: int(rng.integers(6))))
    life_losses = [s for s in steps if s.terminated and not s.episode_end]
    assert len(life_losses) == 2  # lives 3 → 2 → 1, then game over ends the episode
    assert steps[-1].terminated
    # the logged return covers the whole game, across the lost lives
    assert steps[-1].episode_return == pytest.approx(sum(s.reward for s in steps))
    assert steps[-1].episode_length == len(steps)


def test_stored_rewards_are_sign_clipped_while_logged_score_is_raw():
    cfg = config.override(PRESETS["pong"].config, {
        "env_id": "SpaceInvadersNoFrameskip-v4", "learn_start": 10**6, "buffer_size": 3000,
        "eps_start": 1.0, "eps_final": 1.0, "total_steps": 1200})
    model = DQN(cfg)
    model.learn()
    assert model.episode_returns, "a random SpaceInvaders game lasts ~500 steps"
    stored = model.replay.reward[: model.replay.size]
    assert set(np.unique(stored).tolist()) <= {0.0, 1.0}
    # the first game's raw score: every invader is worth at least 5 points
    first_game_end = np.flatnonzero(~model.replay.starts_transition[: model.replay.size])[0]
    positives = int(stored[:first_game_end].sum())
    assert positives > 0 and model.episode_returns[0] >= 5 * positives
