"""Checkpoints: round trip, exact resume, damaged files, atomic writes, SIGTERM."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from deepq import DQN, checkpoint, config
from deepq.errors import DeepQError
from deepq.log import read_metrics
from deepq.presets import PRESETS

SMALL = config.override(PRESETS["cartpole"].config, {
    "total_steps": 2500, "learn_start": 200, "buffer_size": 5000, "hidden": [32, 32],
    "log_every": 100, "eval_every": 1000, "eval_episodes": 2, "stop_return": None, "seed": 3})


def comparable(rows):
    return [{k: v for k, v in r.items() if k not in ("wall_time", "steps_per_sec")} for r in rows]


def test_resume_equals_uninterrupted_run(tmp_path):
    whole = DQN(SMALL, run_dir=tmp_path / "whole", tensorboard=False)
    whole.learn()
    part = DQN(SMALL, run_dir=tmp_path / "part", tensorboard=False)
    part.learn(1337)  # stops mid-episode and mid-log-window
    assert part.step == 1337
    resumed = DQN.load(tmp_path / "part", run_dir=tmp_path / "part", tensorboard=False)
    assert resumed.step == 1337 and resumed.rollout.actions  # restored mid-episode
    resumed.learn()
    a, b = read_metrics(tmp_path / "whole"), read_metrics(tmp_path / "part")
    assert any(r["event"] == "train" for r in a) and any(r["event"] == "episode" for r in a)
    assert comparable(a) == comparable(b)
    for p, q in zip(whole.q_net.parameters(), resumed.q_net.parameters()):
        assert torch.equal(p, q)
    assert whole.episode_returns == resumed.episode_returns


def test_round_trip_restores_everything(tmp_path):
    m = DQN(SMALL, tensorboard=False)
    m.learn(700)
    path = m.save(tmp_path / "ck")
    assert path.parent == tmp_path / "ck" and (tmp_path / "ck" / "latest").is_file()
    n = DQN.load(tmp_path / "ck")
    for p, q in zip(m.target_net.parameters(), n.target_net.parameters()):
        assert torch.equal(p, q)
    sa, sb = m.optimizer.state_dict(), n.optimizer.state_dict()
    for pid in sa["state"]:
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(sa["state"][pid][key], sb["state"][pid][key])
    assert (n.step, n.update) == (m.step, m.update) == (700, (700 - 200) // 2)  # train_freq 2 after learn_start
    np.testing.assert_array_equal(m.replay.frames[: m.replay.size], n.replay.frames[: n.replay.size])
    assert m.replay_rng.bit_generator.state == n.replay_rng.bit_generator.state
    obs = np.zeros(4, np.float32)
    assert m.predict(obs) == n.predict(obs)


def _saved(tmp_path):
    m = DQN(SMALL, tensorboard=False)
    m.learn(300)
    return m.save(tmp_path / "ck")


def test_truncated_file_is_a_clear_error(tmp_path):
    ck = _saved(tmp_path)
    f = ck / "tensors.safetensors"
    f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(DeepQError, match="truncated"):
        DQN.load(tmp_path / "ck")


def test_flipped_byte_is_a_clear_error(tmp_path):
    ck = _saved(tmp_path)
    f = ck / "arrays" / "frames.npy"
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(DeepQError, match="corrupt"):
        DQN.load(tmp_path / "ck")


def test_foreign_or_garbage_files_are_clear_errors(tmp_path):
    d = tmp_path / "foreign"
    d.mkdir()
    (d / "state.json").write_text(json.dumps({"model": "something else"}))
    with pytest.raises(DeepQError, match="not a deepq checkpoint"):
        DQN.load(d)
    (d / "state.json").write_bytes(os.urandom(64))
    with pytest.raises(DeepQError, match="truncated or not JSON"):
        DQN.load(d)
    with pytest.raises(DeepQError, match="no checkpoint found"):
        DQN.load(tmp_path)


def test_crash_during_save_leaves_previous_checkpoint_whole(tmp_path, monkeypatch):
    m = DQN(SMALL, tensorboard=False)
    m.learn(300)
    first = m.save(tmp_path / "ck")
    m.learn(100)

    def exploding_save(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "save", exploding_save)
    with pytest.raises(DeepQError, match="cannot write checkpoint of step 400 .*disk full"):
        m.save(tmp_path / "ck")
    monkeypatch.undo()
    assert checkpoint.resolve(tmp_path / "ck") == first
    assert not list((tmp_path / "ck").glob(".tmp-*"))  # the half-written copy is gone
    assert DQN.load(tmp_path / "ck").step == 300


def test_sigterm_during_train_saves_a_checkpoint(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "deepq", "train", "cartpole", "--steps", "1000000", "--run-dir",
         str(run), "--no-progress", "--set", "eval_every=0", "--set", "stop_return=none"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(read_metrics(run)) < 3:
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err  # stopped, not finished
    assert "checkpoint saved" in err and "Traceback" not in err
    model = DQN.load(run)
    assert 0 < model.step < 1_000_000


def test_loading_without_replay_skips_the_arrays(tmp_path):
    ck = _saved(tmp_path)
    (ck / "arrays" / "frames.npy").write_bytes(b"damaged")  # not even read
    model = DQN.load(tmp_path / "ck", replay=False)
    assert model.replay is None and model.step == 300
    with pytest.raises(DeepQError, match="truncated"):
        DQN.load(tmp_path / "ck")


def test_api_from_preset_and_rng_state_in_json(tmp_path):
    model = DQN.from_preset("cartpole", seed=4, hidden=[16], learn_start=50, eval_every=0,
                            tensorboard=False)
    assert model.cfg.seed == 4 and model.cfg.hidden == (16,)
    model.learn(100)
    ck = model.save(tmp_path / "ck")
    state = json.loads((ck / "state.json").read_text())
    assert set(state["rng"]) >= {"python", "torch", "replay", "policy"}
    torch.manual_seed(123)
    DQN.load(ck)
    assert torch.equal(torch.get_rng_state(), torch.tensor(state["rng"]["torch"], dtype=torch.uint8))
    with pytest.raises(DeepQError, match="no dqn preset 'c51-cartpole'"):
        DQN.from_preset("c51-cartpole")
    with pytest.raises(DeepQError, match="unknown config key 'learning_rate'"):
        DQN.from_preset("cartpole", learning_rate=1.0)


def test_incomplete_state_is_a_clear_error(tmp_path):
    ck = _saved(tmp_path)
    state = json.loads((ck / "state.json").read_text())
    del state["counters"]
    (ck / "state.json").write_text(json.dumps(state))
    with pytest.raises(DeepQError, match="state.json has no .counters."):
        DQN.load(tmp_path / "ck")


@pytest.mark.parametrize("keep", [1, 2, 4])
def test_save_keeps_the_newest_before_it_and_drops_a_later_orphan(tmp_path, keep):
    """A process killed between finishing a step directory and naming it ``latest`` leaves
    a whole checkpoint ``latest`` never named; a run resumed from an earlier one goes on
    past it: the next save keeps itself and the keep − 1 newest before it, and the orphan
    from the abandoned history goes."""
    root = tmp_path / "checkpoints"
    t = {"w": torch.zeros(2)}
    for step in (100, 200, 300):
        checkpoint.save(root, step, t, {}, {}, keep=10)
    orphan = root / "step_0000000900"
    (root / "step_0000000300").rename(orphan)  # as if 900 was written and latest not updated
    checkpoint.save(root, 300, t, {}, {}, keep=10)  # latest names 300 again
    final = checkpoint.save(root, 300, t, {}, {}, keep=keep)
    assert final.name == "step_0000000300.1"
    names = sorted(p.name for p in root.iterdir())
    want = (["step_0000000100", "step_0000000200", "step_0000000300"][max(0, 3 - (keep - 1)):] if keep > 1 else [])
    assert names == sorted(["latest", final.name, *want])
    assert checkpoint.resolve(tmp_path) == final
