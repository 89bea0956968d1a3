"""QR-DQN: distributional DQN by quantile regression.

Dabney, Rowland, Bellemare and Munos, "Distributional reinforcement learning with
quantile regression", AAAI 2018.

What changes from DQN: the network outputs, for each action, N quantile values θ_i
of the return at the fixed fractions τ̂_i = (2i + 1) / 2N ([B, A, N]); Q is their
mean. The target samples are r + discount·θ_j(s', a*) and the loss is the quantile
Huber loss (``targets.quantile_huber_loss``) between every pair (i, j).

What differs from the paper, and why:
- The discount is the stored γ^k·(1 − terminated) of each transition (truncation
  bootstraps; n-step needs no change here).
- Gradients are clipped by global norm 10 (the paper does not clip).
- The variant options (``double``, ``dueling``, ``noisy``, ``n_step``,
  ``prioritized``) default to off; with ``prioritized`` the priority is the
  per-sample quantile loss.

Read top to bottom: the config, the update rule (``qrdqn_update``), then the ``QRDQN``
class (its training loop is ``loop.Learner``'s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from deepq import networks, targets
from deepq.algos.loop import Learner, RunConfig, batch_mean, gradient_step, redefault
from deepq.config import param


@dataclass(frozen=True)
class QRDQNConfig(RunConfig):
    """Every hyperparameter of a QR-DQN run: RunConfig's,
    the paper's Adam settings and the quantiles."""

    lr: float = redefault('lr', 5e-05)
    adam_eps: float = redefault('adam_eps', 0.0003125)
    n_quantiles: int = param(200, "quantiles N of the return distribution per action", min=1)
    kappa: float = param(1.0, "quantile Huber loss threshold κ (return units); 0 = plain quantile loss",
                         min=0.0)


def qrdqn_update(q_net: torch.nn.Module, target_net: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 batch: dict[str, torch.Tensor], cfg: QRDQNConfig,
                 taus: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, np.ndarray | None]:
    """One gradient step on the QR-DQN loss; returns (loss, mean Q, quantile loss [B]
    when the batch carries importance weights, for the new priorities, else None)."""
    arange = torch.arange(batch["action"].shape[0], device=batch["action"].device)
    theta = q_net(batch["obs"])  # [B, A, N]
    theta_a = theta[arange, batch["action"]]  # [B, N]
    with torch.no_grad():
        next_theta = target_net(batch["next_obs"])  # [B, A, N]
        if cfg.double:  # van Hasselt et al. 2016: the online network picks a'
            next_a = q_net(batch["next_obs"]).mean(2).argmax(1)  # [B]
        else:
            next_a = next_theta.mean(2).argmax(1)  # [B]
        target = (batch["reward"][:, None]
                  + batch["discount"][:, None] * next_theta[arange, next_a])  # [B, N]
    per_sample = targets.quantile_huber_loss(theta_a, target, taus, cfg.kappa)  # [B]
    loss, priorities = batch_mean(per_sample, batch)  # weighted when prioritized
    gradient_step(loss, optimizer, q_net, cfg)
    return loss.detach(), theta.detach().mean(), priorities


class QRDQN(Learner):
    """A QR-DQN agent: ``QRDQN(cfg).learn()``; ``evaluate``, ``predict``, ``save``, ``load``."""

    name = "qrdqn"
    Config = QRDQNConfig

    def build_network(self) -> torch.nn.Module:
        c = self.cfg
        n = c.n_quantiles
        # [N] τ̂_i, the midpoints of N equal fractions
        self.taus = (2 * torch.arange(n, dtype=torch.float32, device=self.device) + 1) / (2 * n)
        return networks.build(self.obs_shape, self.n_actions, c.hidden, dueling=c.dueling,
                              noisy=c.noisy, n_atoms=n, noisy_sigma0=c.noisy_sigma0)

    def action_values(self, obs: torch.Tensor) -> torch.Tensor:
        return self.q_net(obs).mean(2)  # [B, A]

    def train_on(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, np.ndarray | None]:
        return qrdqn_update(self.q_net, self.target_net, self.optimizer, batch, self.cfg, self.taus)
