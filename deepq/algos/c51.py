"""C51: categorical distributional DQN.

Bellemare, Dabney and Munos, "A distributional perspective on reinforcement learning",
ICML 2017.

What changes from DQN: the network outputs, for each action, probabilities over
``n_atoms`` fixed returns from ``v_min`` to ``v_max`` ([B, A, N]); Q is their mean.
The target distribution of r + discount·Z(s', a*) is projected back onto the support
(``targets.categorical_projection``) and the loss is the cross-entropy to it.

What differs from the paper, and why:
- The discount is the stored γ^k·(1 − terminated) of each transition, so a time-limit
  truncation bootstraps and n-step returns (``n_step``) need no change here.
- The projection gives the whole mass to an atom when r + discount·z lands exactly on
  it; the paper's Algorithm 1 loses that mass (its two weights are both 0).
- Adam with the paper's lr 2.5e-4 and ε = 0.01/32 (3.125e-4); gradients are clipped
  by global norm 10 (the paper does not clip).
- The variant options (``double``, ``dueling``, ``noisy``, ``n_step``,
  ``prioritized``) default to off, so the defaults are C51; with ``prioritized`` the
  priority is the cross-entropy, as in Rainbow.

Read top to bottom: the config, the update rule (``c51_update``), then the ``C51``
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
class C51Config:
    """Every hyperparameter of a C51 run, with its unit. Periods are environment steps."""

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
    lr: float = param(2.5e-4, "Adam learning rate", min=0.0, max=1.0, min_exclusive=True)
    adam_eps: float = param(3.125e-4, "Adam epsilon (denominator guard)", min=0.0, min_exclusive=True)
    grad_clip_norm: float = param(10.0, "clip the global gradient L2 norm to this; 0 = off", min=0.0)
    grad_clip_value: float = param(0.0, "clamp each gradient element to ±this; 0 = off", min=0.0)
    target_sync: int = param(1000, "environment steps between target-network syncs (steps)", min=1)
    tau: float = param(1.0, "target sync blend: 1 = hard copy, < 1 = Polyak averaging",
                       min=0.0, max=1.0, min_exclusive=True)
    # distribution
    n_atoms: int = param(51, "atoms of the return distribution's support", min=2)
    v_min: float = param(-10.0, "lowest atom of the support (return units)")
    v_max: float = param(10.0, "highest atom of the support (return units)")
    # variants (each default keeps plain C51)
    double: bool = param(False, "Double DQN target (van Hasselt et al. 2016): the online "
                         "network picks a', the target network rates it")
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


def c51_update(q_net: torch.nn.Module, target_net: torch.nn.Module, optimizer: torch.optim.Optimizer,
               batch: dict[str, torch.Tensor], cfg: C51Config,
               support: torch.Tensor) -> tuple[float, float, np.ndarray | None]:
    """One gradient step on the C51 loss; returns (loss, mean Q, cross-entropy [B] when
    the batch carries importance weights, for the new priorities, else None)."""
    arange = torch.arange(batch["action"].shape[0])
    log_p = F.log_softmax(q_net(batch["obs"]), dim=2)  # [B, A, N]
    log_p_a = log_p[arange, batch["action"]]  # [B, N]
    with torch.no_grad():
        next_p = F.softmax(target_net(batch["next_obs"]), dim=2)  # [B, A, N]
        if cfg.double:  # van Hasselt et al. 2016: the online network picks a'
            next_a = (F.softmax(q_net(batch["next_obs"]), dim=2) * support).sum(2).argmax(1)  # [B]
        else:
            next_a = (next_p * support).sum(2).argmax(1)  # [B]
        target_p = targets.categorical_projection(batch["reward"], batch["discount"],
                                                  next_p[arange, next_a], support)  # [B, N]
    cross_entropy = -(target_p * log_p_a).sum(1)  # [B]
    priorities = None
    if "weight" in batch:  # prioritized replay: importance-weighted loss, new priorities
        loss = (batch["weight"] * cross_entropy).mean()
        priorities = cross_entropy.detach().numpy()
    else:
        loss = cross_entropy.mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    targets.clip_gradients(q_net.parameters(), cfg.grad_clip_norm, cfg.grad_clip_value)
    optimizer.step()
    return loss.item(), (log_p.detach().exp() * support).sum(2).mean().item(), priorities


class C51(Learner):
    """A C51 agent: ``C51(cfg).learn()``; ``evaluate``, ``predict``, ``save``, ``load``."""

    name = "c51"
    Config = C51Config

    def build_network(self) -> torch.nn.Module:
        c = self.cfg
        if not c.v_min < c.v_max:
            raise DeepQError(f"config needs v_min < v_max; got v_min={c.v_min}, v_max={c.v_max}")
        self.support = torch.linspace(c.v_min, c.v_max, c.n_atoms)  # [N] returns of the atoms
        return networks.build(self.obs_shape, self.n_actions, c.hidden, dueling=c.dueling,
                              noisy=c.noisy, n_atoms=c.n_atoms, noisy_sigma0=c.noisy_sigma0)

    def action_values(self, obs: torch.Tensor) -> torch.Tensor:
        return (F.softmax(self.q_net(obs), dim=2) * self.support).sum(2)  # [B, A]

    def train_on(self, batch: dict[str, torch.Tensor]) -> tuple[float, float, np.ndarray | None]:
        return c51_update(self.q_net, self.target_net, self.optimizer, batch, self.cfg, self.support)
