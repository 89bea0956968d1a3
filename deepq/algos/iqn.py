"""IQN: implicit quantile networks.

Dabney, Ostrovski, Silver and Munos, "Implicit quantile networks for distributional
reinforcement learning", ICML 2018.

What changes from DQN: the network takes a fraction τ ~ U(0, 1) besides the
observation and outputs the τ-quantile of each action's return
(``networks.IQNNetwork``, [B, A, N] for N fractions). The loss is the quantile Huber
loss between N online quantiles at sampled τ and N' target samples
r + discount·Z_τ'(s', a*); Q for acting is the mean of K sampled quantiles.

What differs from the paper, and why:
- a* = argmax of the target network's mean over the same N' fractions (the paper
  samples K separate fractions for it; this saves one forward pass).
- The discount is the stored γ^k·(1 − terminated) (truncation bootstraps; n-step
  needs no change here). Gradients are clipped by global norm 10.
- Dueling and noisy layers are not offered for IQN. ``double``, ``n_step`` and
  ``prioritized`` default to off; with ``prioritized`` the priority is the
  per-sample quantile loss.

Read top to bottom: the config, the update rule (``iqn_update``), then the ``IQN``
class (its training loop is ``loop.Learner``'s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from deepq import networks, targets
from deepq.algos.loop import Learner
from deepq.config import param
from deepq.errors import DeepQError


@dataclass(frozen=True)
class IQNConfig:
    """Every hyperparameter of an IQN run, with its unit. Periods are environment steps."""

    env_id: str = param("CartPole-v1", "Gymnasium environment id with a discrete action space")
    seed: int = param(0, "seed for network init, exploration, replay sampling and env resets", min=0)
    total_steps: int = param(100_000, "environment steps to train for (steps)", min=1)
    # replay memory
    buffer_size: int = param(100_000, "replay capacity (transitions)", min=2)
    batch_size: int = param(32, "transitions per gradient update", min=1)
    learn_start: int = param(10_000, "environment steps collected before the first update (steps)", min=0)
    train_freq: int = param(1, "environment steps per gradient update (steps)", min=1)
    # learning rule
    gamma: float = param(0.99, "discount factor per environment step", min=0.0, max=1.0)
    lr: float = param(5e-5, "Adam learning rate", min=0.0, max=1.0, min_exclusive=True)
    adam_eps: float = param(3.125e-4, "Adam epsilon (denominator guard)", min=0.0, min_exclusive=True)
    grad_clip_norm: float = param(10.0, "clip the global gradient L2 norm to this; 0 = off", min=0.0)
    grad_clip_value: float = param(0.0, "clamp each gradient element to ±this; 0 = off", min=0.0)
    target_sync: int = param(1000, "environment steps between target-network syncs (steps)", min=1)
    tau: float = param(1.0, "target sync blend: 1 = hard copy, < 1 = Polyak averaging",
                       min=0.0, max=1.0, min_exclusive=True)
    # distribution
    n_tau: int = param(64, "fractions τ sampled per transition for the online quantiles (N)", min=1)
    n_tau_target: int = param(64, "fractions τ' sampled per transition for the target (N')", min=1)
    n_tau_act: int = param(32, "fractions sampled to estimate Q when acting (K)", min=1)
    n_cos: int = param(64, "cosine features of the τ embedding", min=1)
    kappa: float = param(1.0, "quantile Huber loss threshold κ (return units); 0 = plain quantile loss",
                         min=0.0)
    # variants (each default keeps plain IQN)
    double: bool = param(False, "Double DQN target (van Hasselt et al. 2016): the online "
                         "network picks a', the target network rates it")
    n_step: int = param(1, "rewards summed per stored transition (n-step return; steps)", min=1)
    prioritized: bool = param(False, "prioritized replay (Schaul et al. 2016), proportional variant")
    per_alpha: float = param(0.6, "prioritized replay: priority exponent α (0 = uniform)", min=0.0)
    per_beta0: float = param(0.4, "prioritized replay: importance-weight exponent β at step 0, "
                             "annealed linearly to 1 at total_steps", min=0.0, max=1.0)
    per_eps: float = param(1e-6, "prioritized replay: added to |TD error| in each priority "
                           "(reward units)", min=0.0, min_exclusive=True)
    # exploration
    eps_schedule: str = param("exponential", "ε schedule: exponential "
                              "final+(start−final)·exp(−t/decay), or linear over decay steps",
                              choices=("exponential", "linear"))
    eps_start: float = param(1.0, "ε at step 0", min=0.0, max=1.0)
    eps_final: float = param(0.01, "ε reached at the end of the schedule", min=0.0, max=1.0)
    eps_decay: float = param(30_000.0, "ε schedule length: e-folding time or linear span (steps)",
                             min=0.0, min_exclusive=True)
    # environment and network
    frame_stack: int = param(4, "Atari frames stacked per observation (Atari only)", min=1)
    noop_max: int = param(30, "Atari: at most this many no-op actions after reset", min=0)
    clip_rewards: bool = param(False, "learn from sign(reward); logged returns stay raw")
    life_loss_terminal: bool = param(True, "Atari: a lost life ends the learning episode "
                                     "(discount 0) but not the game")
    hidden: tuple[int, ...] = param((64, 64), "MLP hidden layer widths (vector observations)", min=1)
    # evaluation and stopping
    eval_every: int = param(0, "environment steps between evaluations; 0 = never (steps)", min=0)
    eval_episodes: int = param(10, "episodes per evaluation", min=1)
    eval_eps: float = param(0.0, "ε used during evaluation", min=0.0, max=1.0)
    stop_return: float | None = param(None, "stop when the mean return reaches this; none = never")
    stop_window: int = param(10, "training episodes averaged for stop_on = train", min=1)
    stop_on: str = param("train", "what stop_return is compared with: mean of the last "
                         "stop_window training episodes, or each evaluation's mean",
                         choices=("train", "eval"))
    # bookkeeping
    log_every: int = param(1000, "environment steps between loss rows in metrics.csv (steps)", min=1)
    checkpoint_every: int = param(50_000, "environment steps between checkpoints; 0 = only at "
                                  "the end and on interrupt (steps)", min=0)
    keep_checkpoints: int = param(1, "checkpoints kept on disk (newest)", min=1)
    save_replay: bool = param(True, "store the replay in checkpoints (needed for exact resume)")
    threads: int = param(0, "torch intra-op threads; 0 = torch's default", min=0)


def iqn_update(q_net: torch.nn.Module, target_net: torch.nn.Module, optimizer: torch.optim.Optimizer,
               batch: dict[str, torch.Tensor], cfg: IQNConfig) -> tuple[float, float, np.ndarray | None]:
    """One gradient step on the IQN loss; returns (loss, mean Q, quantile loss [B] when
    the batch carries importance weights, for the new priorities, else None)."""
    b = batch["action"].shape[0]
    arange = torch.arange(b)
    taus = torch.rand(b, cfg.n_tau)  # [B, N]
    theta = q_net(batch["obs"], taus)  # [B, A, N]
    theta_a = theta[arange, batch["action"]]  # [B, N]
    with torch.no_grad():
        taus_next = torch.rand(b, cfg.n_tau_target)  # [B, N']
        next_theta = target_net(batch["next_obs"], taus_next)  # [B, A, N']
        if cfg.double:  # van Hasselt et al. 2016: the online network picks a'
            next_a = q_net(batch["next_obs"], taus_next).mean(2).argmax(1)  # [B]
        else:
            next_a = next_theta.mean(2).argmax(1)  # [B]
        target = (batch["reward"][:, None]
                  + batch["discount"][:, None] * next_theta[arange, next_a])  # [B, N']
    per_sample = targets.quantile_huber_loss(theta_a, target, taus, cfg.kappa)  # [B]
    priorities = None
    if "weight" in batch:  # prioritized replay: importance-weighted loss, new priorities
        loss = (batch["weight"] * per_sample).mean()
        priorities = per_sample.detach().numpy()
    else:
        loss = per_sample.mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    targets.clip_gradients(q_net.parameters(), cfg.grad_clip_norm, cfg.grad_clip_value)
    optimizer.step()
    return loss.item(), theta.detach().mean().item(), priorities


class IQN(Learner):
    """An IQN agent: ``IQN(cfg).learn()``; ``evaluate``, ``predict``, ``save``, ``load``."""

    name = "iqn"
    Config = IQNConfig

    def build_network(self) -> torch.nn.Module:
        c = self.cfg
        return networks.IQNNetwork(self.obs_shape, self.n_actions, c.hidden, n_cos=c.n_cos)

    def action_values(self, obs: torch.Tensor) -> torch.Tensor:
        taus = torch.rand(obs.shape[0], self.cfg.n_tau_act)  # [B, K]
        return self.q_net(obs, taus).mean(2)  # [B, A]

    def train_on(self, batch: dict[str, torch.Tensor]) -> tuple[float, float, np.ndarray | None]:
        return iqn_update(self.q_net, self.target_net, self.optimizer, batch, self.cfg)
