"""Several environments side by side: update counts, lanes, overlap, exact resume."""

import numpy as np
import pytest
import torch

from deepq import DQN, config
from deepq.agent import EpsilonGreedy
from deepq.log import read_metrics
from deepq.presets import PRESETS

SMALL = config.override(PRESETS["cartpole"].config, {
    "total_steps": 1500, "learn_start": 200, "buffer_size": 3000, "hidden": [32, 32],
    "log_every": 100, "eval_every": 0, "stop_return": None, "seed": 5, "num_envs": 3})


def comparable(rows):
    return [{k: v for k, v in r.items() if k not in ("wall_time", "steps_per_sec")} for r in rows]


def test_batch_acting_draws_like_a_single_call_at_n1_and_runs_greedy_rows_in_one_pass():
    calls = []

    class Net(torch.nn.Module):
        def forward(self, obs):
            calls.append(len(obs))
            return torch.stack([obs[:, 0], -obs[:, 0]], dim=1)  # greedy: 0 if obs[0] > 0

    obs = np.array([[1.0], [-1.0], [2.0], [-3.0]], np.float32)
    for seed in range(20):  # N = 1 draws exactly what a single call draws
        one = EpsilonGreedy(Net(), 2, np.random.default_rng(seed)).batch(obs[2:3], 0.5)
        assert one.tolist() == [EpsilonGreedy(Net(), 2, np.random.default_rng(seed))(obs[2], 0.5)]
    calls.clear()
    assert EpsilonGreedy(Net(), 2, np.random.default_rng(0)).batch(obs, 0.0).tolist() == [0, 1, 0, 1]
    assert calls == [4]  # ε = 0: all rows greedy, in one pass
    calls.clear()
    acts = EpsilonGreedy(Net(), 2, np.random.default_rng(1)).batch(np.tile(obs, (500, 1)), 0.5)
    assert len(calls) == 1 and 800 < calls[0] < 1200  # about half the 2000 rows explore
    assert abs((acts != np.tile([0, 1, 0, 1], 500)).mean() - 0.25) < 0.04  # half of explorers differ


def test_updates_follow_env_steps_and_lanes_play_different_episodes():
    m = DQN(config.override(SMALL, {"train_freq": 2}), tensorboard=False)
    m.learn(999)
    assert m.step == 999  # 333 steps of 3 environments
    assert m.update == (999 - 200) // 2  # one update per train_freq env steps after learn_start
    assert len(m.replay) > 900
    firsts = [r.env.unwrapped.state.copy() for r in m.rollouts]
    assert not np.allclose(firsts[0], firsts[1]) and not np.allclose(firsts[1], firsts[2])


@pytest.mark.parametrize("overlap", [False, True])
def test_resume_equals_uninterrupted_run_with_several_envs(tmp_path, overlap):
    cfg = config.override(SMALL, {"speed.overlap": overlap})
    whole = DQN(cfg, run_dir=tmp_path / "whole", tensorboard=False)
    whole.learn()
    part = DQN(cfg, run_dir=tmp_path / "part", tensorboard=False)
    part.learn(700)
    resumed = DQN.load(tmp_path / "part", run_dir=tmp_path / "part", tensorboard=False)
    assert resumed.step == 702 and any(r.actions for r in resumed.rollouts)
    resumed.learn()
    assert comparable(read_metrics(tmp_path / "whole")) == comparable(read_metrics(tmp_path / "part"))
    for p, q in zip(whole.q_net.parameters(), resumed.q_net.parameters()):
        assert torch.equal(p, q)


def test_overlap_is_deterministic_and_learns_from_the_same_data():
    runs = [DQN(config.override(SMALL, {"speed.overlap": o}), tensorboard=False) for o in (True, True, False)]
    for m in runs:
        m.learn(900)
    a, b, serial = runs
    for p, q in zip(a.q_net.parameters(), b.q_net.parameters()):
        assert torch.equal(p, q)  # thread timing never changes the result
    # the same replay ratio; until the first update both act from the same network
    assert a.update == serial.update == (900 - 200) // 2
    assert a.episode_returns[:5] == serial.episode_returns[:5]
