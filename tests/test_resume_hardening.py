"""Resume is exact or says why not; a diverged or stuck run never damages a checkpoint;
the Python API names what it expects instead of passing torch and numpy errors on."""

import json
import os
import signal
import threading

import numpy as np
import pytest
import torch

from deepq import DQN, checkpoint, config
from deepq import run
from deepq.errors import DeepQError, DeepQWarning
from deepq.log import read_metrics
from deepq.presets import PRESETS

SMALL = config.override(PRESETS["cartpole"].config, {
    "total_steps": 2000, "learn_start": 100, "buffer_size": 3000, "hidden": [16],
    "log_every": 100, "eval_every": 0, "stop_return": None, "checkpoint_every": 300, "seed": 2})


def _run(tmp_path, steps=400):
    model = DQN(SMALL, run_dir=tmp_path / "run", tensorboard=False)
    model.learn(steps)
    return model, tmp_path / "run"


def _rewrite(ck, drop_tensors=(), drop_state=()):
    """Remove parts of a checkpoint and fix state.json's file list to match."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(ck / "tensors.safetensors"))
    save_file({k: v for k, v in tensors.items() if not k.startswith(drop_tensors)},
              str(ck / "tensors.safetensors"))
    state = json.loads((ck / "state.json").read_text())
    for key in drop_state:
        del state[key]
    f = ck / "tensors.safetensors"
    state["files"]["tensors.safetensors"] = {"bytes": f.stat().st_size, "sha256": checkpoint._sha256(f)}
    (ck / "state.json").write_text(json.dumps(state))


def test_resume_lists_what_it_restored(tmp_path):
    _, run = _run(tmp_path)
    model = DQN.load(run, tensorboard=False)
    assert model.restored[:4] == ["weights", "optimizer", "counters", "RNG states"]
    assert model.restored[4].startswith("replay (") and model.restored[5] == "1 environment' episodes"
    assert model.not_restored == []


@pytest.mark.parametrize("drop_tensors, drop_state, missing", [
    (("optim.",), (), "optimizer state"),
    ((), ("optimizer",), "optimizer state"),
    ((), ("rng",), "RNG states"),
    ((), ("rollout",), "environment actions"),
])
def test_a_missing_part_refuses_to_resume_unless_allowed(tmp_path, drop_tensors, drop_state, missing):
    _, run = _run(tmp_path)
    ck = checkpoint.resolve(run)
    _rewrite(ck, drop_tensors, drop_state)
    model = DQN.load(run, run_dir=run, tensorboard=False)
    assert missing in model.not_restored
    with pytest.raises(DeepQError, match=f"cannot resume exactly: the checkpoint lacks {missing}"):
        model.learn(50)
    model = DQN.load(run, run_dir=run, tensorboard=False, allow_inexact=True)
    model.learn(50)  # goes on, and the run remembers that it is not exact
    state = json.loads((checkpoint.resolve(run) / "state.json").read_text())
    assert state["inexact_resumes"] == [{"step": 400, "missing": [missing]}]
    assert DQN.load(run).evaluate(1)  # evaluation needs only the weights


def test_a_replay_left_out_by_config_is_recorded_not_refused(tmp_path):
    cfg = config.override(SMALL, {"save_replay": False})
    DQN(cfg, run_dir=tmp_path / "run", tensorboard=False).learn(300)
    model = DQN.load(tmp_path / "run", run_dir=tmp_path / "run", tensorboard=False)
    model.learn(50)
    assert model.inexact_resumes == [{"step": 300, "missing": ["replay (save_replay = false)"]}]


def test_nan_weights_stop_training_and_keep_the_last_good_checkpoint(tmp_path):
    model, run = _run(tmp_path, 300)
    good = checkpoint.resolve(run)
    with torch.no_grad():
        next(model.q_net.parameters())[0, 0] = float("nan")
    with pytest.raises(DeepQError, match=r"loss became non-finite between step 300 and step 400"):
        model.learn(300)
    assert checkpoint.resolve(run) == good
    assert DQN.load(run).step == 300
    with pytest.raises(DeepQError, match="not saving step 400: non-finite values in online."):
        model.save(run / "checkpoints")  # the poisoned weights are never written
    assert checkpoint.resolve(run) == good


def test_nan_weights_in_a_checkpoint_are_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    _, run = _run(tmp_path, 300)
    ck = checkpoint.resolve(run)
    tensors = load_file(str(ck / "tensors.safetensors"))
    key = next(k for k in tensors if k.startswith("optim.") and tensors[k].is_floating_point()
               and tensors[k].numel() > 1)
    tensors[key][0] = float("inf")
    save_file(tensors, str(ck / "tensors.safetensors"))
    state = json.loads((ck / "state.json").read_text())
    f = ck / "tensors.safetensors"
    state["files"]["tensors.safetensors"] = {"bytes": f.stat().st_size, "sha256": checkpoint._sha256(f)}
    (ck / "state.json").write_text(json.dumps(state))
    with pytest.raises(DeepQError, match=f"non-finite values in '{key}'"):
        DQN.load(run)


def test_files_outside_the_checkpoint_are_never_read(tmp_path):
    _, run = _run(tmp_path, 300)
    ck = checkpoint.resolve(run)
    state = json.loads((ck / "state.json").read_text())
    state["files"]["../../../../etc/hostname"] = {"bytes": 1, "sha256": "0" * 64}
    (ck / "state.json").write_text(json.dumps(state))
    with pytest.raises(DeepQError, match="lists '../../../../etc/hostname', which is not a checkpoint file"):
        DQN.load(run)


def test_planted_files_are_named_and_never_read(tmp_path):
    _, run = _run(tmp_path, 300)
    ck = checkpoint.resolve(run)
    (ck / "evil.pkl").write_bytes(b"not read")
    np.save(ck / "arrays" / "extra.npy", np.zeros(3))
    with pytest.warns(DeepQWarning, match="files deepq did not write .*arrays/extra.npy, evil.pkl"):
        model = DQN.load(run)
    assert model.step == 300


def test_latest_may_only_name_a_sibling_checkpoint(tmp_path):
    _, run = _run(tmp_path, 300)
    (run / "checkpoints" / "latest").write_text("../../elsewhere\n")
    with pytest.raises(DeepQError, match="which is not a checkpoint name"):
        DQN.load(run)


def test_a_single_sigterm_stops_a_stuck_loop(tmp_path, monkeypatch):
    model, _ = _run(tmp_path, 300)
    monkeypatch.setattr(run, "STOP_GRACE_S", 0.5)

    def stuck(*args, **kwargs):
        while True:
            pass

    monkeypatch.setattr(model.replay, "sample", stuck)
    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
    with pytest.raises(KeyboardInterrupt):
        model.learn(100)
    assert model.interrupted == signal.SIGTERM


def test_sampling_a_poisoned_prioritized_replay_is_an_error_not_a_hang(tmp_path):
    cfg = config.override(SMALL, {"prioritized": True})
    model = DQN(cfg, tensorboard=False)
    model.learn(200)
    model.replay.update_priorities(np.arange(50), np.full(50, np.nan))
    with pytest.raises(DeepQError, match="replay sampling found no valid transition"):
        for _ in range(20):
            model.replay.sample(32)


def test_predict_names_the_shape_and_takes_batches():
    model = DQN(SMALL, tensorboard=False)
    obs = np.zeros(4, np.float32)
    assert isinstance(model.predict(obs), int)
    actions = model.predict(np.zeros((5, 4), np.float32))
    assert actions.shape == (5,) and actions.dtype == np.int64
    assert list(actions) == [model.predict(obs)] * 5
    for bad in (np.zeros(3), np.zeros((2, 2, 4)), "abc", np.zeros((0, 4)), [[1, 2], [3]]):
        with pytest.raises(ValueError, match=r"predict expects an observation of shape \(4,\)"):
            model.predict(bad)
    with pytest.raises(ValueError, match="epsilon must be a number in"):
        model.predict(obs, epsilon=2)


def test_api_type_errors_name_what_is_expected(tmp_path):
    model = DQN(SMALL, tensorboard=False)
    with pytest.raises(TypeError, match="learn.steps. expects a positive int"):
        model.learn("10")
    with pytest.raises(TypeError, match="load expects a run or checkpoint directory"):
        DQN.load(None)


def test_exact_resume_on_pong_through_gymnasium(tmp_path):
    cfg = config.override(PRESETS["pong"].config, {
        "total_steps": 700, "learn_start": 200, "buffer_size": 1000, "train_freq": 4,
        "log_every": 100, "eval_every": 0, "stop_return": None, "checkpoint_every": 0,
        "target_sync": 150, "seed": 7, "env_backend": "gymnasium", "num_envs": 1})
    whole = DQN(cfg, run_dir=tmp_path / "whole", tensorboard=False)
    whole.learn()
    part = DQN(cfg, run_dir=tmp_path / "part", tensorboard=False)
    part.learn(333)  # mid-episode, mid-window
    resumed = DQN.load(tmp_path / "part", run_dir=tmp_path / "part", tensorboard=False)
    assert resumed.not_restored == []
    resumed.learn()

    def rows(run):
        return [{k: v for k, v in r.items() if k not in ("wall_time", "steps_per_sec")}
                for r in read_metrics(run)]

    assert rows(tmp_path / "whole") == rows(tmp_path / "part")
    assert any(r["event"] == "train" for r in rows(tmp_path / "whole"))
    for p, q in zip(whole.q_net.state_dict().values(), resumed.q_net.state_dict().values()):
        assert torch.equal(p, q)


def test_cli_resume_names_what_it_restored_and_inexact_needs_the_flag(tmp_path, capsys):
    from deepq import cli

    _, run = _run(tmp_path, 300)
    _rewrite(checkpoint.resolve(run), drop_state=("rng",))
    assert cli.main(["train", "--resume", str(run), "--steps", "350", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "restored weights, optimizer, counters, replay (" in err and "not restored: RNG states" in err
    assert err.strip().splitlines()[-1] == ("deepq: error: cannot resume exactly: the checkpoint lacks "
                                            "RNG states; resume anyway with --allow-inexact "
                                            "(DQN.load(..., allow_inexact=True))")
    assert cli.main(["train", "--resume", str(run), "--steps", "350", "--no-progress",
                     "--allow-inexact"]) == 0
    assert DQN.load(run).inexact_resumes == [{"step": 300, "missing": ["RNG states"]}]


def test_a_run_killed_before_its_first_checkpoint_can_be_started_again(tmp_path, capsys):
    from deepq import cli

    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("step,event\n5,episode\n")  # what kill -9 left
    (run / "config.json").write_text("{}")
    assert cli.main(["train", "--resume", str(run)]) == 2
    assert "stopped before its first checkpoint: nothing to resume" in capsys.readouterr().err
    assert cli.main(["train", "cartpole", "--run-dir", str(run), "--steps", "200", "--no-progress",
                     "--set", "eval_every=0", "--set", "stop_return=none"]) == 0
    kept = list(run.glob("unfinished-*/metrics.csv"))
    assert len(kept) == 1 and kept[0].read_text() == "step,event\n5,episode\n"
    assert DQN.load(run).step == 200


def test_cli_prints_planted_files_as_one_warning_line(tmp_path, capsys):
    from deepq import cli

    _, run = _run(tmp_path, 300)
    (checkpoint.resolve(run) / "evil.pkl").write_bytes(b"x")
    assert cli.main(["evaluate", str(run), "--episodes", "1"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("deepq: warning: ") and "evil.pkl" in err[0]


def test_disk_full_while_logging_is_one_line(tmp_path, capsys, monkeypatch):
    import errno

    from deepq import cli, log

    def full(self, **values):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "run" / "metrics.csv"))

    monkeypatch.setattr(log.RunLogger, "_row", full)
    assert cli.main(["train", "cartpole", "--run-dir", str(tmp_path / "run"), "--steps", "300",
                     "--no-progress", "--set", "eval_every=0", "--set", "stop_return=none"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("deepq: error: No space left on device: ") and "Traceback" not in "".join(err)
