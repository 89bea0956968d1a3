"""Rainbow: C51 with Double, dueling, noisy nets, n-step returns and prioritized replay.

Hessel et al., "Rainbow: combining improvements in deep reinforcement learning",
AAAI 2018.

What changes from C51 (``c51.py``): all five other components are on by default —
the online network picks a' for the target distribution (Double), the network is a
dueling, noisy one with its streams combined per atom, the replay folds 3-step
returns and samples in proportion to the cross-entropy (α 0.5, β 0.4 → 1), and ε is 0.

What differs from the paper, and why:
- The discount is the stored γ^k·(1 − terminated) (truncation bootstraps).
- β is annealed to 1 over ``total_steps`` environment steps.
- Importance weights are normalised by the batch's largest weight.
- Gradients are clipped by global norm 10 (the paper does not say).
- Evaluation acts on the noisy layers' mean weights (no noise).
- Data-efficient Rainbow (van Hasselt et al. 2019) is the preset
  ``rainbow-atari100k``; it keeps the Nature CNN rather than that paper's smaller one.

Read top to bottom: the config, the update rule (``rainbow_update``), then the
``Rainbow`` class (its training loop is ``loop.Learner``'s).
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
class RainbowConfig(RunConfig):
    """Every hyperparameter of a Rainbow run: RunConfig's,
    the paper's Adam settings, the support, and its six components on."""

    lr: float = redefault('lr', 6.25e-05)
    adam_eps: float = redefault('adam_eps', 0.00015)
    n_atoms: int = param(51, "atoms of the return distribution's support", min=2)
    v_min: float = param(-10.0, "lowest atom of the support (return units)")
    v_max: float = param(10.0, "highest atom of the support (return units)")
    double: bool = redefault('double', True)
    dueling: bool = redefault('dueling', True)
    noisy: bool = redefault('noisy', True)
    n_step: int = redefault('n_step', 3)
    prioritized: bool = redefault('prioritized', True)
    per_alpha: float = redefault('per_alpha', 0.5)


def rainbow_update(q_net: torch.nn.Module, target_net: torch.nn.Module, optimizer: torch.optim.Optimizer,
                   batch: dict[str, torch.Tensor], cfg: RainbowConfig,
                   support: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, np.ndarray | None]:
    """One gradient step on the Rainbow loss; returns (loss, mean Q, cross-entropy [B]
    when the batch carries importance weights, for the new priorities, else None)."""
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


class Rainbow(Learner):
    """A Rainbow agent: ``Rainbow(cfg).learn()``; ``evaluate``, ``predict``, ``save``, ``load``."""

    name = "rainbow"
    Config = RainbowConfig

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
        return rainbow_update(self.q_net, self.target_net, self.optimizer, batch, self.cfg, self.support)
