"""The agent: acting (ε-greedy and its schedules), stepping environments, evaluating.

Episode bookkeeping lives here and only here: ``step_record`` turns what an
environment returned into a ``Step`` (a lost life as termination, truncation that is
not termination, the final observation), for the Gymnasium environments stepped side
by side (``Rollout``, ``SideBySide``) and for an EnvPool (``PoolRollout``) alike;
``replay_fields`` turns steps into what the replay stores (the discount
γ·(1 − terminated), clipped rewards); ``finished`` lists the episodes that ended.
Each Gymnasium episode is reset with a seed derived from (run seed, stream, episode
index) and the actions taken since the last reset are remembered, so a checkpoint can
restore the environment exactly by replaying them, without pickling it.
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


def episode_seed(seed: int, stream: int, episode: int, lane: int = 0) -> int:
    """A reset seed for each (run seed, stream, episode, lane): training and evaluation
    environments use different streams so they never replay each other's episodes, and
    the environments stepped side by side in one stream are lanes 0, 1, …"""
    entropy = [seed, stream, episode] + ([lane] if lane else [])
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


REPEAT_MAX = 10_000  # εz-greedy's cap on one exploratory action's repeats (steps)


class EpsilonGreedy:
    """Greedy in the Q-network's values with probability 1 − ε (exact ties broken at
    random), uniform otherwise.

    With ``repeat_mu`` (> 1; εz-greedy, Dabney et al. 2021) ``batch`` repeats each
    exploratory action for n steps, P(n) ∝ n^−μ: a random walk of single steps cannot
    climb MountainCar's hill, a run of one action can. ``left`` and ``action`` hold each
    environment's repeat in progress (saved in checkpoints).
    """

    def __init__(self, q_net: torch.nn.Module, n_actions: int, rng: np.random.Generator,
                 device: torch.device | str = "cpu", repeat_mu: float | None = None):
        self.q_net = q_net
        self.n_actions = n_actions
        self.rng = rng
        self.device = torch.device(device)
        self.repeat_mu = repeat_mu
        self.left = np.zeros(0, np.int64)  # [N] repeats still to take
        self.action = np.zeros(0, np.int64)  # [N] the action being repeated

    @torch.no_grad()
    def greedy_batch(self, obs: np.ndarray) -> np.ndarray:
        """Greedy actions [N] for observations [N, ...], in one forward pass."""
        # Acting runs on the same torch threads as the update: dropping to one thread
        # around each pass made the Pong loop ~5% slower on 2 cores (8 of 8 interleaved
        # blocks, 1 and 8 environments). On a machine shared with other busy processes,
        # set threads = 1.
        q = self.q_net(torch.as_tensor(obs, device=self.device)).cpu().numpy()  # [N, A]
        ties = q == q.max(axis=1, keepdims=True)  # [N, A]
        actions = ties.argmax(axis=1)  # the first best action
        # Exact ties (an untrained network on one-hot or all-zero inputs, say) are broken at
        # random with the policy's seeded RNG; always taking the first action can freeze a
        # greedy evaluation on one action. Without ties no random number is drawn.
        for i in np.flatnonzero(ties.sum(axis=1) > 1):
            actions[i] = self.rng.choice(np.flatnonzero(ties[i]))
        return actions

    def greedy(self, obs: np.ndarray) -> int:
        return int(self.greedy_batch(np.asarray(obs)[None])[0])

    def __call__(self, obs: np.ndarray, epsilon: float) -> int:
        if self.rng.random() < epsilon:
            return int(self.rng.integers(self.n_actions))
        return self.greedy(obs)

    def batch(self, obs: np.ndarray, epsilon: float) -> np.ndarray:
        """Actions [N] for observations [N, ...]: each uniform with probability ε, the
        rest greedy from one forward pass. With N = 1 it draws what ``__call__`` draws."""
        if self.repeat_mu:
            return self._batch_repeating(obs, epsilon)
        explore = self.rng.random(len(obs)) < epsilon  # [N]
        actions = np.zeros(len(obs), np.int64)
        actions[explore] = self.rng.integers(self.n_actions, size=int(explore.sum()))
        if not explore.all():
            actions[~explore] = self.greedy_batch(obs[~explore])
        return actions

    def _batch_repeating(self, obs: np.ndarray, epsilon: float) -> np.ndarray:
        n = len(obs)
        if len(self.left) != n:
            self.left, self.action = np.zeros(n, np.int64), np.zeros(n, np.int64)
        busy = self.left > 0  # [N] in a repeat
        start = ~busy & (self.rng.random(n) < epsilon)  # [N] a new exploratory run
        k = int(start.sum())
        self.action[start] = self.rng.integers(self.n_actions, size=k)
        self.left[start] = np.minimum(self.rng.zipf(self.repeat_mu, size=k), REPEAT_MAX)
        explore = busy | start
        self.left[explore] -= 1
        actions = self.action.copy()
        if not explore.all():
            actions[~explore] = self.greedy_batch(obs[~explore])
        return actions


def step_record(obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool,
                truncated: bool, life_lost: bool, life_loss_terminal: bool) -> Step:
    """The one rule for what a step means to the learner."""
    return Step(
        obs=obs, action=action, reward=float(reward), next_obs=next_obs,
        terminated=bool(terminated or (life_loss_terminal and life_lost)),
        # A step both terminated and truncated is a termination: nothing to bootstrap.
        truncated=bool(truncated and not terminated),
        episode_end=bool(terminated or truncated))


def replay_fields(steps: list[Step], gamma: float, clip_rewards: bool) -> dict[str, Any]:
    """What ``ReplayBuffer.add_batch`` stores for one step of every environment."""
    reward = np.array([s.reward for s in steps], np.float64)  # [N]
    return dict(obs=[s.obs for s in steps], action=[s.action for s in steps],
                reward=np.sign(reward) if clip_rewards else reward,
                discount=[gamma * (1.0 - float(s.terminated)) for s in steps],  # truncation keeps γ
                next_obs=[s.next_obs for s in steps], episode_end=[s.episode_end for s in steps])


def finished(steps: list[Step]) -> list[tuple[float, int]]:
    """(raw return, length) of each episode that ended in ``steps``."""
    return [(s.episode_return, s.episode_length) for s in steps if s.episode_end]


class Rollout:
    """Steps one environment one action at a time and reports each step.

    ``life_loss_terminal``: a step whose ``info["life_loss"]`` is set counts as
    terminated (no bootstrap) while the game goes on (DeepMind's Atari setting).
    """

    def __init__(self, env: gym.Env, seed: int, stream: int = 0, life_loss_terminal: bool = False,
                 lane: int = 0):
        self.env = env
        self.seed = seed
        self.stream = stream
        self.lane = lane  # which of the environments stepped side by side in this stream
        self.life_loss_terminal = life_loss_terminal
        self.episode = 0  # episodes started so far
        self.actions: list[int] = []  # actions since the last reset
        self.obs: np.ndarray | None = None  # None: reset before the next step

    def _reset(self) -> None:
        self.obs, _ = self.env.reset(seed=episode_seed(self.seed, self.stream, self.episode, self.lane))
        self.episode += 1
        self.actions = []

    def step(self, act: Callable[[np.ndarray], int]) -> Step:
        """Choose an action with ``act(obs)``, step, and return what happened."""
        return self.act(int(act(self.observe())))

    def observe(self) -> np.ndarray:
        """The observation the next action is chosen from (resetting if needed)."""
        if self.obs is None:
            self._reset()
        return self.obs

    def act(self, action: int) -> Step:
        """Step with ``action`` from ``observe()``'s observation; return what happened."""
        obs = self.observe()
        next_obs, reward, terminated, truncated, info = self.env.step(action)
        self.actions.append(action)
        step = step_record(obs, action, reward, next_obs, terminated, truncated,
                           info.get("life_loss", False), self.life_loss_terminal)
        if step.episode_end:
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
            if not all(isinstance(a, int) and self.env.action_space.contains(a) for a in state["actions"]):
                raise DeepQError("the checkpoint's environment actions are not actions of this environment")
            self.episode -= 1
            self._reset()
            for action in state["actions"]:
                self.obs, _, terminated, truncated, _ = self.env.step(int(action))
                if terminated or truncated:
                    raise DeepQError("replaying the saved episode ended it early: the "
                                     "environment is not deterministic under its seed")
            self.actions = [int(a) for a in state["actions"]]


class SideBySide:
    """N ``Rollout``s stepped as one batch, in this process (exact resume)."""

    def __init__(self, rollouts: list[Rollout]):
        self.rollouts = rollouts

    def observe(self) -> np.ndarray:
        return np.stack([r.observe() for r in self.rollouts])  # [N, *obs_shape]

    def transitions(self, actions: np.ndarray) -> list[Step]:
        return [r.act(int(a)) for r, a in zip(self.rollouts, actions)]


class PoolRollout:
    """N environments of an EnvPool (``envs.make_pool``) stepped as one batch, with the
    same ``Step`` bookkeeping as ``Rollout``: ``life_loss_terminal`` turns a lost life
    into ``terminated``, the final observation of an episode is its ``next_obs``, and a
    finished environment is reset at once (by id) so every step yields N transitions.

    EnvPool seeds each environment once, at creation: a checkpoint cannot restore its
    episodes, so a resumed run starts new ones (``loop.Model`` cuts the replay's
    unfinished episodes). The Gymnasium backend (``SideBySide``) resumes exactly.
    """

    def __init__(self, pool, life_loss_terminal: bool = False):
        self.pool = pool
        self.life_loss_terminal = life_loss_terminal
        self.obs: np.ndarray | None = None

    def observe(self) -> np.ndarray:
        if self.obs is None:
            obs, info = self.pool.reset()
            self.obs, self.lives = np.array(obs), np.array(info["lives"])
            self.returns = np.zeros(len(obs))
            self.lengths = np.zeros(len(obs), np.int64)
        return self.obs

    def transitions(self, actions: np.ndarray) -> list[Step]:
        obs = self.observe()
        next_obs, reward, terminated, truncated, info = self.pool.step(np.asarray(actions))
        next_obs, lives = np.array(next_obs), np.array(info["lives"])
        life_lost = lives < self.lives
        ended = np.asarray(terminated | truncated)
        self.returns += reward
        self.lengths += 1
        steps = [step_record(obs[e], int(actions[e]), reward[e], next_obs[e], terminated[e],
                             truncated[e], life_lost[e], self.life_loss_terminal) for e in range(len(obs))]
        for e in np.flatnonzero(ended):
            steps[e].episode_return, steps[e].episode_length = float(self.returns[e]), int(self.lengths[e])
        self.obs, self.lives = next_obs.copy(), lives
        if ended.any():  # reset the finished environments now, by id
            ids = np.flatnonzero(ended)
            first, reset_info = self.pool.reset(ids)
            self.obs[ids], self.lives[ids] = first, reset_info["lives"]
            self.returns[ids], self.lengths[ids] = 0.0, 0
        return steps


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
