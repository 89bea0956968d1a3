"""Munchausen DQN (M-DQN).

Vieillard, Pietquin and Geist, "Munchausen reinforcement learning", NeurIPS 2020.

What changes from DQN: the target (``learner.munchausen_target``) adds the scaled,
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

Read top to bottom: the config, the network, Q-values, and the per-sample loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from deepq import learner, networks
from deepq.config import param
from deepq.errors import DeepQError
from deepq.loop import Model
from deepq.settings import RunConfig, TDLossConfig, redefault
from deepq.speed import Nets


@dataclass(frozen=True)
class MunchausenConfig(RunConfig, TDLossConfig):
    """Every hyperparameter of an M-DQN run: RunConfig's,
    the paper's Adam settings, the TD loss and the Munchausen terms."""

    lr: float = redefault('lr', 5e-05)
    adam_eps: float = redefault('adam_eps', 0.0003125)
    m_tau: float = param(0.03, "entropy temperature τ of the softmax policy π = softmax(q/τ) "
                         "(reward units)", min=0.0, min_exclusive=True)
    m_alpha: float = param(0.9, "Munchausen scaling α of the log-policy bonus", min=0.0, max=1.0)
    m_log_clip: float = param(-1.0, "lower clip l₀ of τ·ln π(a|s) in the bonus (reward units)", max=0.0)


def network(cfg: MunchausenConfig, obs_shape: tuple[int, ...], n_actions: int) -> torch.nn.Module:
    if cfg.double:  # the soft value has no argmax for an online network to pick
        raise DeepQError("munchausen has no double variant; set double=false")
    return networks.for_config(cfg, obs_shape, n_actions)


def q_values(net, obs: torch.Tensor, cfg: MunchausenConfig) -> torch.Tensor:
    return net(obs)  # [B, A]


def munchausen_loss(nets: Nets, batch: dict[str, torch.Tensor], cfg: MunchausenConfig
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample TD loss to the Munchausen target [B], |TD error| [B] and mean Q."""
    q = nets.train(batch["obs"])  # [B, A]
    with torch.no_grad():
        target_q = nets.target_pass(batch["obs"])  # [B, A] for the log-policy bonus
        next_q = nets.target_pass(batch["next_obs"])  # [B, A]
    y = learner.munchausen_target(batch["reward"], batch["discount"], target_q, batch["action"],
                                  next_q, cfg.m_tau, cfg.m_alpha, cfg.m_log_clip)  # [B]
    per_sample, td_abs = learner.td_loss(q, batch["action"], y, cfg.loss, cfg.huber_delta)  # [B], [B]
    return per_sample, td_abs, q.detach().mean()


class MunchausenDQN(Model):
    """An M-DQN agent: ``MunchausenDQN(cfg).learn()``; ``evaluate``, ``predict``, ``save``, ``load``."""

    name, Config = "munchausen", MunchausenConfig
    network, q_values, loss = staticmethod(network), staticmethod(q_values), staticmethod(munchausen_loss)
