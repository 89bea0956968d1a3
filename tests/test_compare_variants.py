"""deepq compare: runs grouped by seed, mean ± band figure, steps-to-threshold table."""

import csv
import json

from deepq import compare
from deepq.cli import main
from deepq.log import COLUMNS


def fake_run(path, evals, wall_per_step=0.01):
    path.mkdir(parents=True)
    with open(path / "metrics.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, COLUMNS)
        w.writeheader()
        for step, ret in evals:
            w.writerow({"step": step, "update": step // 2, "wall_time": f"{step * wall_per_step:.2f}",
                        "event": "eval", "eval_return": ret})


def test_compare_groups_seeds_and_tabulates_steps_to_threshold(tmp_path, capsys):
    fake_run(tmp_path / "a-s0", [(1000, 100), (2000, 480)])
    fake_run(tmp_path / "a-s1", [(1000, 200), (2000, 300), (3000, 500)])
    fake_run(tmp_path / "b-seed0-20260101-120000", [(1000, 50), (2000, 60)])
    runs = sorted(tmp_path.iterdir())
    groups = compare.group_runs(runs)
    assert {k: len(v) for k, v in groups.items()} == {"a": 2, "b": 1}
    out = tmp_path / "cmp.png"
    assert main(["compare", *map(str, runs), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| a | 2,000 / 3,000 | 20 / 30 | 2,500 |" in text
    assert "| b | not in 2,000 (best 60) | – | – |" in text
    assert out.stat().st_size > 5000


def test_step_axis_says_frames_for_atari_runs(tmp_path):
    from deepq import plot

    def run(name, env_id):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(json.dumps({"env_id": env_id}))
        return tmp_path / name

    pong, v5, cart = run("p", "PongNoFrameskip-v4"), run("v", "ALE/Breakout-v5"), run("c", "CartPole-v1")
    assert plot.step_label([pong, v5]) == "agent steps (1 step = 4 frames)"
    assert plot.step_label([cart]) == "environment steps"
    assert plot.step_label([cart, pong]) == "environment steps (Atari: 1 step = 4 frames)"
    assert plot.step_label([tmp_path / "missing"]) == "environment steps"


def test_curve_train_holds_the_mean_of_10_training_episodes_to_the_threshold(tmp_path, capsys):
    # 12 episodes, 100 steps apart; one evaluation of 30 at step 500.
    returns = [20] + [10] * 9 + [20, 20]
    run = tmp_path / "p-s0"
    run.mkdir()
    with open(run / "metrics.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, COLUMNS)
        w.writeheader()
        for i, ret in enumerate(returns, start=1):
            w.writerow({"step": 100 * i, "update": 0, "wall_time": f"{i:.2f}", "event": "episode",
                        "episode_return": ret})
            if i == 5:
                w.writerow({"step": 500, "update": 0, "wall_time": "5.00", "event": "eval", "eval_return": 30})
    # means of full windows: episodes 1-10 → 11.0, 2-11 → 11.0, 3-12 → 12.0; the first
    # episode alone (20) is not a mean of 10 and must not count.
    assert compare.reached(run, 12.0, "train") == (1200, 12.0, 1200, 12.0)
    assert compare.reached(run, 12.5, "train") == (None, None, 1200, 12.0)
    assert compare.reached(run, 12.0) == (500, 5.0, 1200, 30.0)  # evaluations, the default
    steps, values = compare.curve(run, "train")
    assert list(steps) == [100 * i for i in range(1, 13)] and values[-1] == 12.0
    assert list(compare.curve(run)[0]) == [500]
    assert main(["compare", str(run), "--curve", "train", "--threshold", "12",
                 "--out", str(tmp_path / "c.png")]) == 0
    assert "| p | 1,200 | 12 | 1,200 |" in capsys.readouterr().out
