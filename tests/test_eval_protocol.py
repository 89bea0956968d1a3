"""Evaluation settings: Machado et al. 2018's protocol (sticky actions, the full action
set, the frame cap, no life-loss terminal), checked against the ALE itself; the
evaluation ε defaults to the training schedule's final value."""

import numpy as np
import pytest

from deepq import agent, envs
from deepq.algos.dqn import DQN, DQNConfig
from deepq.cli import main


def _ale(env):
    return env.unwrapped.ale


def test_machado_env_is_the_v5_game_with_the_protocol_settings():
    env = envs.make_machado("PongNoFrameskip-v4")
    ale = _ale(env)
    assert env.spec is not None and env.unwrapped.spec.id == "ALE/Pong-v5"
    assert ale.getFloat("repeat_action_probability") == pytest.approx(0.25)
    assert ale.getInt("max_num_frames_per_episode") == 108_000
    assert ale.getInt("frame_skip") == 1  # the 4-frame skip is AtariPreprocessing's, sticky per frame
    assert env.unwrapped.action_space.n == 18  # the full action set ...
    trained = envs.make("PongNoFrameskip-v4")
    assert env.action_space.n == trained.action_space.n == 6  # ... which the agent's 6 map into
    full = env.unwrapped.get_action_meanings()
    mapped = [full[a] for a in env.get_wrapper_attr("actions")]
    assert mapped == trained.unwrapped.get_action_meanings()  # NOOP FIRE RIGHT LEFT RIGHTFIRE LEFTFIRE
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert envs.machado_id("ALE/Breakout-v5") == "ALE/Breakout-v5"
    assert envs.machado_id("SpaceInvadersNoFrameskip-v4") == "ALE/SpaceInvaders-v5"
    env.close()
    trained.close()


def _trajectory(env, seed: int, steps: int = 150) -> np.ndarray:
    env.reset(seed=seed)
    frames = []
    for t in range(steps):  # the same action sequence every time: up and down in bursts
        obs, *_ = env.step(2 if (t // 7) % 2 else 3)
        frames.append(obs[-1])
    return np.stack(frames)


def test_sticky_actions_make_the_same_actions_play_out_differently():
    """Pong is deterministic: one action sequence gives one game, whatever the seed, unless
    actions are sticky (then the seed decides which frames repeat the last action)."""
    plain = envs.make("PongNoFrameskip-v4", noop_max=0)
    assert np.array_equal(_trajectory(plain, 1), _trajectory(plain, 2))
    sticky = envs.make_machado("PongNoFrameskip-v4")
    assert not np.array_equal(_trajectory(sticky, 1), _trajectory(sticky, 2))
    assert np.array_equal(_trajectory(sticky, 1), _trajectory(sticky, 1))  # seeded, so repeatable
    plain.close()
    sticky.close()


@pytest.mark.parametrize("protocol", ["train", "machado"])
def test_an_evaluation_episode_is_the_whole_game_not_one_life(protocol):
    env = envs.make_machado("BreakoutNoFrameskip-v4") if protocol == "machado" \
        else envs.make("BreakoutNoFrameskip-v4")
    env.reset(seed=0)
    assert _ale(env).lives() == 5
    rng = np.random.default_rng(0)
    returns = agent.evaluate(env, lambda obs: int(rng.integers(env.action_space.n)), episodes=1,
                             seed=0, stream=1)
    assert len(returns) == 1
    assert _ale(env).lives() == 0 and _ale(env).game_over()  # all five lives were played
    env.close()


def test_evaluation_epsilon_defaults_to_the_final_training_epsilon():
    model = DQN(DQNConfig(env_id="CartPole-v1", eps_final=0.07, hidden=(8,)), tensorboard=False)
    assert model.cfg.eval_eps is None and model.eval_epsilon() == pytest.approx(0.07)
    noisy = DQN(DQNConfig(env_id="CartPole-v1", noisy=True, hidden=(8,)), tensorboard=False)
    assert noisy.eval_epsilon() == 0.0
    given = DQN(DQNConfig(env_id="CartPole-v1", eval_eps=0.0, hidden=(8,)), tensorboard=False)
    assert given.eval_epsilon() == 0.0


def test_machado_is_refused_for_a_game_that_is_not_atari(tmp_path, capsys):
    assert main(["train", "cartpole", "--steps", "10", "--set", "eval_protocol=machado",
                 "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "deepq: error: eval_protocol = machado is for Atari games; 'CartPole-v1' is not one"


def test_cli_evaluates_a_pong_run_under_either_protocol(tmp_path, capsys):
    run = tmp_path / "pong"
    assert main(["train", "pong", "--steps", "200", "--run-dir", str(run), "--no-progress",
                 "--set", "learn_start=100", "--set", "buffer_size=1000",
                 "--set", "checkpoint_every=0"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--episodes", "1", "--protocol", "machado"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ALE/Pong-v5 (Machado et al. 2018: sticky actions 0.25") and "(ε = 0.01)" in out
    score = float(out.split("mean return ")[1].split()[0])
    assert -21 <= score <= 21
    assert main(["evaluate", str(run), "--episodes", "1", "--eps", "0"]) == 0
    assert capsys.readouterr().out.startswith("PongNoFrameskip-v4 at step 200")
