"""Munchausen DQN (M-DQN).

Vieillard, Pietquin and Geist, "Munchausen reinforcement learning", NeurIPS 2020.

What changes from DQN: the target (``targets.munchausen_target``) adds the scaled,
clipped log-probability α·clip(τ·ln π(a|s), l₀, 0) of the action taken under the
target network's softmax policy π = softmax(q/τ), and bootstraps with the soft value
Σ_a' π(a'|s')·(q(s', a') − τ·ln π(a'|s')) instead of max_a' q(s', a'). The network,
the replay and the loss are DQN's.

What differs from the paper, and why:
- Nothing in the rule: τ = 0.03, α = 0.9 and l₀ = −1 are the paper's values.
- Adam with the paper's lr 5e-5 and ε = 3.125e-4; Huber loss as in DQN.
- The discount is the stored γ^k·(1 − terminated) (truncation bootstraps). With
  ``n_step`` > 1 the bonus covers the first action only (the paper uses n = 1).
- The variant options (``dueling``, ``noisy``, ``n_step``, ``prioritized``) default
  to off; there is no ``double`` (the soft value has no argmax to decouple).

Read top to bottom: the config, the update rule (``munchausen_update``), then the
``MunchausenDQN`` class (its training loop is ``loop.Learner``'s).
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
class MunchausenConfig:
    """Every hyperparameter of an M-DQN run, with its unit. Periods are environment steps."""

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
    loss: str = param("huber", "TD loss: huber (δ = huber_delta) or mse", choices=("huber", "mse"))
    huber_delta: float = param(1.0, "Huber loss threshold δ (reward units)", min=0.0, min_exclusive=True)
    grad_clip_norm: float = param(10.0, "clip the global gradient L2 norm to this; 0 = off", min=0.0)
    grad_clip_value: float = param(0.0, "clamp each gradient element to ±this; 0 = off", min=0.0)
    target_sync: int = param(1000, "environment steps between target-network syncs (steps)", min=1)
    tau: float = param(1.0, "target sync blend: 1 = hard copy, < 1 = Polyak averaging",
                       min=0.0, max=1.0, min_exclusive=True)
    # Munchausen
    m_tau: float = param(0.03, "entropy temperature τ of the softmax policy π = softmax(q/τ) "
                         "(reward units)", min=0.0, min_exclusive=True)
    m_alpha: float = param(0.9, "Munchausen scaling α of the log-policy bonus", min=0.0, max=1.0)
    m_log_clip: float = param(-1.0, "lower clip l₀ of τ·ln π(a|s) in the bonus (reward units)", max=0.0)
    # variants (each default keeps plain M-DQN)
    dueling: bool = param(False, "dueling network (Wang et al. 2016): value + mean-centred advantage")
    noisy: bool = param(False, "noisy nets (Fortunato et al. 2018): factorised Gaussian noisy "
                        "linear layers explore instead of ε (ε is 0 with them)")
    noisy_sigma0: float = param(0.5, "noisy nets: initial noise scale σ₀ (σ starts at σ₀/√inputs)",
                                min=0.0, min_exclusive=True)
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


def munchausen_update(q_net: torch.nn.Module, target_net: torch.nn.Module, optimizer: torch.optim.Optimizer,
                      batch: dict[str, torch.Tensor], cfg: MunchausenConfig) -> tuple[float, float, np.ndarray | None]:
    """One gradient step on the M-DQN loss; returns (loss, mean Q, |TD error| [B] when
    the batch carries importance weights, for the new priorities, else None)."""
    q = q_net(batch["obs"])  # [B, A]
    with torch.no_grad():
        target_q = target_net(batch["obs"])  # [B, A] for the log-policy bonus
        next_q = target_net(batch["next_obs"])  # [B, A]
    y = targets.munchausen_target(batch["reward"], batch["discount"], target_q, batch["action"],
                                  next_q, cfg.m_tau, cfg.m_alpha, cfg.m_log_clip)  # [B]
    td_abs = None
    if "weight" in batch:  # prioritized replay: importance-weighted loss, new priorities
        loss, td_abs = targets.weighted_td_loss(q, batch["action"], y, batch["weight"],
                                                cfg.loss, cfg.huber_delta)
        td_abs = td_abs.numpy()
    else:
        loss = targets.td_loss(q, batch["action"], y, cfg.loss, cfg.huber_delta)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    targets.clip_gradients(q_net.parameters(), cfg.grad_clip_norm, cfg.grad_clip_value)
    optimizer.step()
    return loss.item(), q.detach().mean().item(), td_abs


class MunchausenDQN(Learner):
    """An M-DQN agent: ``MunchausenDQN(cfg).learn()``; ``evaluate``, ``predict``, ``save``, ``load``."""

    name = "munchausen"
    Config = MunchausenConfig

    def build_network(self) -> torch.nn.Module:
        c = self.cfg
        return networks.build(self.obs_shape, self.n_actions, c.hidden, dueling=c.dueling,
                              noisy=c.noisy, noisy_sigma0=c.noisy_sigma0)

    def action_values(self, obs: torch.Tensor) -> torch.Tensor:
        return self.q_net(obs)  # [B, A]

    def train_on(self, batch: dict[str, torch.Tensor]) -> tuple[float, float, np.ndarray | None]:
        return munchausen_update(self.q_net, self.target_net, self.optimizer, batch, self.cfg)
