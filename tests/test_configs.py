"""Config validation: one clear error naming the key; presets are valid values."""

import dataclasses
from pathlib import Path

import pytest

from deepq import config
from deepq.algos.dqn import DQNConfig
from deepq.errors import DeepQError
from deepq.presets import PRESETS


def test_string_overrides_are_typed():
    cfg = config.override(DQNConfig(), config.parse_set(
        ["lr=3e-4", "batch_size=64", "clip_rewards=true", "hidden=32,16", "stop_return=none",
         "total_steps=1e6"]))
    assert (cfg.lr, cfg.batch_size, cfg.clip_rewards, cfg.hidden, cfg.stop_return, cfg.total_steps) == \
        (3e-4, 64, True, (32, 16), None, 1_000_000)


@pytest.mark.parametrize("pair, message", [
    ("lr=fast", "config key 'lr' expects float, got 'fast'"),
    ("batch_size=3.5", "config key 'batch_size' expects int"),
    ("clip_rewards=maybe", "config key 'clip_rewards' expects bool"),
    ("learning_rate=1e-3", "unknown config key 'learning_rate'"),
    ("gamma=1.5", "config key 'gamma' must be <= 1.0; got 1.5"),
    ("lr=0", "config key 'lr' must be > 0.0"),
    ("buffer_size=1", "config key 'buffer_size' must be >= 2"),
    ("loss=l1", "config key 'loss' must be one of huber, mse"),
    ("hidden=64,0", "config key 'hidden' must be >= 1"),
])
def test_bad_values_name_the_key(pair, message):
    with pytest.raises(DeepQError, match=message.replace("(", r"\(").replace(".", r"\.")):
        config.override(DQNConfig(), config.parse_set([pair]))


def test_set_without_equals_is_an_error():
    with pytest.raises(DeepQError, match="--set expects key=value"):
        config.parse_set(["lr"])


def test_toml_file(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('lr = 0.0005\nhidden = [32, 32]\neps_schedule = "linear"\n')
    cfg = config.override(DQNConfig(), config.load_toml(f))
    assert (cfg.lr, cfg.hidden, cfg.eps_schedule) == (0.0005, (32, 32), "linear")
    f.write_text("lr = = 1")
    with pytest.raises(DeepQError, match="not valid TOML"):
        config.load_toml(f)
    f.write_text('batch_size = "big"\n')
    with pytest.raises(DeepQError, match="'batch_size' expects int"):
        config.override(DQNConfig(), config.load_toml(f))


def test_round_trip_through_dict():
    cfg = PRESETS["cartpole"].config
    assert config.from_dict(DQNConfig, config.to_dict(cfg)) == cfg


def test_every_field_is_documented_once_with_its_range_checked():
    for f in dataclasses.fields(DQNConfig):
        assert f.metadata.get("doc"), f.name
    for name, preset in PRESETS.items():
        config.check(preset.config)


def test_seed_pong_is_the_design_documents_run():
    c = PRESETS["seed-pong"].config
    assert (c.env_id, c.frame_stack, c.lr, c.gamma, c.buffer_size, c.batch_size, c.learn_start,
            c.target_sync, c.eps_schedule, c.eps_start, c.eps_final, c.eps_decay, c.total_steps,
            c.train_freq, c.stop_return, c.stop_window) == \
        ("PongNoFrameskip-v4", 1, 1e-4, 0.99, 100_000, 32, 10_000, 1000, "exponential", 1.0,
         0.01, 30_000, 1_000_000, 1, 19.0, 10)
    assert PRESETS["pong"].config == dataclasses.replace(c, frame_stack=4)


def test_make_train_runs_pong_quick_which_is_pong_fast_with_six_changes():
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    train = makefile.split("\ntrain:", 1)[1].split("\n\n", 1)[0]
    assert "deepq train pong-quick --run-dir runs/pong-quick" in train and "--resume runs/pong-quick" in train
    quick, fast = PRESETS["pong-quick"].config, PRESETS["pong-fast"].config
    assert quick == dataclasses.replace(fast, torso="nips", train_freq=4, target_sync=4000, eps_decay=100_000,
                                        prioritized=True, adam_eps=1.5e-4)
    assert not fast.prioritized and fast.adam_eps == 1e-8
    assert fast.torso == "nature" and PRESETS["seed-pong"].config.torso == "nature"
