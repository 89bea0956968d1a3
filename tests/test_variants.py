"""Every variant preset trains in-process; the CLI dispatches by algorithm; checkpoints
of every algorithm resume and evaluate; plain DQN is unchanged by the variant fields."""

import dataclasses

import numpy as np
import pytest
import torch

from deepq import DQN, DQNConfig, config
from deepq.cli import main
from deepq.presets import ALGORITHMS
from deepq.errors import DeepQError
from deepq.log import read_metrics
from deepq.presets import PRESETS

CORE = {"seed-pong", "pong", "cartpole"}
# Ape-X's presets train on Ray actors: tests/test_apex.py trains them
DISTRIBUTED = {n for n in PRESETS if PRESETS[n].algorithm == "apex"}
CARTPOLE = sorted(n for n in PRESETS if n not in CORE | DISTRIBUTED and PRESETS[n].config.env_id == "CartPole-v1")
PONG = sorted(n for n in PRESETS if n not in CORE | DISTRIBUTED and "Pong" in PRESETS[n].config.env_id)


def build(name, **small):
    cfg = PRESETS[name].config
    cfg = config.override(cfg, {"eval_every": 0, "stop_return": None, "checkpoint_every": 0, **small})
    return ALGORITHMS[PRESETS[name].algorithm](cfg, tensorboard=False)


def params(model):
    return torch.cat([p.detach().flatten().clone() for p in model.q_net.parameters()])


def test_every_algorithm_has_cartpole_and_pong_presets():
    algorithms = {PRESETS[n].algorithm for n in CARTPOLE} & {PRESETS[n].algorithm for n in PONG}
    assert algorithms == set(ALGORITHMS) - {"apex"}
    assert {"apex-cartpole", "apex-pong"} == DISTRIBUTED
    for v in ("double", "dueling", "noisy", "nstep", "per", "c51", "qrdqn", "iqn", "munchausen", "rainbow"):
        assert f"{v}-cartpole" in PRESETS and f"{v}-pong" in PRESETS
    assert "rainbow-atari100k" in PRESETS


@pytest.mark.parametrize("name", CARTPOLE)
def test_cartpole_preset_trains_a_few_hundred_steps(name):
    model = build(name, learn_start=100, buffer_size=2000, hidden=[32, 32], log_every=100)
    before = params(model)
    model.learn(300)
    assert model.step == 300 and model.update > 0
    after = params(model)
    assert torch.isfinite(after).all() and not torch.equal(before, after)
    assert np.mean(model.evaluate(1)) > 0


@pytest.mark.parametrize("name", PONG)
def test_pong_preset_trains_a_few_hundred_steps(name):
    model = build(name, learn_start=100, buffer_size=2000, batch_size=8, train_freq=4)
    before = params(model)
    model.learn(200)
    assert model.step == 200 and model.update == 25
    after = params(model)
    assert torch.isfinite(after).all() and not torch.equal(before, after)


def test_defaults_of_the_variant_fields_are_plain_dqn():
    d = DQNConfig()
    assert (d.double, d.dueling, d.noisy, d.n_step, d.prioritized) == (False, False, False, 1, False)
    for algorithm, cls in ALGORITHMS.items():
        cfg_cls = cls.Config
        names = {f.name for f in dataclasses.fields(cfg_cls)}
        for f in dataclasses.fields(cfg_cls):
            assert f.metadata.get("doc"), (cfg_cls.__name__, f.name)
        defaults = cfg_cls()
        on = algorithm == "rainbow"  # Rainbow is all six components
        for flag in ("double", "dueling", "noisy", "prioritized"):
            if flag in names:
                # Ape-X's replay is prioritized by definition (apex.check refuses it off)
                want = on or (algorithm, flag) == ("apex", "prioritized")
                assert getattr(defaults, flag) is want, (algorithm, flag)


