"""Bad input to the config and the command line ends in one line (``deepq: error: ...``,
exit status 2): never a traceback, never a hang."""

import dataclasses
import importlib.util
import json
import math
import os
import typing

import gymnasium as gym
import pytest

from deepq import config, envs
from deepq.algos.dqn import DQN, DQNConfig
from deepq.cli import ALGORITHMS, main
from deepq.errors import DeepQError

CONFIGS = [cls.Config for cls in ALGORITHMS.values()]


def fields_of(kind: type) -> list[tuple[type, str]]:
    """(config class, field name) for every field of type ``kind`` (or ``kind | None``)."""
    out = []
    for cls in CONFIGS:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            base, _ = config._split_optional(hints[f.name])
            if base is kind:
                out.append((cls, f.name))
    return out


FLOAT_FIELDS = fields_of(float)
INT_FIELDS = fields_of(int)


def one_line_error(argv: list[str], capsys) -> str:
    """Run the CLI on ``argv``; assert it printed exactly one error line and exited 2."""
    capsys.readouterr()
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("deepq: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def test_the_field_lists_cover_what_they_should():
    names = {name for _, name in FLOAT_FIELDS}
    assert {"gamma", "tau", "lr", "adam_eps", "noisy_sigma0", "grad_clip_norm", "per_alpha",
            "stop_return", "v_min", "kappa", "m_tau"} <= names
    assert {"seed", "total_steps", "batch_size", "n_atoms", "n_tau"} <= {name for _, name in INT_FIELDS}


# 1. NaN and ±inf, wherever a finite number is meant


@pytest.mark.parametrize("cls, name", FLOAT_FIELDS, ids=[f"{c.__name__}.{n}" for c, n in FLOAT_FIELDS])
def test_every_float_field_rejects_nan_and_inf(cls, name):
    for bad in (math.nan, math.inf, -math.inf, 10**400):
        with pytest.raises(DeepQError, match=f"config key '{name}' must be a finite number"):
            config.check(cls(**{name: bad}))
    for text in ("nan", "NaN", "inf", "-inf", "1e999"):
        with pytest.raises(DeepQError, match=f"config key '{name}' must be a finite number"):
            config.override(cls(), {name: text})


def test_nan_message_names_the_key_and_the_value(capsys):
    line = one_line_error(["train", "cartpole", "--set", "gamma=nan"], capsys)
    assert line == "deepq: error: config key 'gamma' must be a finite number; got nan"
    line = one_line_error(["train", "cartpole", "--set", "stop_return=-inf"], capsys)
    assert "config key 'stop_return' must be a finite number; got -inf" in line


def test_per_alpha_nan_is_refused_before_training_starts():
    # it used to hang in the priority tree's sampling
    with pytest.raises(DeepQError, match="'per_alpha' must be a finite number"):
        DQN(DQNConfig(prioritized=True, per_alpha=math.nan, learn_start=10, total_steps=50))


# 2. integers within what random, numpy, torch (and EnvPool) take


@pytest.mark.parametrize("cls, name", INT_FIELDS, ids=[f"{c.__name__}.{n}" for c, n in INT_FIELDS])
def test_every_int_field_is_bounded(cls, name):
    for bad in (2**63, 10**30, 10**5000):
        with pytest.raises(DeepQError, match=f"config key '{name}' must be <= "):
            config.check(cls(**{name: bad}))
    with pytest.raises(DeepQError, match=f"config key '{name}' must be <= 2\\*\\*63 - 1"):
        config.override(cls(), {name: str(2**64)})


def test_huge_seed_on_the_command_line_is_one_line(capsys):
    line = one_line_error(["train", "cartpole", "--seed", "99999999999999999999"], capsys)
    assert "config key 'seed' must be <= 2**63 - 1; got 99999999999999999999" in line
    line = one_line_error(["train", "cartpole", "--set", "hidden=64," + "9" * 5000], capsys)
    assert "config key 'hidden'" in line and len(line) < 300


def test_the_largest_seed_trains(tmp_path):
    run = tmp_path / "cp"
    assert main(["train", "cartpole", "--steps", "200", "--seed", str(config.INT_MAX), "--run-dir",
                 str(run), "--no-progress", "--set", "learn_start=100", "--set", "eval_every=100",
                 "--set", "eval_episodes=1"]) == 0
    assert json.loads((run / "config.json").read_text())["seed"] == 2**63 - 1


def test_envpool_refuses_seeds_beyond_int32():
    with pytest.raises(DeepQError, match="envpool takes seeds below 2\\*\\*31"):
        envs.make_pool("PongNoFrameskip-v4", 1, 2**31)


def test_digit_strings_convert_exactly():
    cfg = config.override(DQNConfig(), {"seed": "9007199254740993", "total_steps": "1e6"})
    assert (cfg.seed, cfg.total_steps) == (2**53 + 1, 1_000_000)


# 3. types, for configs made in Python


@pytest.mark.parametrize("changes, message", [
    ({"hidden": "64"}, "config key 'hidden' expects a tuple of int, got '64'"),
    ({"hidden": [64, 64]}, "config key 'hidden' expects a tuple of int, got [64, 64]"),
    ({"hidden": (64, True)}, "config key 'hidden' expects a tuple of int"),
    ({"lr": "0.1"}, "config key 'lr' expects float, got '0.1'"),
    ({"batch_size": 3.5}, "config key 'batch_size' expects int, got 3.5"),
    ({"batch_size": True}, "config key 'batch_size' expects int, got True"),
    ({"double": 1}, "config key 'double' expects bool, got 1"),
    ({"env_id": None}, "config key 'env_id' expects str, got None"),
    ({"stop_return": "high"}, "config key 'stop_return' expects float or none, got 'high'"),
    ({"loss": 3}, "config key 'loss' expects str, got 3"),
])
def test_wrong_python_types_name_the_key_and_the_type(changes, message):
    with pytest.raises(DeepQError, match=message.replace("[", r"\[").replace("(", r"\(").replace(".", r"\.")):
        config.check(DQNConfig(**changes))


def test_ints_are_floats_and_none_is_an_optional_float():
    config.check(DQNConfig(lr=1, eps_decay=5000, stop_return=None, gamma=0))
    config.check(DQNConfig(stop_return=100))


def test_the_learner_checks_types_before_building_anything():
    with pytest.raises(DeepQError, match="'lr' expects float"):
        DQN(DQNConfig(lr="0.1"))


# 4. config files


def test_config_file_problems_are_one_line_each(tmp_path, capsys):
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes('env_id = "Caf\xe9"\n'.encode("latin-1"))
    line = one_line_error(["train", "cartpole", "--config", str(latin1)], capsys)
    assert "is not UTF-8 text" in line
    line = one_line_error(["train", "cartpole", "--config", str(tmp_path)], capsys)
    assert f"config file {tmp_path} is a directory" in line
    line = one_line_error(["train", "cartpole", "--config", str(latin1 / "x.toml")], capsys)
    assert "cannot read config file" in line
    line = one_line_error(["train", "cartpole", "--config", "/dev/zero"], capsys)  # would never end
    assert "is not a regular file" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_config_file(tmp_path, capsys):
    f = tmp_path / "secret.toml"
    f.write_text("lr = 0.001\n")
    f.chmod(0)
    line = one_line_error(["train", "cartpole", "--config", str(f)], capsys)
    assert "cannot read config file" in line and "Permission denied" in line


def test_unreadable_config_file_even_as_root(tmp_path, monkeypatch):
    def denied(path, mode="r"):
        raise PermissionError(13, "Permission denied", str(path))

    f = tmp_path / "secret.toml"
    f.write_text("lr = 0.001\n")
    monkeypatch.setattr(config, "open", denied, raising=False)  # load_toml's open
    with pytest.raises(DeepQError, match="cannot read config file .*: Permission denied"):
        config.load_toml(f)


@pytest.mark.parametrize("text, message", [
    ("[section]\nlr = 0.001\n", "unknown config key 'section.lr'"),  # tables are groups: [speed]
    ("lr = {value = 0.001}\n", "unknown config key 'lr.value'"),
    ("[speed.x]\ny = 1\n", "'speed'.'x' is a table; groups hold only `key = value` lines"),
    ("speed = 1\n", "config key 'speed' is a group: set its keys as speed.NAME=VALUE"),
    ("[speed]\nthreads = -1\n", "config key 'speed.threads' must be >= 0; got -1"),
    ("[[runs]]\nseed = 1\n", "config key 'runs'"),  # an array of tables: not a known key
    ("hidden = [{a = 1}]\n", "config key 'hidden' expects int, got {'a': 1}"),
    ("lr = 1979-05-27\n", "config key 'lr' expects float"),
    ("seed = " + "9" * 5000 + "\n", "holds a value Python cannot read"),
    ("hidden = " + "[" * 5000 + "]" * 5000 + "\n", "nests arrays or tables too deeply"),
    ("lr = nan\n", "config key 'lr' must be a finite number; got nan"),
    ("lr = " + "9" * 400 + "\n", "config key 'lr' expects float, got an integer of about 400 digits"),
])
def test_toml_values_of_the_wrong_shape(tmp_path, text, message):
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(DeepQError, match=message.replace("[", r"\[").replace("(", r"\(")) as e:
        config.override(DQNConfig(), config.load_toml(f))
    assert "\n" not in str(e.value)


# 5. command-line arguments


@pytest.mark.parametrize("argv, message", [
    (["train", "cartpole", "--steps", "0"], "--steps must be at least 1; got 0"),
    (["train", "cartpole", "--steps", "-5"], "--steps must be at least 1; got -5"),
    (["train", "--resume", "nowhere", "--steps", "0"], "--steps must be at least 1; got 0"),
    (["train", "cartpole", "--seed", "-1"], "config key 'seed' must be >= 0; got -1"),
    (["train", "cartpole", "--seed", "one"], "argument --seed: invalid int value: 'one'"),
    (["evaluate", "nowhere", "--episodes", "0"], "--episodes must be at least 1; got 0"),
    (["train", "cartpole", "--set", "lr"], "--set expects key=value, got 'lr'"),
    (["train", "cartpole", "--bogus"], "unrecognized arguments: --bogus"),
    (["nonsense"], "invalid choice: 'nonsense'"),
    (["train", "cartpole", "--set", "nope\nnope=1"], "unknown config key 'nope\\nnope'"),
])
def test_bad_arguments_are_one_line(argv, message, capsys):
    assert message in one_line_error(argv, capsys)


def test_run_dir_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "taken"
    f.write_text("not a run")
    line = one_line_error(["train", "cartpole", "--run-dir", str(f)], capsys)
    assert f"run directory {f} exists and is not a directory" in line
    line = one_line_error(["train", "cartpole", "--run-dir", str(f / "run")], capsys)
    assert f"cannot create and write the run directory {f / 'run'}" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_run_dir_under_a_read_only_directory(tmp_path, capsys):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        line = one_line_error(["train", "cartpole", "--run-dir", str(parent / "run")], capsys)
    finally:
        parent.chmod(0o700)
    assert "Permission denied" in line


def test_run_dir_that_cannot_be_written(tmp_path, capsys, monkeypatch):
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    line = one_line_error(["train", "cartpole", "--run-dir", str(tmp_path / "a" / "run")], capsys)
    assert "Read-only file system" in line
    assert not (tmp_path / "a").exists()  # the try leaves nothing behind


def test_a_failed_start_leaves_no_run_directory(tmp_path, capsys):
    run = tmp_path / "deep" / "run"
    one_line_error(["train", "cartpole", "--set", "env_id=NoSuchGame-v9", "--run-dir", str(run)], capsys)
    assert not (tmp_path / "deep").exists()


# 6. environment ids


@pytest.mark.parametrize("env_id, message", [
    ("NoSuchGame-v9", "unknown environment 'NoSuchGame-v9'"),
    ("CartPole-v9", "unknown environment 'CartPole-v9'"),
    ("not an id", "unknown environment 'not an id'"),
    ("Pendulum-v1", "discrete action space"),
    ("Blackjack-v1", "has a Tuple observation space"),
])
def test_environments_deepq_cannot_use(env_id, message, tmp_path, capsys):
    assert message in one_line_error(["train", "cartpole", "--set", f"env_id={env_id}",
                                      "--run-dir", str(tmp_path / "run")], capsys)


@pytest.mark.skipif(importlib.util.find_spec("jax") is not None, reason="jax is installed")
def test_environment_needing_jax_names_the_package(tmp_path, capsys):
    line = one_line_error(["train", "phys2d/CartPole-v1", "--run-dir", str(tmp_path / "run")], capsys)
    assert "environment 'phys2d/CartPole-v1' needs the Python package 'jax'" in line
    assert 'pip install "gymnasium[jax]"' in line


@pytest.mark.skipif(importlib.util.find_spec("shimmy") is not None, reason="shimmy is installed")
def test_environment_needing_shimmy_names_the_package(tmp_path, capsys):
    line = one_line_error(["train", "GymV26Environment-v0", "--run-dir", str(tmp_path / "run")], capsys)
    assert "environment 'GymV26Environment-v0' needs a package" in line and "shimmy" in line


def test_unknown_failures_of_gym_make_are_not_swallowed(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the environment")

    monkeypatch.setattr(gym, "make", broken)
    with pytest.raises(RuntimeError, match="a bug in the environment"):
        envs.make("CartPole-v1")


def test_discrete_actions_not_numbered_from_zero_are_refused(monkeypatch):
    real_make = gym.make

    def shifted(*args, **kwargs):
        env = real_make(*args, **kwargs)
        env.action_space = gym.spaces.Discrete(2, start=1)
        return env

    monkeypatch.setattr(gym, "make", shifted)
    with pytest.raises(DeepQError, match="needs a discrete action space"):
        envs.make("CartPole-v1")
