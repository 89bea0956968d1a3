"""εz-greedy (Dabney et al. 2021): exploratory actions repeated for zeta-distributed
durations; off by default; exact resume with a repeat in progress."""

import numpy as np
import pytest
import torch

from deepq import DQN, agent, config
from deepq.cli import main
from deepq.log import read_metrics
from deepq.presets import PRESETS


def _policy(mu, seed=0, n_actions=3):
    q = torch.nn.Linear(2, n_actions)
    return agent.EpsilonGreedy(q, n_actions, np.random.default_rng(seed), repeat_mu=mu)


def _same_as_previous(actions):
    return float(np.mean(actions[1:] == actions[:-1]))


def test_exploratory_actions_come_in_runs():
    obs = np.zeros((1, 2), np.float32)
    p0, p2 = _policy(None), _policy(2.0)
    a0 = np.array([p0.batch(obs, 1.0)[0] for _ in range(5000)])
    a2 = np.array([p2.batch(obs, 1.0)[0] for _ in range(5000)])
    # uniform single steps repeat the previous action 1/3 of the time; with P(n) ∝ n^-2
    # most runs are 1 step but the long ones cover most of the steps
    assert abs(_same_as_previous(a0) - 1 / 3) < 0.03
    assert _same_as_previous(a2) > 0.6
    assert set(np.unique(a2)) == {0, 1, 2}


def test_a_repeat_overrides_greedy_until_it_ends_and_epsilon_zero_never_starts_one():
    p = _policy(2.0)
    obs = np.zeros((4, 2), np.float32)
    greedy = p.greedy_batch(obs)
    for _ in range(50):
        assert np.array_equal(p.batch(obs, 0.0), greedy)
    assert not p.left.any()
    p.left[:] = [3, 0, 0, 1]
    p.action[:] = (greedy + 1) % 3
    got = p.batch(obs, 0.0)
    assert got[0] == (greedy[0] + 1) % 3 and got[3] == (greedy[3] + 1) % 3
    assert np.array_equal(got[1:3], greedy[1:3]) and list(p.left) == [2, 0, 0, 0]


@pytest.mark.parametrize("value", ["1", "0.5", "0", "-2", "nan"])
def test_mu_at_or_below_one_is_one_line(value, tmp_path, capsys):
    assert main(["train", "cartpole", "--steps", "10", "--set", f"eps_repeat_mu={value}",
                 "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("deepq: error: config key 'eps_repeat_mu' must be"), err
    assert not (tmp_path / "run").exists()


def test_resume_with_a_repeat_in_progress_equals_the_uninterrupted_run(tmp_path):
    cfg = config.override(PRESETS["cartpole"].config, {
        "total_steps": 1500, "learn_start": 200, "buffer_size": 3000, "hidden": [16],
        "log_every": 100, "eval_every": 0, "stop_return": None, "seed": 5, "eps_repeat_mu": 1.5})
    whole = DQN(cfg, run_dir=tmp_path / "whole", tensorboard=False)
    whole.learn()
    part = DQN(cfg, run_dir=tmp_path / "part", tensorboard=False)
    for stop in range(300, 1500, 37):  # stop where an exploratory run is still going
        part.learn(stop - part.step)
        if part.learner.policy.left.any():
            break
    assert part.learner.policy.left.any()
    resumed = DQN.load(tmp_path / "part", run_dir=tmp_path / "part", tensorboard=False)
    assert np.array_equal(resumed.learner.policy.left, part.learner.policy.left)
    resumed.learn()

    def rows(run):
        return [{k: v for k, v in r.items() if k not in ("wall_time", "steps_per_sec")}
                for r in read_metrics(run)]

    assert rows(tmp_path / "whole") == rows(tmp_path / "part")
