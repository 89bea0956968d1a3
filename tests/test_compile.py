"""speed.compile is honoured by every algorithm: its update runs through the compiled
passes (torch.compile with the eager backend here, so the test needs no C++ compiler)."""

import pytest
import torch

from deepq import config
from deepq.presets import ALGORITHMS, PRESETS

ALGORITHM_PRESETS = {"dqn": "cartpole", "c51": "c51-cartpole", "rainbow": "rainbow-cartpole",
                     "qrdqn": "qrdqn-cartpole", "iqn": "iqn-cartpole", "munchausen": "munchausen-cartpole"}


def test_every_algorithm_is_covered():
    # apex's learner is DQN's (the same TorchLearner and loss); tests/test_apex.py runs it on Ray
    assert set(ALGORITHM_PRESETS) == set(ALGORITHMS) - {"apex"}


@pytest.mark.parametrize("algorithm", sorted(ALGORITHM_PRESETS))
def test_compile_runs_the_update_through_compiled_passes(algorithm, monkeypatch):
    compiled = []
    real = torch.compile

    def counting_compile(module, **kwargs):
        inner = real(module, backend="eager")
        calls = [0]

        def run(*args):
            calls[0] += 1
            return inner(*args)

        compiled.append(calls)
        return run

    monkeypatch.setattr(torch, "compile", counting_compile)
    preset = PRESETS[ALGORITHM_PRESETS[algorithm]]
    cfg = config.override(preset.config, {"speed.compile": True, "learn_start": 100, "hidden": [16],
                                          "buffer_size": 1000, "eval_every": 0, "stop_return": None})
    model = ALGORITHMS[algorithm](cfg, tensorboard=False)
    before = [p.detach().clone() for p in model.q_net.parameters()]
    model.learn(140)
    assert len(compiled) == 2  # the online pass of the update, the target's pass
    assert all(calls[0] > 0 for calls in compiled), f"{algorithm} bypassed a compiled pass"
    assert any(not torch.equal(a, b) for a, b in zip(before, model.q_net.parameters()))
