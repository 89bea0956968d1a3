"""The TensorFlow backend: numerics matched to torch on real Pong batches, graphs traced
once, exact resume, checkpoints shared by both backends, and one-line refusals."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from deepq import DQN, config
from deepq.cli import main
from deepq.presets import PRESETS

pytest.importorskip("tensorflow")  # the [tf] extra; `make test` installs it

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("tf_parity", ROOT / "bench" / "tf_parity.py")
tf_parity = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tf_parity)

SMALL = config.override(PRESETS["cartpole"].config, {
    "total_steps": 3000, "learn_start": 200, "buffer_size": 5000, "hidden": [32, 32],
    "log_every": 100, "eval_every": 0, "stop_return": None, "seed": 4, "backend": "tensorflow"})


@pytest.mark.parametrize("variant", ["dqn", "double", "n-step 3", "prioritized", "mse, norm clip 0.001"])
def test_matches_torch_on_pong_batches(variant):
    r = tf_parity.parity(tf_parity.VARIANTS[variant], updates=8, collect=300)
    assert r["q"] < 1e-5, r  # the same weights give the same Q-values
    assert r["loss"] < 1e-5 and r["q_mean"] < 1e-5, r
    assert r["weights_after_1"] < 1e-5 and r["q_after_1"] < 1e-5, r  # the same Adam step
    if variant == "prioritized":
        assert r["priorities"] < 1e-5, r
    # float32 reordering drifts slowly; a semantic mismatch (Keras's epsilon hat, per-variable
    # clipping, a flatten order) moves Q by ~1e-2 to 1e-1 within a few updates
    assert r["q_after_8"] < 1e-3, r


@pytest.mark.parametrize("variant", list(tf_parity.KERAS))
def test_a_plain_keras_port_would_fail_these_bounds(variant):
    """Keras's Adam epsilon and per-variable clipnorm, swapped in, break the bounds above."""
    kind, overrides = tf_parity.KERAS[variant]
    with tf_parity.keras_semantics(kind):
        r = tf_parity.parity(overrides, updates=8, collect=300)
    assert r["q"] < 1e-5 and r["loss"] < 1e-5, r  # the same network and loss ...
    assert r["weights_after_1"] > 1e-5 and r["q_after_8"] > 1e-4, r  # ... another update


def test_layout_conversion_round_trips_and_flattens_like_torch():
    from deepq import networks
    from deepq.tf.networks import QNetwork

    torch.manual_seed(0)
    for net, shape in ((networks.build((4, 84, 84), 6, (64,)), (4, 84, 84)),
                       (networks.build((4, 84, 84), 6, (64,), dueling=True), (4, 84, 84)),
                       (networks.build((4, 84, 84), 6, (64,), torso="nips"), (4, 84, 84)),
                       (networks.build((2, 10, 10), 4, (32,), dueling=True), (2, 10, 10)),
                       (networks.build((8,), 3, (16, 16), dueling=True), (8,))):
        tf_net = QNetwork(net, shape)
        back = tf_net.state_dict()
        assert all(torch.equal(back[k], v) for k, v in net.state_dict().items())
        obs = torch.randint(0, 256, (5, *shape), dtype=torch.uint8) if len(shape) == 3 \
            else torch.randn(5, *shape)
        with torch.no_grad():
            want = net(obs).numpy()
        assert np.abs(tf_net(obs.numpy()).numpy() - want).max() < 1e-5


def test_graphs_are_traced_once_over_100_updates():
    model = DQN(config.override(SMALL, {"total_steps": 400, "train_freq": 1, "target_sync": 50}))
    model.learn()
    assert model.update == 200
    assert model.learner.traces() == {"update": 1, "values": 1, "sync": 1}
    model.evaluate(2)  # acting on one observation at a time reuses the same graph
    model.predict(np.zeros((7, 4), np.float32))
    assert model.learner.traces()["values"] == 1


