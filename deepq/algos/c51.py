"""C51: categorical distributional DQN.

Bellemare, Dabney and Munos, "A distributional perspective on reinforcement learning",
ICML 2017.

What changes from DQN: the network outputs, for each action, probabilities over
``n_atoms`` fixed returns from ``v_min`` to ``v_max`` ([B, A, N]); Q is their mean.
The target distribution of r + discount·Z(s', a*) is projected back onto the support
(``learner.categorical_projection``) and the loss is the cross-entropy to it.

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

Rainbow (Hessel et al., "Rainbow: combining improvements in deep reinforcement
learning", AAAI 2018) is C51 with the five other components on by default: the online
network picks a' (Double), a dueling, noisy network with its streams combined per atom,
3-step returns, prioritized replay (α 0.5, β 0.4 → 1) and ε = 0. Its differences from
the paper: β is annealed to 1 over ``total_steps`` environment steps; importance
weights are normalised by the batch's largest; gradients are clipped by global norm
10; evaluation acts on the noisy layers' mean weights. Data-efficient Rainbow (van
Hasselt et al. 2019) is the preset ``rainbow-atari100k``, with the Nature CNN.

Read top to bottom: the configs, the network, Q-values as the mean of the
distribution, and the per-sample loss; ``RainbowConfig`` differs from ``C51Config``
only in its defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from deepq import learner, networks
from deepq.config import param
from deepq.errors import DeepQError
from deepq.loop import Model
from deepq.settings import RunConfig, redefault
from deepq.speed import Nets


@dataclass(frozen=True)
class C51Config(RunConfig):
    """Every hyperparameter of a C51 run: RunConfig's,
    the paper's Adam settings and the categorical support."""

    lr: float = redefault('lr', 0.00025)
    adam_eps: float = redefault('adam_eps', 0.0003125)
    n_atoms: int = param(51, "atoms of the return distribution's support", min=2)
    v_min: float = param(-10.0, "lowest atom of the support (return units)")
    v_max: float = param(10.0, "highest atom of the support (return units)")


@dataclass(frozen=True)
class RainbowConfig(C51Config):
    """C51 with Rainbow's defaults: the paper's Adam settings and its components on."""

    lr: float = redefault('lr', 6.25e-05)
    adam_eps: float = redefault('adam_eps', 0.00015)
    double: bool = redefault('double', True)
    dueling: bool = redefault('dueling', True)
    noisy: bool = redefault('noisy', True)
    n_step: int = redefault('n_step', 3)
    prioritized: bool = redefault('prioritized', True)
    per_alpha: float = redefault('per_alpha', 0.5)


def support(cfg: C51Config, device: torch.device) -> torch.Tensor:
    """[N] returns of the atoms."""
    return torch.linspace(cfg.v_min, cfg.v_max, cfg.n_atoms, device=device)


def network(cfg: C51Config, obs_shape: tuple[int, ...], n_actions: int) -> torch.nn.Module:
    if not cfg.v_min < cfg.v_max:
        raise DeepQError(f"config needs v_min < v_max; got v_min={cfg.v_min}, v_max={cfg.v_max}")
    return networks.for_config(cfg, obs_shape, n_actions, n_atoms=cfg.n_atoms)


def q_values(net, obs: torch.Tensor, cfg: C51Config) -> torch.Tensor:
    return (F.softmax(net(obs), dim=2) * support(cfg, obs.device)).sum(2)  # [B, A]


def c51_loss(nets: Nets, batch: dict[str, torch.Tensor], cfg: C51Config
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample cross-entropy to the projected target distribution [B] (also the new
    priority, as in Rainbow) and mean Q."""
    z = support(cfg, batch["obs"].device)  # [N]
    arange = torch.arange(batch["action"].shape[0], device=batch["action"].device)
    log_p = F.log_softmax(nets.train(batch["obs"]), dim=2)  # [B, A, N]
    log_p_a = log_p[arange, batch["action"]]  # [B, N]
    with torch.no_grad():
        next_p = F.softmax(nets.target_pass(batch["next_obs"]), dim=2)  # [B, A, N]
        if cfg.double:  # van Hasselt et al. 2016: the online network picks a'
            next_a = (F.softmax(nets.train(batch["next_obs"]), dim=2) * z).sum(2).argmax(1)  # [B]
        else:
            next_a = (next_p * z).sum(2).argmax(1)  # [B]
        target_p = learner.categorical_projection(batch["reward"], batch["discount"],
                                                  next_p[arange, next_a], z)  # [B, N]
    cross_entropy = -(target_p * log_p_a).sum(1)  # [B]
    return cross_entropy, cross_entropy.detach(), (log_p.detach().exp() * z).sum(2).mean()


class C51(Model):
    """A C51 agent: ``C51(cfg).learn()``; ``evaluate``, ``predict``, ``save``, ``load``."""

    name, Config = "c51", C51Config
    network, q_values, loss = staticmethod(network), staticmethod(q_values), staticmethod(c51_loss)


class Rainbow(Model):
    """A Rainbow agent: C51's rule with ``RainbowConfig``'s defaults."""

    name, Config = "rainbow", RainbowConfig
    network, q_values, loss = staticmethod(network), staticmethod(q_values), staticmethod(c51_loss)
