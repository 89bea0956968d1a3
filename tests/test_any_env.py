"""Any Gymnasium environment with discrete actions: observation kinds, environment ids
that a package registers, wrapper stacks that rebuild from their spec, tie-breaking."""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from deepq import agent, cli, envs, networks
from deepq.errors import DeepQError

FIXTURES = Path(__file__).parent / "fixture_envs"


@pytest.fixture
def fixture_pkg(monkeypatch):
    """The fixture package importable, its environments not registered (they register
    only when ``register()`` is called, or ``on_import`` is imported)."""
    monkeypatch.syspath_prepend(str(FIXTURES))
    import deepq_fixture_envs

    deepq_fixture_envs.unregister()
    sys.modules.pop("deepq_fixture_envs.on_import", None)
    yield deepq_fixture_envs
    deepq_fixture_envs.unregister()


def spaces_env(space: gym.Space, env_id: str = "FixtureSpaces/Space-v0") -> str:
    from deepq_fixture_envs import Spaces

    gym.registry.pop(env_id, None)
    gym.register(env_id, entry_point=Spaces, kwargs={"space": space})
    return env_id


@pytest.mark.parametrize("space, shape, dtype", [
    (gym.spaces.Discrete(5), (5,), np.uint8),
    (gym.spaces.MultiBinary(7), (7,), np.uint8),
    (gym.spaces.MultiDiscrete([2, 3]), (5,), np.uint8),
    (gym.spaces.Box(0, 1, (10, 10, 3), np.bool_), (3, 10, 10), np.bool_),  # HWC → CHW
    (gym.spaces.Box(0, 1, (3, 10, 12), np.bool_), (3, 10, 12), np.bool_),  # CHW kept
    (gym.spaces.Box(0, 255, (64, 48, 3), np.uint8), (3, 64, 48), np.uint8),
    (gym.spaces.Box(0, 1, (6, 6, 2), np.uint8), (2, 6, 6), np.bool_),  # 0/1 uint8: a mask
    (gym.spaces.Box(-1, 1, (12, 9), np.float32), (1, 12, 9), np.float32),  # 2-D: one channel
])
def test_observation_kinds(fixture_pkg, space, shape, dtype):
    env = envs.make(spaces_env(space))
    obs, _ = env.reset(seed=0)
    assert env.observation_space.shape == shape and obs.shape == shape
    assert obs.dtype == dtype and env.observation_space.dtype == dtype
    if isinstance(space, gym.spaces.Discrete):  # one-hot
        assert obs.sum() == 1 and set(np.unique(obs)) <= {0, 1}
    net = networks.build(shape, 2, (16,))
    assert net(torch.as_tensor(obs[None])).shape == (1, 2)


def test_one_hot_is_the_state(fixture_pkg):
    env = envs.make("FrozenLake-v1")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (16,) and obs.dtype == np.uint8 and obs.argmax() == 0 and obs.sum() == 1


def test_layout_setting_overrides_detection(fixture_pkg):
    env_id = spaces_env(gym.spaces.Box(0, 1, (4, 8, 8), np.float32))
    assert envs.make(env_id).observation_space.shape == (4, 8, 8)  # auto: the short axis first
    assert envs.make(env_id, obs_layout="hwc").observation_space.shape == (8, 4, 8)
    assert not envs.channels_last((10, 10, 10), "chw") and envs.channels_last((10, 10, 10))


@pytest.mark.parametrize("space, words", [
    (gym.spaces.Dict({"a": gym.spaces.Box(0, 1, (2,))}), ["Dict observation space", "FlattenObservation", "--env-module"]),
    (gym.spaces.Tuple((gym.spaces.Discrete(2),)), ["Tuple observation space"]),
    (gym.spaces.Box(0, 1, (2, 2, 2, 2)), ["vectors [D], images"]),
])
def test_unsupported_spaces_are_one_line(fixture_pkg, space, words):
    with pytest.raises(DeepQError) as e:
        envs.make(spaces_env(space))
    assert "\n" not in str(e.value) and all(w in str(e.value) for w in words)


