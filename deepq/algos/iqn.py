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

Read top to bottom: the config, the network, Q-values as the mean of K sampled
quantiles, and the per-sample loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from deepq import learner, networks
from deepq.config import param
from deepq.errors import DeepQError
from deepq.loop import Model
from deepq.settings import QuantileLossConfig, RunConfig, redefault
from deepq.speed import Nets


@dataclass(frozen=True)
class IQNConfig(RunConfig, QuantileLossConfig):
    """Every hyperparameter of an IQN run: RunConfig's,
    the paper's Adam settings, the sampled fractions and κ."""

    lr: float = redefault('lr', 5e-05)
    adam_eps: float = redefault('adam_eps', 0.0003125)
    n_tau: int = param(64, "fractions τ sampled per transition for the online quantiles (N)", min=1)
    n_tau_target: int = param(64, "fractions τ' sampled per transition for the target (N')", min=1)
    n_tau_act: int = param(32, "fractions sampled to estimate Q when acting (K)", min=1)
    n_cos: int = param(64, "cosine features of the τ embedding", min=1)


def network(cfg: IQNConfig, obs_shape: tuple[int, ...], n_actions: int) -> torch.nn.Module:
    if cfg.dueling or cfg.noisy:
        raise DeepQError("iqn does not implement dueling or noisy heads; set dueling=false, noisy=false")
    return networks.IQNNetwork(obs_shape, n_actions, cfg.hidden, n_cos=cfg.n_cos, torso=cfg.torso)


def q_values(net, obs: torch.Tensor, cfg: IQNConfig) -> torch.Tensor:
    taus = torch.rand(obs.shape[0], cfg.n_tau_act, device=obs.device)  # [B, K]
    return net(obs, taus).mean(2)  # [B, A]


def iqn_loss(nets: Nets, batch: dict[str, torch.Tensor], cfg: IQNConfig
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample quantile Huber loss [B] (also the new priority) and mean Q."""
    b = batch["action"].shape[0]
    arange = torch.arange(b, device=batch["action"].device)
    taus = torch.rand(b, cfg.n_tau, device=batch["obs"].device)  # [B, N]
    theta = nets.train(batch["obs"], taus)  # [B, A, N]
    theta_a = theta[arange, batch["action"]]  # [B, N]
    with torch.no_grad():
        taus_next = torch.rand(b, cfg.n_tau_target, device=batch["obs"].device)  # [B, N']
        next_theta = nets.target_pass(batch["next_obs"], taus_next)  # [B, A, N']
        if cfg.double:  # van Hasselt et al. 2016: the online network picks a'
            next_a = nets.train(batch["next_obs"], taus_next).mean(2).argmax(1)  # [B]
        else:
            next_a = next_theta.mean(2).argmax(1)  # [B]
        target = (batch["reward"][:, None]
                  + batch["discount"][:, None] * next_theta[arange, next_a])  # [B, N']
    per_sample = learner.quantile_huber_loss(theta_a, target, taus, cfg.kappa)  # [B]
    return per_sample, per_sample.detach(), theta.detach().mean()


class IQN(Model):
    """An IQN agent: ``IQN(cfg).learn()``; ``evaluate``, ``predict``, ``save``, ``load``."""

    name, Config = "iqn", IQNConfig
    network, q_values, loss = staticmethod(network), staticmethod(q_values), staticmethod(iqn_loss)
