"""QR-DQN: distributional DQN by quantile regression.

Dabney, Rowland, Bellemare and Munos, "Distributional reinforcement learning with
quantile regression", AAAI 2018.

What changes from DQN: the network outputs, for each action, N quantile values θ_i
of the return at the fixed fractions τ̂_i = (2i + 1) / 2N ([B, A, N]); Q is their
mean. The target samples are r + discount·θ_j(s', a*) and the loss is the quantile
Huber loss (``learner.quantile_huber_loss``) between every pair (i, j).

What differs from the paper, and why:
- The discount is the stored γ^k·(1 − terminated) of each transition (truncation
  bootstraps; n-step needs no change here).
- Gradients are clipped by global norm 10 (the paper does not clip).
- The variant options (``double``, ``dueling``, ``noisy``, ``n_step``,
  ``prioritized``) default to off; with ``prioritized`` the priority is the
  per-sample quantile loss.

Read top to bottom: the config, the network, Q-values as the mean of the quantiles,
and the per-sample loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from deepq import learner, networks
from deepq.config import param
from deepq.loop import Model
from deepq.settings import QuantileLossConfig, RunConfig, redefault
from deepq.speed import Nets


@dataclass(frozen=True)
class QRDQNConfig(RunConfig, QuantileLossConfig):
    """Every hyperparameter of a QR-DQN run: RunConfig's,
    the paper's Adam settings, the quantiles and κ."""

    lr: float = redefault('lr', 5e-05)
    adam_eps: float = redefault('adam_eps', 0.0003125)
    n_quantiles: int = param(200, "quantiles N of the return distribution per action", min=1)


def network(cfg: QRDQNConfig, obs_shape: tuple[int, ...], n_actions: int) -> torch.nn.Module:
    return networks.for_config(cfg, obs_shape, n_actions, n_atoms=cfg.n_quantiles)


def q_values(net, obs: torch.Tensor, cfg: QRDQNConfig) -> torch.Tensor:
    return net(obs).mean(2)  # [B, A]


def qrdqn_loss(nets: Nets, batch: dict[str, torch.Tensor], cfg: QRDQNConfig
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample quantile Huber loss [B] (also the new priority) and mean Q."""
    n = cfg.n_quantiles
    taus = (2 * torch.arange(n, dtype=torch.float32, device=batch["obs"].device) + 1) / (2 * n)  # [N] τ̂_i
    arange = torch.arange(batch["action"].shape[0], device=batch["action"].device)
    theta = nets.train(batch["obs"])  # [B, A, N]
    theta_a = theta[arange, batch["action"]]  # [B, N]
    with torch.no_grad():
        next_theta = nets.target_pass(batch["next_obs"])  # [B, A, N]
        if cfg.double:  # van Hasselt et al. 2016: the online network picks a'
            next_a = nets.train(batch["next_obs"]).mean(2).argmax(1)  # [B]
        else:
            next_a = next_theta.mean(2).argmax(1)  # [B]
        target = (batch["reward"][:, None]
                  + batch["discount"][:, None] * next_theta[arange, next_a])  # [B, N]
    per_sample = learner.quantile_huber_loss(theta_a, target, taus, cfg.kappa)  # [B]
    return per_sample, per_sample.detach(), theta.detach().mean()


class QRDQN(Model):
    """A QR-DQN agent: ``QRDQN(cfg).learn()``; ``evaluate``, ``predict``, ``save``, ``load``."""

    name, Config = "qrdqn", QRDQNConfig
    network, q_values, loss = staticmethod(network), staticmethod(q_values), staticmethod(qrdqn_loss)
