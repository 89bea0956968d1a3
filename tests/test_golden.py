"""Golden traces: the first losses of fixed-seed CartPole runs of DQN and of Rainbow (all
six components: C51, Double, dueling, noisy, 3-step, prioritized).

A refactor that changes what an algorithm computes changes these numbers. If the change
is intended, regenerate on purpose: ``DEEPQ_REGEN_GOLDEN=1 pytest tests/test_golden.py``.
"""

import json
import os
from pathlib import Path

import pytest

from deepq import config
from deepq.log import read_metrics
from deepq.presets import ALGORITHMS, PRESETS

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("preset, golden", [("cartpole", "dqn_cartpole.json"),
                                            ("rainbow-cartpole", "rainbow_cartpole.json")])
def test_golden_trace(preset, golden, tmp_path):
    cfg = config.override(PRESETS[preset].config, {
        "seed": 11, "learn_start": 100, "log_every": 20, "eval_every": 0, "stop_return": None,
        "hidden": [32, 32], "target_sync": 50})
    model = ALGORITHMS[PRESETS[preset].algorithm](cfg, run_dir=tmp_path, tensorboard=False)
    model.learn(600)
    rows = read_metrics(tmp_path)
    got = {"loss": [float(r["loss"]) for r in rows if r["event"] == "train"],
           "q_mean": [float(r["q_mean"]) for r in rows if r["event"] == "train"],
           "episode_return": [float(r["episode_return"]) for r in rows if r["event"] == "episode"]}
    if os.environ.get("DEEPQ_REGEN_GOLDEN"):
        (GOLDEN / golden).write_text(json.dumps(got, indent=1) + "\n")
    want = json.loads((GOLDEN / golden).read_text())
    assert len(got["loss"]) == len(want["loss"]) == (600 - 100) // 20
    assert got["episode_return"] == want["episode_return"]
    assert got["loss"] == pytest.approx(want["loss"], rel=1e-4)
    assert got["q_mean"] == pytest.approx(want["q_mean"], rel=1e-4)
