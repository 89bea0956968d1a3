"""The learning rule in TensorFlow: DQN's targets and losses, Adam in torch's form, and
``TFLearner``, the algorithm object ``loop.Model`` calls when ``backend = tensorflow``.

The numbers are the torch backend's (``deepq/learner.py``, ``deepq/optim.py``), which
TensorFlow's defaults are not:

- Adam: Keras's ``epsilon`` is added to √v̂ after a different bias correction
  ("epsilon hat"), ε·√(1 − β₂ᵗ) in torch's terms; ``adam_step`` writes torch's step.
- Clipping: Keras's ``clipnorm`` clips each variable; the config's ``grad_clip_norm`` is
  the global L2 norm (torch's ``clip_grad_norm_``, coefficient max/(norm + 1e-6)), after
  ``grad_clip_value`` clamps each element, as ``optim.clip_gradients`` does.
- The Huber loss per sample, and a hard target sync that copies exactly (torch's
  ``lerp_`` with weight 1).
- float32 throughout (mixed precision is slower on CPUs, Keras's own guide says).

Each ``tf.function`` is traced once: its input signature is fixed (batch size, shape
and dtype), and every hyperparameter is a constant of the graph.

``TFLearner`` keeps a ``TorchLearner`` of the same config as its *mirror*: the initial
weights, the ε-greedy policy (the same code and RNG), and the checkpoint format with all
its checks come from it, so a checkpoint written by either backend loads in the other.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

import numpy as np
import tensorflow as tf
import torch

from deepq.errors import DeepQError
from deepq.learner import TorchLearner
from deepq.tf.networks import QNetwork
from deepq.types import Batch

PORTED = ("dqn",)  # algorithm names with a TensorFlow loss


# -- the rules ------------------------------------------------------------------------


def q_learning_target(reward: tf.Tensor, discount: tf.Tensor, next_q: tf.Tensor) -> tf.Tensor:
    """y = r + discount · max_a' Q(s', a'). reward, discount: [B]; next_q: [B, A] → [B]."""
    return reward + discount * tf.reduce_max(next_q, axis=1)


def double_q_learning_target(reward: tf.Tensor, discount: tf.Tensor, next_q_target: tf.Tensor,
                             next_q_online: tf.Tensor) -> tf.Tensor:
    """y = r + discount · Q_target(s', argmax_a' Q_online(s', a')) → [B]."""
    best = tf.argmax(next_q_online, axis=1, output_type=tf.int32)  # [B], the first of ties
    return reward + discount * tf.gather(next_q_target, best, axis=1, batch_dims=1)


