"""Command line, in-process: a short Pong run end to end, errors as one line."""

import pytest

from deepq import DQN
from deepq.cli import main
from deepq.log import read_metrics

PONG_FAST = ["--set", "learn_start=100", "--set", "buffer_size=2000", "--set", "eval_every=0",
             "--set", "log_every=100", "--set", "checkpoint_every=200", "--no-progress"]


def test_pong_train_resume_evaluate_plot(tmp_path, capsys):
    run = tmp_path / "pong"
    assert main(["train", "pong", "--steps", "300", "--run-dir", str(run), *PONG_FAST]) == 0
    for name in ("config.json", "metrics.csv", "plot.png", "checkpoints/latest"):
        assert (run / name).exists(), name
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert any(r["event"] == "train" and float(r["loss"]) >= 0 for r in read_metrics(run))

    assert main(["train", "--resume", str(run), "--steps", "400", "--no-progress"]) == 0
    assert DQN.load(run).step == 400
    assert max(int(r["step"]) for r in read_metrics(run)) == 400

    capsys.readouterr()
    assert main(["evaluate", str(run), "--episodes", "1", "--eps", "1.0"]) == 0
    out = capsys.readouterr().out
    assert "PongNoFrameskip-v4 at step 400: mean return" in out

    assert main(["plot", str(run), str(run), "--out", str(tmp_path / "both.png")]) == 0
    assert (tmp_path / "both.png").stat().st_size > 10_000


def test_evaluate_writes_video(tmp_path):
    run = tmp_path / "cp"
    assert main(["train", "cartpole", "--steps", "300", "--run-dir", str(run), "--no-progress",
                 "--set", "eval_every=0", "--set", "learn_start=100"]) == 0
    assert main(["evaluate", str(run), "--episodes", "1", "--video", str(tmp_path / "vid")]) == 0
    videos = list((tmp_path / "vid").glob("*.mp4"))
    assert videos and videos[0].stat().st_size > 1000


def test_refuses_to_overwrite_an_existing_run(tmp_path, capsys):
    run = tmp_path / "cp"
    assert main(["train", "cartpole", "--steps", "50", "--run-dir", str(run), "--no-progress"]) == 0
    before = (run / "metrics.csv").read_bytes()
    assert main(["train", "cartpole", "--steps", "50", "--run-dir", str(run), "--no-progress"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (run / "metrics.csv").read_bytes() == before


@pytest.mark.parametrize("argv, message", [
    (["train", "cartpole", "--set", "gamma=2"], "config key 'gamma' must be <= 1.0"),
    (["train", "cartpole", "--set", "nope=1"], "unknown config key 'nope'"),
    (["train", "NoSuchGame-v9"], "unknown environment 'NoSuchGame-v9'"),
    (["train", "MountainCarContinuous-v0"], "discrete action space"),
    (["evaluate", "/no/such/run"], "no such run directory or checkpoint"),
    (["presets", "--show", "nope"], "unknown preset 'nope'"),
])
def test_bad_input_is_one_line_error(argv, message, capsys, tmp_path):
    assert main([*argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_presets_lists_one_line_each(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert {line.split()[0] for line in lines} >= {"seed-pong", "pong", "cartpole"}
