"""The data vocabulary shared by every part of deepq.

Glossary of names:
  step      an environment step (one call of ``env.step``); every period is in steps
  update    a gradient step on the online network
  episode   from ``env.reset`` to termination or truncation (a whole game on Atari;
            a lost life ends the *learning* episode through ``terminated`` but not
            the game)
  discount  γ^k · (1 − terminated) of a stored transition: the multiplier of the
            bootstrap value; 0 after termination, γ after a time-limit truncation

Shape letters used in comments and asserts:
  B  batch size          A  number of actions
  C  stacked frames      H, W  frame height and width (84 × 84 on Atari)
  D  vector observation size
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np


@dataclass
class Step:
    """One environment step as the agent saw it, produced by ``agent.Rollout``."""

    obs: np.ndarray  # observation the action was chosen from
    action: int
    reward: float  # the environment's raw reward
    next_obs: np.ndarray  # the true next observation (the final one on episode end)
    terminated: bool  # no bootstrap: game over, or a lost life when that counts
    truncated: bool  # time limit: bootstrap from next_obs
    episode_end: bool  # the environment resets after this step
    episode_return: float | None = None  # whole-episode raw score, set on episode_end
    episode_length: int | None = None


@dataclass
class Batch:
    """A sampled minibatch, already as arrays; the algorithm turns it into tensors."""

    obs: np.ndarray  # [B, *obs_shape]
    action: np.ndarray  # [B] int64
    reward: np.ndarray  # [B] float32, as stored (sign-clipped on Atari)
    discount: np.ndarray  # [B] float32, γ^k · (1 − terminated)
    next_obs: np.ndarray  # [B, *obs_shape]
    index: np.ndarray  # [B] int64 storage slots (for priority updates)
    weight: np.ndarray | None = None  # [B] importance weights (prioritized replay)