def test_resume_is_exact(tmp_path):
    whole = DQN(SMALL, run_dir=tmp_path / "whole", tensorboard=False)
    whole.learn(1500)
    part = DQN(SMALL, run_dir=tmp_path / "part", tensorboard=False)
    part.learn(777)
    resumed = DQN.load(tmp_path / "part", run_dir=tmp_path / "part", tensorboard=False)
    assert resumed.cfg.backend == "tensorflow" and not resumed.not_restored
    resumed.learn(1500 - 777)
    assert resumed.episode_returns == whole.episode_returns
    a, b = whole.learner.online.state_dict(), resumed.learner.online.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert int(resumed.learner.adam.step.numpy()) == whole.update


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A torch and a TensorFlow CartPole run, trained until their greedy policies balance."""
    runs = {}
    for backend in ("torch", "tensorflow"):
        run = tmp_path_factory.mktemp(backend) / "cp"
        assert main(["train", "cartpole", "--steps", "6000", "--seed", "1", "--run-dir", str(run),
                     "--no-progress", "--set", f"backend={backend}", "--set", "eval_every=0"]) == 0
        runs[backend] = run
    return runs


@pytest.mark.parametrize("trained_with, evaluated_with", [("torch", "tensorflow"), ("tensorflow", "torch")])
def test_a_checkpoint_evaluates_alike_in_the_other_backend(trained, trained_with, evaluated_with):
    run = trained[trained_with]
    same = DQN.load(run, replay=False, tensorboard=False)
    other = DQN.load(run, replay=False, tensorboard=False, overrides={"backend": evaluated_with})
    assert same.cfg.backend == trained_with and other.cfg.backend == evaluated_with
    a, b = same.evaluate(10, epsilon=0.0), other.evaluate(10, epsilon=0.0)
    assert a == b and len(set(a)) > 1  # ten real, varied episodes, the same in both
    assert np.mean(a) > 100  # a policy that learned something, so agreement means something


def test_cli_evaluates_in_the_other_backend(trained, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(trained["tensorflow"]), "--episodes", "3", "--eps", "0",
                 "--set", "backend=torch"]) == 0
    torch_out = capsys.readouterr().out.splitlines()[1]
    assert main(["evaluate", str(trained["tensorflow"]), "--episodes", "3", "--eps", "0"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == torch_out  # "returns: ..."


def test_resume_from_the_cli_keeps_the_backend(trained):
    run = trained["tensorflow"]
    assert main(["train", "--resume", str(run), "--steps", "6500", "--no-progress"]) == 0
    model = DQN.load(run, replay=False, tensorboard=False)
    assert model.step == 6500 and model.cfg.backend == "tensorflow"


@pytest.mark.parametrize("argv, message", [
    (["train", "c51-cartpole", "--set", "backend=tensorflow"],
     "backend tensorflow runs dqn only; 'c51' is not ported yet: use backend=torch"),
    (["train", "cartpole", "--set", "backend=tensorflow", "--set", "noisy=true"],
     "backend tensorflow has no noisy nets yet"),
    (["train", "cartpole", "--set", "backend=tensorflow", "--set", "speed.precision=bf16"],
     "backend tensorflow does not take speed.precision = bf16"),
    (["train", "cartpole", "--set", "backend=jax"],
     "config key 'backend' must be one of torch, tensorflow; got 'jax'"),
])
def test_refusals_are_one_line(argv, message, capsys, tmp_path):
    run = tmp_path / "run"
    assert main([*argv, "--run-dir", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not run.exists()


def test_without_tensorflow_installed_it_says_how_to_install(tmp_path):
    code = ("import sys; sys.modules['tensorflow'] = None\n"
            "from deepq.cli import main\n"
            f"sys.exit(main(['train', 'cartpole', '--set', 'backend=tensorflow', '--run-dir', "
            f"{str(tmp_path / 'r')!r}, '--no-progress']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == "deepq: error: backend tensorflow needs TensorFlow: pip install 'deepq[tf]'"


def test_importing_deepq_does_not_import_tensorflow():
    code = ("import sys, deepq, deepq.cli, deepq.presets, deepq.loop\n"
            "print('tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


def test_a_torch_run_with_tensorboard_does_not_import_tensorflow(tmp_path):
    """TensorBoard's writer imports TensorFlow when it is installed, unless told not to."""
    code = ("import sys\nfrom deepq import DQN\n"
            f"m = DQN.from_preset('cartpole', {str(tmp_path / 'run')!r}, total_steps=50)\n"
            "m.learn(); print('tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr[-2000:]
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))
    assert "oneDNN" not in done.stderr and "absl" not in done.stderr


def test_tensorflow_imported_before_torch_trains_too(tmp_path):
    code = ("import tensorflow, torch\n"
            "from deepq import DQN\n"
            "m = DQN.from_preset('cartpole', backend='tensorflow', total_steps=300, learn_start=100, "
            "eval_every=0)\n"
            "m.learn(); print(m.update)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                          cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "100", done.stderr[-2000:]