def test_network_sizes():
    assert isinstance(networks.build((2, 10, 10), 4, (32,)), networks.SmallCNN)
    assert isinstance(networks.build((4, 84, 84), 6, (32,)), networks.NatureCNN)
    wide = networks.build((3, 40, 90), 3, (32,))
    assert isinstance(wide, networks.NatureCNN) and wide(torch.zeros(2, 3, 40, 90, dtype=torch.uint8)).shape == (2, 3)
    dueling = networks.build((2, 10, 10), 4, (32,), dueling=True, n_atoms=5)
    assert dueling(torch.zeros(3, 2, 10, 10, dtype=torch.bool)).shape == (3, 4, 5)
    with pytest.raises(ValueError, match="at least 3"):
        networks.build((1, 2, 9), 2, (8,))
    assert networks.describe(networks.build((2, 10, 10), 4, (32,))) == "conv 16·3×3/1 → linear 32 → linear 4"


def test_nips_torso_is_the_2013_network():
    net = networks.build((4, 84, 84), 6, (32,), torso="nips")
    assert networks.describe(net) == "conv 16·8×8/4 → conv 32·4×4/2 → linear 256 → linear 6"
    assert net(torch.zeros(2, 4, 84, 84, dtype=torch.uint8)).shape == (2, 6)
    # 84 → 20 → 9: 32·9·9 = 2592 inputs to the 256 layer; about a third of the Nature CNN's weights
    assert net.advantage[0].in_features == 2592
    nature = networks.build((4, 84, 84), 6, (32,))
    assert sum(p.numel() for p in net.parameters()) < sum(p.numel() for p in nature.parameters()) / 2
    dueling = networks.build((4, 84, 84), 6, (32,), dueling=True, torso="nips")
    assert networks.describe(dueling).startswith("conv 16·8×8/4 → conv 32·4×4/2 → linear 256")
    assert dueling(torch.zeros(3, 4, 84, 84, dtype=torch.uint8)).shape == (3, 6)
    # small images keep their own torso whatever the setting
    assert isinstance(networks.build((2, 10, 10), 4, (32,), torso="nips").torso[0], torch.nn.Conv2d)
    assert networks.describe(networks.build((2, 10, 10), 4, (32,), torso="nips")).startswith("conv 16·3×3/1")
    with pytest.raises(ValueError, match="unknown torso"):
        networks.build((4, 84, 84), 6, (32,), torso="resnet")


def test_bool_images_are_not_scaled():
    net = networks.SmallCNN((1, 5, 5), 2, (4,))
    ones = torch.ones(1, 1, 5, 5)
    assert torch.equal(net(ones.bool()), net(ones))  # a bool 1 is 1.0, not 1/255
    assert not torch.equal(net(ones.to(torch.uint8)), net(ones))  # uint8 pixels are scaled


@pytest.mark.parametrize("env_id", ["CartPole-v1", "PongNoFrameskip-v4", "FixtureGrid/Goal-v0"])
def test_check_env_and_spec_rebuild(fixture_pkg, env_id):
    fixture_pkg.register()
    env = envs.make(env_id)
    check_env(env, skip_render_check=True)
    rebuilt = env.spec.make()
    assert rebuilt.observation_space == env.observation_space
    a, _ = env.reset(seed=3)
    b, _ = rebuilt.reset(seed=3)
    assert np.array_equal(a, b)


