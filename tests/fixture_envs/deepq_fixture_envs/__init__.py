"""Test environments that register only when ``register()`` is called (the way some
packages do), for deepq's ``env_modules`` setting and the ``MODULE:ENV_ID`` form.

``FixtureGrid/Goal-v0``: a 10×10 grid seen as an image [10, 10, 2] of bools (height,
width, channel): channel 0 marks the agent, placed at random on reset, channel 1 the
goal, in one of the four corners at random. Actions 0–3 move up, down, left, right
(walls stop). Reaching the goal gives +1 and ends the episode; after ``max_steps`` (20)
it is truncated. Every start is at most 18 moves from its goal; a policy that does not
look at the image reaches one corner in four at best.

``FixtureGrid/GoalCHW-v0``: the same with channels first, [2, 10, 10] uint8 (0 or 1).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

MOVES = np.array([(-1, 0), (1, 0), (0, -1), (0, 1)])


class GoalGrid(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, size: int = 10, max_steps: int = 20, channels_first: bool = False,
                 dtype: str = "bool", render_mode: str | None = None):
        self.size, self.max_steps, self.channels_first = size, max_steps, channels_first
        self.dtype = np.dtype(dtype)
        shape = (2, size, size) if channels_first else (size, size, 2)
        self.observation_space = gym.spaces.Box(0, 1, shape, self.dtype)
        self.action_space = gym.spaces.Discrete(4)

    def _obs(self) -> np.ndarray:
        grid = np.zeros((self.size, self.size, 2), self.dtype)
        grid[tuple(self.agent) + (0,)] = 1
        grid[tuple(self.goal) + (1,)] = 1
        return np.ascontiguousarray(grid.transpose(2, 0, 1)) if self.channels_first else grid

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        corners = np.array([(0, 0), (0, 1), (1, 0), (1, 1)]) * (self.size - 1)
        self.goal = corners[self.np_random.integers(4)]
        self.agent = self.goal
        while (self.goal == self.agent).all():
            self.agent = self.np_random.integers(self.size, size=2)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.agent = np.clip(self.agent + MOVES[int(action)], 0, self.size - 1)
        self.t += 1
        reached = bool((self.agent == self.goal).all())
        return self._obs(), float(reached), reached, self.t >= self.max_steps and not reached, {}


class Spaces(gym.Env):
    """One step of nothing in a given observation space (for the space handling tests)."""

    metadata = {"render_modes": []}

    def __init__(self, space: gym.Space, render_mode: str | None = None):
        self.observation_space, self.action_space = space, gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, True, False, {}


IDS = ("FixtureGrid/Goal-v0", "FixtureGrid/GoalCHW-v0")


def register() -> None:
    if IDS[0] not in gym.registry:
        gym.register(IDS[0], entry_point=GoalGrid)
        gym.register(IDS[1], entry_point=GoalGrid, kwargs={"channels_first": True, "dtype": "uint8"})


def unregister() -> None:
    for env_id in IDS:
        gym.registry.pop(env_id, None)
