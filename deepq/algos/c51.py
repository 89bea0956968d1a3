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
from deepq.algos.loop import Learner, RunConfig, batch_mean, gradient_step, redefault
from deepq.config import param
from deepq.errors import DeepQError


@dataclass(frozen=True)
class C51Config(RunConfig):
    """Every hyperparameter of a C51 run: RunConfig's,
    the paper's Adam settings and the categorical support."""

    lr: float = redefault('lr', 0.00025)
    adam_eps: float = redefault('adam_eps', 0.0003125)
    n_atoms: int = param(51, "atoms of the return distribution's support", min=2)
    v_min: float = param(-10.0, "lowest atom of the support (return units)")
    v_max: float = param(10.0, "highest atom of the support (return units)")


def c51_update(q_net: torch.nn.Module, target_net: torch.nn.Module, optimizer: torch.optim.Optimizer,
               batch: dict[str, torch.Tensor], cfg: C51Config,
               support: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, np.ndarray | None]:
    """One gradient step on the C51 loss; returns (loss, mean Q, cross-entropy [B] when
    the batch carries importance weights, for the new priorities, else None)."""
    arange = torch.arange(batch["action"].shape[0], device=batch["action"].device)
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
    loss, priorities = batch_mean(cross_entropy, batch)  # weighted when prioritized
    gradient_step(loss, optimizer, q_net, cfg)
    return loss.detach(), (log_p.detach().exp() * support).sum(2).mean(), priorities


class C51(Learner):
    """A C51 agent: ``C51(cfg).learn()``; ``evaluate``, ``predict``, ``save``, ``load``."""

    name = "c51"
    Config = C51Config

    def build_network(self) -> torch.nn.Module:
        c = self.cfg
        if not c.v_min < c.v_max:
            raise DeepQError(f"config needs v_min < v_max; got v_min={c.v_min}, v_max={c.v_max}")
        self.support = torch.linspace(c.v_min, c.v_max, c.n_atoms, device=self.device)  # [N] returns of the atoms
        return networks.build(self.obs_shape, self.n_actions, c.hidden, dueling=c.dueling,
                              noisy=c.noisy, n_atoms=c.n_atoms, noisy_sigma0=c.noisy_sigma0)

    def action_values(self, obs: torch.Tensor) -> torch.Tensor:
        return (F.softmax(self.q_net(obs), dim=2) * self.support).sum(2)  # [B, A]

    def train_on(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, np.ndarray | None]:
        return c51_update(self.q_net, self.target_net, self.optimizer, batch, self.cfg, self.support)
