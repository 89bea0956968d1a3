"""The agent: acting (ε-greedy and its schedules), stepping an environment, evaluating.

``Rollout`` is the one place that handles reset, terminated versus truncated, the
final observation and episode statistics. Each episode is reset with a seed derived
from (run seed, stream, episode index) and the actions taken since the last reset are
remembered, so a checkpoint can restore the environment exactly by replaying them,
for any environment and without pickling it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from deepq.errors import DeepQError
from deepq.types import Step


def exponential_epsilon(step: int, start: float, final: float, decay: float) -> float:
    """ε(t) = final + (start − final)·exp(−t / decay); decay in environment steps."""
    return final + (start - final) * math.exp(-step / decay)


def linear_epsilon(step: int, start: float, final: float, decay: float) -> float:
    """ε falls linearly from start to final over ``decay`` environment steps, then stays."""
    return start + min(step / decay, 1.0) * (final - start)


EPSILON_SCHEDULES: dict[str, Callable[[int, float, float, float], float]] = {
    "exponential": exponential_epsilon,
    "linear": linear_epsilon,
}


def episode_seed(seed: int, stream: int, episode: int) -> int:
    """A reset seed for each (run seed, stream, episode): training and evaluation
    environments use different streams so they never replay each other's episodes."""
    return int(np.random.SeedSequence([seed, stream, episode]).generate_state(1)[0])


class EpsilonGreedy:
    """Greedy in the Q-network's values with probability 1 − ε, uniform otherwise."""

    def __init__(self, q_net: torch.nn.Module, n_actions: int, rng: np.random.Generator,
                 device: torch.device | str = "cpu"):
        self.q_net = q_net
        self.n_actions = n_actions
        self.rng = rng
        self.device = torch.device(device)

    @torch.no_grad()
    def greedy(self, obs: np.ndarray) -> int:
        # Acting at batch 1 stays in fp32 (faster than bf16 on CPU at this size) and on one
        # CPU thread: a 2-thread OpenMP pass is no faster at batch 1 and, when another
        # process holds a core, its spinning barrier makes each pass 20–100× slower.
        threads = torch.get_num_threads() if self.device.type == "cpu" else 1
        if threads > 1:
            torch.set_num_threads(1)
        try:
            q = self.q_net(torch.as_tensor(obs, device=self.device).unsqueeze(0))  # [1, A]
        finally:
            if threads > 1:
                torch.set_num_threads(threads)
        return int(q.argmax(dim=1))

    def __call__(self, obs: np.ndarray, epsilon: float) -> int:
        if self.rng.random() < epsilon:
            return int(self.rng.integers(self.n_actions))
        return self.greedy(obs)


class Rollout:
    """Steps one environment one action at a time and reports each step.

    ``life_loss_terminal``: a step whose ``info["life_loss"]`` is set counts as
    terminated (no bootstrap) while the game goes on (DeepMind's Atari setting).
    """

    def __init__(self, env: gym.Env, seed: int, stream: int = 0, life_loss_terminal: bool = False):
        self.env = env
        self.seed = seed
        self.stream = stream
        self.life_loss_terminal = life_loss_terminal
        self.episode = 0  # episodes started so far
        self.actions: list[int] = []  # actions since the last reset
        self.obs: np.ndarray | None = None  # None: reset before the next step

    def _reset(self) -> None:
        self.obs, _ = self.env.reset(seed=episode_seed(self.seed, self.stream, self.episode))
        self.episode += 1
        self.actions = []

    def step(self, act: Callable[[np.ndarray], int]) -> Step:
        """Choose an action with ``act(obs)``, step, and return what happened."""
        if self.obs is None:
            self._reset()
        obs = self.obs
        action = int(act(obs))
        next_obs, reward, terminated, truncated, info = self.env.step(action)
        self.actions.append(action)
        episode_end = bool(terminated or truncated)
        life_lost = self.life_loss_terminal and info.get("life_loss", False)
        step = Step(
            obs=obs,
            action=action,
            reward=float(reward),
            next_obs=next_obs,
            terminated=bool(terminated or life_lost),
            # A step both terminated and truncated is a termination: nothing to bootstrap.
            truncated=bool(truncated and not terminated),
            episode_end=episode_end,
        )
        if episode_end:
            stats = info["episode"]  # from RecordEpisodeStatistics: the whole raw score
            step.episode_return = float(stats["r"])
            step.episode_length = int(stats["l"])
            self.obs = None
        else:
            self.obs = next_obs
        return step

    def state_dict(self) -> dict[str, Any]:
        return {"episode": self.episode, "actions": list(self.actions),
                "mid_episode": self.obs is not None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the environment by resetting with the same seed and replaying actions."""
        self.obs = None
        self.episode = int(state["episode"])
        self.actions = []
        if state["mid_episode"]:
            self.episode -= 1
            self._reset()
            for action in state["actions"]:
                self.obs, _, terminated, truncated, _ = self.env.step(int(action))
                if terminated or truncated:
                    raise DeepQError("replaying the saved episode ended it early: the "
                                     "environment is not deterministic under its seed")
            self.actions = [int(a) for a in state["actions"]]


def evaluate(env: gym.Env, act: Callable[[np.ndarray], int], episodes: int, seed: int,
             stream: int) -> list[float]:
    """Run ``episodes`` whole episodes with ``act`` and return their raw scores."""
    rollout = Rollout(env, seed=seed, stream=stream)
    returns: list[float] = []
    while len(returns) < episodes:
        step = rollout.step(act)
        if step.episode_end:
            returns.append(step.episode_return)
    return returns