def test_rainbow_presets_have_all_six_components():
    for name in ("rainbow-cartpole", "rainbow-pong", "rainbow-atari100k"):
        c = PRESETS[name].config
        assert (c.double, c.dueling, c.noisy, c.prioritized) == (True,) * 4, name
        assert c.n_step >= 3 and c.n_atoms == 51, name
    assert PRESETS["rainbow-atari100k"].config.n_step == 20
    assert PRESETS["rainbow-atari100k"].config.noisy_sigma0 == 0.1


def test_noisy_nets_act_without_epsilon():
    model = build("noisy-cartpole")
    assert model.epsilon() == 0.0 and build("cartpole").epsilon() == 1.0


@pytest.mark.parametrize("name", ["c51-cartpole", "qrdqn-cartpole", "iqn-cartpole",
                                  "munchausen-cartpole", "rainbow-cartpole", "per-cartpole"])
def test_cli_train_resume_evaluate_each_algorithm(name, tmp_path, capsys):
    run = tmp_path / "run"
    fast = ["--set", "learn_start=100", "--set", "buffer_size=2000", "--set", "hidden=32,32",
            "--set", "eval_every=0", "--set", "log_every=100", "--set", "checkpoint_every=0",
            "--no-progress"]
    assert main(["train", name, "--steps", "200", "--run-dir", str(run), *fast]) == 0
    assert main(["train", "--resume", str(run), "--steps", "250", "--no-progress"]) == 0
    cls = ALGORITHMS[PRESETS[name].algorithm]
    assert cls.load(run, tensorboard=False).step == 250
    capsys.readouterr()
    assert main(["evaluate", str(run), "--episodes", "1"]) == 0
    assert "CartPole-v1 at step 250: mean return" in capsys.readouterr().out


def test_resume_equals_uninterrupted_for_rainbow(tmp_path):
    small = {"learn_start": 100, "buffer_size": 2000, "hidden": [32, 32], "log_every": 50,
             "eval_every": 0, "stop_return": None, "total_steps": 500, "checkpoint_every": 0}
    cfg = config.override(PRESETS["rainbow-cartpole"].config, small)
    cls = ALGORITHMS["rainbow"]
    whole = cls(cfg, run_dir=tmp_path / "whole", tensorboard=False)
    whole.learn()
    part = cls(cfg, run_dir=tmp_path / "part", tensorboard=False)
    part.learn(237)
    resumed = cls.load(tmp_path / "part", run_dir=tmp_path / "part", tensorboard=False)
    resumed.learn()
    drop = ("wall_time", "steps_per_sec")
    rows = [[{k: v for k, v in r.items() if k not in drop} for r in read_metrics(tmp_path / d)]
            for d in ("whole", "part")]
    assert rows[0] == rows[1]
    assert torch.equal(params(whole), params(resumed))


def test_loading_a_checkpoint_with_the_wrong_class_is_a_clear_error(tmp_path):
    model = build("c51-cartpole", learn_start=10, buffer_size=100)
    model.learn(20)
    model.save(tmp_path / "ck")
    with pytest.raises(DeepQError, match="holds a 'c51' checkpoint, not dqn"):
        DQN.load(tmp_path / "ck")


@pytest.mark.parametrize("argv, message", [
    (["train", "c51-cartpole", "--set", "v_min=5", "--set", "v_max=1"], "v_min < v_max"),
    (["train", "rainbow-cartpole", "--set", "n_step=40", "--set", "buffer_size=50"],
     "buffer_size >= 2·n_step + 2"),
    (["train", "iqn-cartpole", "--set", "noisy=true"], "iqn does not implement dueling or noisy heads"),
    (["train", "munchausen-cartpole", "--set", "double=true"], "munchausen has no double variant"),
    (["train", "nope-cartpole"], "unknown environment 'nope-cartpole'"),
    (["compare", "/no/such/run"], "no such run directory"),
])
def test_bad_variant_input_is_one_line_error(argv, message, capsys, tmp_path):
    extra = ["--no-progress", "--run-dir", str(tmp_path / "run")] if argv[0] == "train" else []
    assert main(argv + extra) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