def td_loss(q: tf.Tensor, action: tf.Tensor, target: tf.Tensor, kind: str = "huber",
            huber_delta: float = 1.0) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-sample ρ(y − Q(s, a)) [B] and |y − Q(s, a)| [B] (the new priority); ρ as in
    ``deepq.learner.td_loss`` (Huber with threshold δ, or x²/2)."""
    q_sa = tf.gather(q, action, axis=1, batch_dims=1)  # [B]
    target = tf.stop_gradient(target)
    diff = q_sa - target
    if kind == "huber":
        abs_diff = tf.abs(diff)
        per_sample = tf.where(abs_diff < huber_delta, 0.5 * tf.square(diff),
                              huber_delta * (abs_diff - 0.5 * huber_delta))
    elif kind == "mse":
        per_sample = 0.5 * tf.square(diff)
    else:
        raise ValueError(f"unknown loss kind {kind!r}")
    return per_sample, tf.stop_gradient(tf.abs(target - q_sa))


def dqn_loss(online: QNetwork, target: QNetwork, batch: dict[str, tf.Tensor], cfg: Any
             ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """``algos/dqn.dqn_loss`` in TensorFlow: per-sample loss [B], |TD error| [B], mean Q."""
    q = online(batch["obs"])  # [B, A]
    next_q = tf.stop_gradient(target(batch["next_obs"]))  # [B, A]
    if cfg.double:
        online_next_q = tf.stop_gradient(online(batch["next_obs"]))  # [B, A]
        y = double_q_learning_target(batch["reward"], batch["discount"], next_q, online_next_q)
    else:
        y = q_learning_target(batch["reward"], batch["discount"], next_q)  # [B]
    per_sample, td_abs = td_loss(q, batch["action"], y, cfg.loss, cfg.huber_delta)
    return per_sample, td_abs, tf.reduce_mean(tf.stop_gradient(q))


LOSSES = {"dqn": dqn_loss}


# -- the optimizer ----------------------------------------------------------------------


def clip_gradients(grads: list[tf.Tensor], max_norm: float, max_value: float) -> list[tf.Tensor]:
    """``optim.clip_gradients``: clamp each element to ±max_value, then scale the global
    L2 norm to at most max_norm (0 = off)."""
    if max_value > 0:
        grads = [tf.clip_by_value(g, -max_value, max_value) for g in grads]
    if max_norm > 0:  # torch.nn.utils.clip_grad_norm_'s coefficient, applied even when 1
        total = tf.norm(tf.stack([tf.norm(g) for g in grads]))
        coef = tf.minimum(max_norm / (total + 1e-6), 1.0)
        grads = [g * coef for g in grads]
    return grads


class TorchAdam(tf.Module):
    """Adam in PyTorch's order of operations: m ← m + (1 − β₁)(g − m), v ← β₂v + (1 − β₂)g²,
    p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)."""

    def __init__(self, params: list[tf.Variable], lr: float, eps: float,
                 betas: tuple[float, float] = (0.9, 0.999)):
        super().__init__()
        self.params, self.lr, self.eps, (self.beta1, self.beta2) = params, lr, eps, betas
        self.step = tf.Variable(0, dtype=tf.int64, name="adam_step")
        self.m = [tf.Variable(tf.zeros_like(p), name="exp_avg") for p in params]
        self.v = [tf.Variable(tf.zeros_like(p), name="exp_avg_sq") for p in params]

    def apply(self, grads: list[tf.Tensor]) -> None:
        self.step.assign_add(1)
        t = tf.cast(self.step, tf.float64)  # torch computes the corrections in Python floats
        step_size = tf.cast(self.lr / (1.0 - self.beta1 ** t), tf.float32)
        bias_correction2_sqrt = tf.cast(tf.sqrt(1.0 - self.beta2 ** t), tf.float32)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m.assign_add((1.0 - self.beta1) * (g - m))
            v.assign(v * self.beta2 + (1.0 - self.beta2) * tf.square(g))
            p.assign_sub(step_size * m / (tf.sqrt(v) / bias_correction2_sqrt + self.eps))


# -- the algorithm object -----------------------------------------------------------------


def check(algorithm: Any, cfg: Any) -> None:
    """One line for what the TensorFlow backend does not do."""
    if algorithm.name not in PORTED:
        raise DeepQError(f"backend tensorflow runs {', '.join(PORTED)} only; '{algorithm.name}' "
                         "is not ported yet: use backend=torch")
    if cfg.noisy:
        raise DeepQError("backend tensorflow has no noisy nets yet (noisy = true): use backend=torch")
    s = cfg.speed
    for bad, what in ((s.precision == "bf16", "speed.precision = bf16 (it stays fp32: bf16 is "
                       "slower in TensorFlow on CPUs)"),
                      (s.master_adam == "on", "speed.master_adam = on"),
                      (s.compile, "speed.compile = true (its graphs are compiled by tf.function)"),
                      (s.device == "cuda", "speed.device = cuda (tensorflow-cpu)")):
        if bad:
            raise DeepQError(f"backend tensorflow does not take {what}")


class TFLearner:
    """Networks, optimizer and ε-greedy policy of one run in TensorFlow; the calls are
    ``TorchLearner``'s."""

    def __init__(self, algorithm: Any, cfg: Any, obs_shape: tuple[int, ...], n_actions: int):
        check(algorithm, cfg)
        self.algorithm, self.cfg = algorithm, cfg
        if cfg.speed.threads:
            with contextlib.suppress(RuntimeError):  # fixed once TensorFlow has started
                tf.config.threading.set_intra_op_parallelism_threads(cfg.speed.threads)
        fp32 = replace(cfg.speed, precision="fp32", master_adam="off", compile=False, device="cpu")
        self.mirror = TorchLearner(algorithm, replace(cfg, speed=fp32), obs_shape, n_actions)
        self.nets = self.mirror.nets  # torch copies, brought up to date by ``state``
        self.online = QNetwork(self.nets.online, obs_shape)
        self.target = QNetwork(self.nets.target, obs_shape)
        self.adam = TorchAdam(self.online.trainable, cfg.lr, cfg.adam_eps)
        self.loss_fn = LOSSES[algorithm.name]
        # the torch backend's policy objects, acting on this network's values
        self.policy, self.greedy = self.mirror.policy, self.mirror.greedy
        self.policy.q_net = self.greedy.q_net = self.q_values

        self.obs_shape = obs_shape
        # tf.functions (traced once each), and their concrete functions, which the calls
        # use: calling a concrete function skips matching the signature again, ~0.1 ms of
        # an action and ~0.7 ms of a CartPole update
        self._graphs: dict[str, Any] = {}
        self._update = self._values = None  # built for the observations' dtype at first use
        self._graphs["sync"] = tf.function(self._sync_graph, input_signature=[])
        self._sync = self._graphs["sync"].get_concrete_function()

    def _build(self, obs_dtype: np.dtype) -> None:
        """The graphs' fixed signatures: [B, *obs_shape] of the replay's dtype for updates,
        any number of observations for acting."""
        dtype = tf.as_dtype(np.dtype(obs_dtype))
        b = self.cfg.batch_size
        obs, vec = tf.TensorSpec([b, *self.obs_shape], dtype), tf.TensorSpec([b], tf.float32)
        self._graphs["update"] = tf.function(self._update_graph, input_signature=[
            obs, tf.TensorSpec([b], tf.int64), vec, vec, obs, vec])

        def values(obs):  # a function of this learner's own (tf.function counts per function)
            return self.online(obs)

        self._graphs["values"] = tf.function(values, input_signature=[
            tf.TensorSpec([None, *self.obs_shape], dtype)])
        self._update = self._graphs["update"].get_concrete_function()
        self._values = self._graphs["values"].get_concrete_function()

    # -- the graphs ------------------------------------------------------------------------

    def _update_graph(self, obs, action, reward, discount, next_obs, weight):
        batch = {"obs": obs, "action": action, "reward": reward, "discount": discount,
                 "next_obs": next_obs}
        with tf.GradientTape() as tape:
            per_sample, td_abs, q_mean = self.loss_fn(self.online, self.target, batch, self.cfg)
            loss = tf.reduce_mean(weight * per_sample)  # weight 1 without prioritized replay
        grads = tape.gradient(loss, self.online.trainable)
        self.adam.apply(clip_gradients(grads, self.cfg.grad_clip_norm, self.cfg.grad_clip_value))
        return loss, q_mean, td_abs

    def _sync_graph(self):
        tau = self.cfg.tau
        for t, o in zip(self.target.trainable, self.online.trainable):
            # torch's lerp_: exact at τ = 1 (a hard copy), t + τ(o − t) below ½
            t.assign(t + tau * (o - t) if tau < 0.5 else o - (o - t) * (1.0 - tau))

    # -- the calls of loop.Model -------------------------------------------------------------

    def q_values(self, obs: torch.Tensor) -> torch.Tensor:
        """Q-values [B, A] (torch tensors in and out, the policy's currency; no copies)."""
        if self._values is None:
            self._build(obs.numpy().dtype)
        return torch.from_numpy(self._values(tf.constant(obs.numpy())).numpy())

    def act(self, obs: np.ndarray, epsilon: float) -> np.ndarray:
        """ε-greedy actions [N] for observations [N, *obs_shape]."""
        return self.policy.batch(obs, epsilon)

    def update(self, batch: Batch) -> tuple[float, float, np.ndarray | None]:
        """One gradient step on ``batch`` → (loss, mean Q, new priorities [B] or None)."""
        if self._update is None:
            self._build(batch.obs.dtype)
        weight = batch.weight if batch.weight is not None else np.ones(len(batch.action), np.float32)
        loss, q_mean, td_abs = self._update(*map(tf.constant, (
            batch.obs, batch.action, batch.reward, batch.discount, batch.next_obs, weight)))
        return float(loss), float(q_mean), (td_abs.numpy() if batch.weight is not None else None)

    def sync_target(self) -> None:
        self._sync()

    def evaluating(self):
        return contextlib.nullcontext()  # no noisy layers to switch

    def traces(self) -> dict[str, int]:
        """How many times each graph was traced (once each, with fixed signatures)."""
        return {name: f.experimental_get_tracing_count() for name, f in self._graphs.items()}

    # -- checkpoints: the torch mirror's format ------------------------------------------------

    def _moments(self) -> list[tuple[torch.nn.Parameter, str, tf.Variable, tf.Variable]]:
        """(mirror parameter, its state_dict key, Adam's m and v here) for each parameter, in
        the one order the optimizer, the state_dict and ``QNetwork.trainable`` share."""
        params = [p for g in self.nets.optimizer.param_groups for p in g["params"]]
        return list(zip(params, self.nets.online.state_dict(), self.adam.m, self.adam.v))

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The mirror's ``state`` after copying weights and Adam moments into it."""
        nets = self.nets
        nets.online.load_state_dict(self.online.state_dict())
        nets.target.load_state_dict(self.target.state_dict())
        optimizer = nets.optimizer
        optimizer.state.clear()
        step = int(self.adam.step.numpy())
        if step:
            for p, key, m, v in self._moments():
                optimizer.state[p] = {"step": torch.tensor(float(step)),
                                      "exp_avg": self.online.to_torch(key, m.numpy()),
                                      "exp_avg_sq": self.online.to_torch(key, v.numpy())}
        return self.mirror.state()

    def restore(self, tensors: dict[str, torch.Tensor], state: dict[str, Any], updates: int
                ) -> tuple[list[str], list[str]]:
        """The mirror's ``restore`` (with its checks), then its weights and moments here."""
        restored, missing = self.mirror.restore(tensors, state, updates)
        nets = self.nets
        self.online.load_state_dict(nets.online.state_dict())
        self.target.load_state_dict(nets.target.state_dict())
        step = 0
        for p, key, m, v in self._moments():
            s = nets.optimizer.state.get(p, {})
            if s:
                step = int(float(s["step"]))
                m.assign(self.online.from_torch(key, s["exp_avg"]))
                v.assign(self.online.from_torch(key, s["exp_avg_sq"]))
            else:
                m.assign(tf.zeros_like(m))
                v.assign(tf.zeros_like(v))
        self.adam.step.assign(step)
        return restored, missing