def test_module_colon_id_form(fixture_pkg, tmp_path, capsys):
    assert cli.main(["train", "deepq_fixture_envs.on_import:FixtureGrid/Goal-v0", "--steps", "60",
                     "--set", "learn_start=30", "--no-progress", "--run-dir", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "no preset given: using DQN's defaults" in err
    assert "network: conv 16·3×3/1 → linear 64 → linear 64 → linear 4 on observations [2, 10, 10] bool" in err


def test_env_module_option_calls_the_function(fixture_pkg, tmp_path, capsys):
    assert cli.main(["train", "FixtureGrid/Goal-v0", "--steps", "60", "--no-progress",
                     "--run-dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "namespace 'FixtureGrid'" in err and "--env-module" in err and len(err.strip().splitlines()) == 1
    assert cli.main(["train", "FixtureGrid/Goal-v0", "--env-module", "deepq_fixture_envs:register",
                     "--steps", "60", "--set", "learn_start=30", "--no-progress",
                     "--run-dir", str(tmp_path / "b")]) == 0
    fixture_pkg.unregister()  # a resume registers it again from the saved env_modules
    assert cli.main(["train", "--resume", str(tmp_path / "b"), "--steps", "90", "--no-progress"]) == 0


@pytest.mark.parametrize("entry, words", [
    ("no_such_module_xyz", "cannot import 'no_such_module_xyz'"),
    ("deepq_fixture_envs:no_such_function", "has no function 'no_such_function'"),
])
def test_bad_env_module_is_one_line(fixture_pkg, tmp_path, capsys, entry, words):
    assert cli.main(["train", "CartPole-v1", "--env-module", entry, "--no-progress",
                     "--run-dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


def test_greedy_breaks_exact_ties_at_random():
    def flat(obs):
        return torch.zeros(len(obs), 4)

    def rng():
        return np.random.default_rng(7)

    picks = agent.EpsilonGreedy(flat, 4, rng()).greedy_batch(np.zeros((400, 3)))
    assert set(picks) == {0, 1, 2, 3} and np.bincount(picks).min() > 60  # about 100 each
    assert np.array_equal(picks, agent.EpsilonGreedy(flat, 4, rng()).greedy_batch(np.zeros((400, 3))))

    def two_best(obs):
        return torch.tensor([[0.0, 2.0, 2.0, 1.0]]).repeat(len(obs), 1)

    assert set(agent.EpsilonGreedy(two_best, 4, rng()).greedy_batch(np.zeros((200, 3)))) == {1, 2}
    drawn = rng()
    agent.EpsilonGreedy(lambda obs: torch.tensor([[0.0, 1.0]]), 2, drawn).greedy_batch(np.zeros((1, 3)))
    assert drawn.random() == rng().random()  # no tie, no random number drawn


GRID_SETTINGS = ["buffer_size=20000", "batch_size=32", "learn_start=500", "lr=1e-3", "target_sync=500",
                 "eps_schedule=linear", "eps_decay=4000", "eps_final=0.05", "hidden=64", "gamma=0.9",
                 "n_step=3", "checkpoint_every=0", "speed.threads=1"]


def test_bool_image_grid_learns_through_cli_and_api(fixture_pkg, tmp_path):
    """The 10×10×2 bool grid (goal in a random corner) from the command line, then
    loaded and evaluated through the API: the greedy policy reaches the goal in ≥ 80% of
    200 episodes; a uniformly random policy reaches it in about 5% (measured here).
    12,000 steps, ~50 s on one core."""
    from deepq import DQN

    run = tmp_path / "grid"
    argv = ["train", "FixtureGrid/Goal-v0", "--env-module", "deepq_fixture_envs:register", "--seed", "0",
            "--steps", "12000", "--no-progress", "--run-dir", str(run)]
    assert cli.main(argv + [x for kv in GRID_SETTINGS for x in ("--set", kv)]) == 0
    model = DQN.load(run, replay=False)
    assert model.obs_shape == (2, 10, 10) and model.obs_dtype == np.bool_
    assert isinstance(model.q_net, networks.SmallCNN)
    trained = float(np.mean(model.evaluate(episodes=200, epsilon=0.0)))
    random = float(np.mean(model.evaluate(episodes=200, epsilon=1.0)))
    assert random < 0.15 and trained >= 0.8, (trained, random)


def test_frozen_lake_one_hot_learns():
    """FrozenLake-v1 (slippery, 4×4) from one-hot states: greedy success ≥ 0.7 over 500
    episodes after 20,000 steps (the optimal policy succeeds about 74% of the time; a
    random one about 1.5%). ~35 s on one core."""
    import dataclasses

    from deepq import DQN
    from deepq.algos.dqn import DQNConfig

    cfg = DQNConfig(env_id="FrozenLake-v1", total_steps=20_000, buffer_size=20_000, batch_size=64,
                    learn_start=1000, train_freq=1, lr=1e-3, target_sync=500, eps_schedule="linear",
                    eps_decay=8000, eps_final=0.05, hidden=(64,), gamma=0.99, eval_every=0,
                    checkpoint_every=0, seed=1)
    model = DQN(dataclasses.replace(cfg, speed=dataclasses.replace(cfg.speed, threads=1)))
    model.learn()
    assert float(np.mean(model.evaluate(episodes=500, epsilon=0.0))) >= 0.7
