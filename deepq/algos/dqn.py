"""DQN: Q-learning with experience replay and a periodically synced target network.

Mnih et al., "Human-level control through deep reinforcement learning", Nature 2015.

What differs from the paper, and why:
- Adam instead of RMSProp (lr 1e-4 in the design document's Pong run; the paper's
  RMSProp settings are fragile to port across frameworks).
- The loss is Huber with δ = 1 on the TD error, the paper's "clip the error term to
  [−1, 1]"; MSE is an option (``loss = "mse"``).
- A time-limit truncation bootstraps from the final observation; only termination
  zeroes the discount (Pardo et al. 2018). The discount is stored with each transition.
- The target network syncs every ``target_sync`` *environment* steps (the paper counts
  updates; with ``train_freq = 1`` the two agree after ``learn_start``).
- ε follows the design document's exponential schedule by default; the paper's linear
  schedule is ``eps_schedule = "linear"``.
- Gradients are clipped for real (by global norm, or per element): see
  ``optim.clip_gradients`` for the design document's clamp that did nothing.

Read top to bottom: the config (``RunConfig``'s shared fields plus the TD loss), the
network, how Q-values are read from it, and the per-sample loss. The loop that runs
them is ``loop.Model.learn``; the gradient step is ``learner.TorchLearner.update``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from deepq import learner, networks
from deepq.loop import Model
from deepq.settings import RunConfig, TDLossConfig
from deepq.speed import Nets


@dataclass(frozen=True)
class DQNConfig(RunConfig, TDLossConfig):
    """Every hyperparameter of a DQN run: RunConfig's, and the TD loss."""


def network(cfg: DQNConfig, obs_shape: tuple[int, ...], n_actions: int) -> torch.nn.Module:
    return networks.for_config(cfg, obs_shape, n_actions)


def q_values(net, obs: torch.Tensor, cfg: DQNConfig) -> torch.Tensor:
    return net(obs)  # [B, A]


def dqn_loss(nets: Nets, batch: dict[str, torch.Tensor], cfg: DQNConfig
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample TD loss ρ(y − Q(s, a)) [B], |TD error| [B] (the new priority) and mean Q.

    Under bf16 (``speed.precision``) the network passes run under autocast; Q-values
    are cast back to fp32 before the target and the loss.
    """
    with nets.autocast():
        q = nets.train(batch["obs"]).float()  # [B, A]
        with torch.no_grad():
            next_q = nets.target_pass(batch["next_obs"]).float()  # [B, A]
            # Double DQN's online pass over s' stays separate and gradient-free: one fused
            # pass over [s; s'] would run the backward pass over 2B samples (measured
            # ~1.5× slower per update on CPU).
            online_next_q = nets.train(batch["next_obs"]).float() if cfg.double else None  # [B, A]
    if cfg.double:
        y = learner.double_q_learning_target(batch["reward"], batch["discount"], next_q,
                                             online_next_q)  # [B]
    else:
        y = learner.q_learning_target(batch["reward"], batch["discount"], next_q)  # [B]
    per_sample, td_abs = learner.td_loss(q, batch["action"], y, cfg.loss, cfg.huber_delta)  # [B], [B]
    return per_sample, td_abs, q.detach().mean()


class DQN(Model):
    """A DQN agent: ``DQN(cfg).learn()``; ``evaluate``, ``predict``, ``save``, ``load``."""

    name, Config, honours_precision = "dqn", DQNConfig, True
    network, q_values, loss = staticmethod(network), staticmethod(q_values), staticmethod(dqn_loss)
