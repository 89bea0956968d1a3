"""The classic-control presets run from the CLI: train, resume, evaluate (their learning
is measured by docs/results/run_classic.sh, minutes per seed, and reported in
docs/results.md)."""

import pytest

from deepq.cli import main
from deepq.presets import PRESETS


@pytest.mark.parametrize("name, env_id, n_actions", [("acrobot", "Acrobot-v1", 3),
                                                     ("mountaincar", "MountainCar-v0", 3),
                                                     ("lunarlander", "LunarLander-v3", 4)])
def test_classic_preset_trains_resumes_and_evaluates(name, env_id, n_actions, tmp_path, capsys):
    assert PRESETS[name].config.env_id == env_id
    run = tmp_path / "run"
    fast = ["--set", "learn_start=100", "--set", "eval_every=0", "--set", "checkpoint_every=0",
            "--no-progress"]
    assert main(["train", name, "--steps", "300", "--run-dir", str(run), *fast]) == 0
    err = capsys.readouterr().err
    assert f"training {env_id} for 300 steps" in err and f"linear {n_actions} on observations" in err
    assert main(["train", "--resume", str(run), "--steps", "400", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--episodes", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{env_id} at step 400: mean return") and "(ε = 0)" in out
