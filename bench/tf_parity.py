"""TensorFlow vs torch on the same Pong batches: Q-values, loss, weights after one update,
and the drift of Q after 50 updates, for DQN and its options.

    .venv/bin/python bench/tf_parity.py [--updates 50] [--keras]

The replay is real: 600 steps of the ``seed-pong`` preset's environment (mostly random
actions), 4-frame stacks; both learners start from the torch learner's weights (the
TensorFlow learner restores the torch learner's checkpoint state). tests/test_tf_backend.py
runs ``parity`` with small budgets and asserts the 1e-5 bounds.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from deepq import config, presets  # noqa: E402
from deepq.algos.dqn import DQN  # noqa: E402

VARIANTS = {
    "dqn": {},
    "double": {"double": True},
    "n-step 3": {"n_step": 3},
    "prioritized": {"prioritized": True},
    "mse, norm clip 0.001": {"loss": "mse", "grad_clip_value": 0.0, "grad_clip_norm": 0.001},
    "Adam ε 1.5e-4": {"adam_eps": 1.5e-4, "lr": 6.25e-5},
}


# What a plain Keras port computes instead, for ``--keras``: each must show as drift.
KERAS = {
    "Keras Adam ε 1.5e-4": ("adam", {"adam_eps": 1.5e-4, "lr": 6.25e-5}),
    "Keras clipnorm 0.001": ("clip", {"loss": "mse", "grad_clip_value": 0.0, "grad_clip_norm": 0.001}),
}


@contextlib.contextmanager
def keras_semantics(kind: str):
    """Swap one of the TensorFlow learner's torch-form pieces for Keras's default form."""
    import tensorflow as tf

    from deepq.tf import learner

    def adam_apply(self, grads):  # Keras: ε is added to √v after folding √(1 − β₂ᵗ) into lr
        self.step.assign_add(1)
        t = tf.cast(self.step, tf.float64)
        lr = tf.cast(self.lr * tf.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t), tf.float32)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m.assign_add((1.0 - self.beta1) * (g - m))
            v.assign_add((1.0 - self.beta2) * (tf.square(g) - v))
            p.assign_sub(lr * m / (tf.sqrt(v) + self.eps))

    def clip(grads, max_norm, max_value):  # Keras clipnorm: each variable on its own
        return [tf.clip_by_norm(g, max_norm) for g in grads]

    saved = learner.TorchAdam.apply, learner.clip_gradients
    if kind == "adam":
        learner.TorchAdam.apply = adam_apply
    else:
        learner.clip_gradients = clip
    try:
        yield
    finally:
        learner.TorchAdam.apply, learner.clip_gradients = saved


def pong_model(overrides: dict, collect: int = 600) -> DQN:
    """A torch fp32 DQN on Pong whose replay holds ``collect`` real steps (no updates)."""
    cfg = config.override(presets.PRESETS["pong"].config, {
        "total_steps": 100_000, "learn_start": 100_000, "buffer_size": 2000, "eval_every": 0,
        "checkpoint_every": 0, "speed.precision": "fp32", "speed.master_adam": "off", **overrides})
    model = DQN(cfg)
    model.learn(collect)
    return model


def parity(overrides: dict, updates: int = 50, collect: int = 600) -> dict[str, float]:
    """Max abs differences between the backends on real Pong batches."""
    from deepq.tf.learner import TFLearner

    model = pong_model(overrides, collect)
    torch_learner = model.learner
    tf_cfg = config.override(model.cfg, {"backend": "tensorflow"})
    tf_learner = TFLearner(DQN, tf_cfg, model.obs_shape, model.n_actions)
    tensors, state = torch_learner.state()
    tf_learner.restore(tensors, state, 0)  # the torch weights, copied through the checkpoint format
    batches = [model.replay.sample(tf_cfg.batch_size, beta=0.4) for _ in range(updates)]
    probe = torch.from_numpy(batches[0].obs)

    def q_diff() -> float:
        with torch.no_grad():
            return float((torch_learner.q_values(probe) - tf_learner.q_values(probe)).abs().max())

    def weight_diff() -> float:
        tf_weights = tf_learner.online.state_dict()
        return max(float((v - tf_weights[k]).abs().max()) for k, v in torch_learner.nets.online.state_dict().items())

    out = {"q": q_diff()}
    for i, batch in enumerate(batches):
        loss_t, q_t, prio_t = torch_learner.update(batch)
        loss_f, q_f, prio_f = tf_learner.update(batch)
        if i == 0:
            out["loss"] = abs(float(loss_t) - loss_f)
            out["q_mean"] = abs(float(q_t) - q_f)
            out["priorities"] = float(np.abs(prio_t - prio_f).max()) if prio_t is not None else float("nan")
            out["weights_after_1"] = weight_diff()
            out["q_after_1"] = q_diff()
    out[f"q_after_{updates}"] = q_diff()
    out[f"weights_after_{updates}"] = weight_diff()
    with torch.no_grad():
        out["q_scale"] = float(torch_learner.q_values(probe).abs().max())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=50)
    parser.add_argument("--keras", action="store_true", help="also run Keras's default Adam "
                        "epsilon and per-variable clipnorm in place of torch's, to show their drift")
    args = parser.parse_args()
    print(f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', '(unset)')}")
    print(f"{'variant':<20} {'|ΔQ| init':>10} {'|Δloss|':>10} {'|Δprio|':>10} {'|Δw| 1 upd':>11} "
          f"{'|ΔQ| 1 upd':>11} {f'|ΔQ| {args.updates} upd':>12} {'max |Q|':>9}")
    rows = [(name, overrides, None) for name, overrides in VARIANTS.items()]
    if args.keras:
        rows += [(name, overrides, kind) for name, (kind, overrides) in KERAS.items()]
    for name, overrides, kind in rows:
        with keras_semantics(kind) if kind else contextlib.nullcontext():
            r = parity(overrides, args.updates)
        print(f"{name:<20} {r['q']:>10.2e} {r['loss']:>10.2e} {r['priorities']:>10.2e} "
              f"{r['weights_after_1']:>11.2e} {r['q_after_1']:>11.2e} "
              f"{r[f'q_after_{args.updates}']:>12.2e} {r['q_scale']:>9.3f}")


if __name__ == "__main__":
    main()
