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

from deepq import networks, targets
from deepq.algos.loop import Learner, RunConfig, batch_mean, gradient_step, redefault
from deepq.config import param
from deepq.errors import DeepQError


@dataclass(frozen=True)
class IQNConfig(RunConfig):
    """Every hyperparameter of an IQN run: RunConfig's,
    the paper's Adam settings and the sampled fractions."""

    lr: float = redefault('lr', 5e-05)
    adam_eps: float = redefault('adam_eps', 0.0003125)
    n_tau: int = param(64, "fractions τ sampled per transition for the online quantiles (N)", min=1)
    n_tau_target: int = param(64, "fractions τ' sampled per transition for the target (N')", min=1)
    n_tau_act: int = param(32, "fractions sampled to estimate Q when acting (K)", min=1)
    n_cos: int = param(64, "cosine features of the τ embedding", min=1)
    kappa: float = param(1.0, "quantile Huber loss threshold κ (return units); 0 = plain quantile loss",
                         min=0.0)


def iqn_update(q_net: torch.nn.Module, target_net: torch.nn.Module, optimizer: torch.optim.Optimizer,
               batch: dict[str, torch.Tensor], cfg: IQNConfig) -> tuple[torch.Tensor, torch.Tensor, np.ndarray | None]:
    """One gradient step on the IQN loss; returns (loss, mean Q, quantile loss [B] when
    the batch carries importance weights, for the new priorities, else None)."""
    b = batch["action"].shape[0]
    arange = torch.arange(b, device=batch["action"].device)
    taus = torch.rand(b, cfg.n_tau, device=batch["obs"].device)  # [B, N]
    theta = q_net(batch["obs"], taus)  # [B, A, N]
    theta_a = theta[arange, batch["action"]]  # [B, N]
    with torch.no_grad():
        taus_next = torch.rand(b, cfg.n_tau_target, device=batch["obs"].device)  # [B, N']
        next_theta = target_net(batch["next_obs"], taus_next)  # [B, A, N']
        if cfg.double:  # van Hasselt et al. 2016: the online network picks a'
            next_a = q_net(batch["next_obs"], taus_next).mean(2).argmax(1)  # [B]
        else:
            next_a = next_theta.mean(2).argmax(1)  # [B]
        target = (batch["reward"][:, None]
                  + batch["discount"][:, None] * next_theta[arange, next_a])  # [B, N']
    per_sample = targets.quantile_huber_loss(theta_a, target, taus, cfg.kappa)  # [B]
    loss, priorities = batch_mean(per_sample, batch)  # weighted when prioritized
    gradient_step(loss, optimizer, q_net, cfg)
    return loss.detach(), theta.detach().mean(), priorities


class IQN(Learner):
    """An IQN agent: ``IQN(cfg).learn()``; ``evaluate``, ``predict``, ``save``, ``load``."""

    name = "iqn"
    Config = IQNConfig

    def build_network(self) -> torch.nn.Module:
        c = self.cfg
        if c.dueling or c.noisy:
            raise DeepQError("iqn does not implement dueling or noisy heads; set dueling=false, noisy=false")
        return networks.IQNNetwork(self.obs_shape, self.n_actions, c.hidden, n_cos=c.n_cos)

    def action_values(self, obs: torch.Tensor) -> torch.Tensor:
        taus = torch.rand(obs.shape[0], self.cfg.n_tau_act, device=obs.device)  # [B, K]
        return self.q_net(obs, taus).mean(2)  # [B, A]

    def train_on(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, np.ndarray | None]:
        return iqn_update(self.q_net, self.target_net, self.optimizer, batch, self.cfg)
