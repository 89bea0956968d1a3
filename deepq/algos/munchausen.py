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

from deepq import networks, targets
from deepq.algos.loop import Learner, RunConfig, gradient_step, redefault
from deepq.config import param
from deepq.errors import DeepQError


@dataclass(frozen=True)
class MunchausenConfig(RunConfig):
    """Every hyperparameter of an M-DQN run: RunConfig's,
    the paper's Adam settings, the TD loss and the Munchausen terms."""

    lr: float = redefault('lr', 5e-05)
    adam_eps: float = redefault('adam_eps', 0.0003125)
    loss: str = param("huber", "TD loss: huber (δ = huber_delta) or mse", choices=("huber", "mse"))
    huber_delta: float = param(1.0, "Huber loss threshold δ (reward units)", min=0.0, min_exclusive=True)
    m_tau: float = param(0.03, "entropy temperature τ of the softmax policy π = softmax(q/τ) "
                         "(reward units)", min=0.0, min_exclusive=True)
    m_alpha: float = param(0.9, "Munchausen scaling α of the log-policy bonus", min=0.0, max=1.0)
    m_log_clip: float = param(-1.0, "lower clip l₀ of τ·ln π(a|s) in the bonus (reward units)", max=0.0)


def munchausen_update(q_net: torch.nn.Module, target_net: torch.nn.Module, optimizer: torch.optim.Optimizer,
                      batch: dict[str, torch.Tensor], cfg: MunchausenConfig) -> tuple[torch.Tensor, torch.Tensor, np.ndarray | None]:
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
        td_abs = td_abs.cpu().numpy()
    else:
        loss = targets.td_loss(q, batch["action"], y, cfg.loss, cfg.huber_delta)
    gradient_step(loss, optimizer, q_net, cfg)
    return loss.detach(), q.detach().mean(), td_abs


class MunchausenDQN(Learner):
    """An M-DQN agent: ``MunchausenDQN(cfg).learn()``; ``evaluate``, ``predict``, ``save``, ``load``."""

    name = "munchausen"
    Config = MunchausenConfig

    def build_network(self) -> torch.nn.Module:
        c = self.cfg
        if c.double:  # the Munchausen target already uses the online softmax policy
            raise DeepQError("munchausen has no double variant; set double=false")
        return networks.build(self.obs_shape, self.n_actions, c.hidden, dueling=c.dueling,
                              noisy=c.noisy, noisy_sigma0=c.noisy_sigma0)

    def action_values(self, obs: torch.Tensor) -> torch.Tensor:
        return self.q_net(obs)  # [B, A]

    def train_on(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, np.ndarray | None]:
        return munchausen_update(self.q_net, self.target_net, self.optimizer, batch, self.cfg)
