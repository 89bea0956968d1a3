"""Learning: a fixed-seed CartPole run must solve the task within the preset's budget.

A broken learner (no target bootstrap, a sign error, gradients not applied) stays far
below 475: a random policy scores ~22.
"""

import numpy as np

from deepq import DQN
from deepq.presets import PRESETS


def test_cartpole_preset_solves_cartpole():
    cfg = PRESETS["cartpole"].config
    model = DQN(cfg)
    solved = model.learn()
    assert solved and model.step <= cfg.total_steps
    assert model.last_eval >= 475
    # and the greedy policy it ends with is good on fresh episodes too
    assert np.mean(model.evaluate(5)) >= 400
