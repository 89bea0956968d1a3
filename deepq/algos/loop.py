"""The training loop shared by the distributional and Munchausen algorithm files.

Not an algorithm: it knows nothing about targets or losses. An algorithm file
(``c51.py``, ``qrdqn.py``, ``iqn.py``, ``munchausen.py``, ``rainbow.py``) declares
its config, its pure update rule and a small class that says three things:

    build_network()        the online network (the target network is its copy)
    action_values(obs)     Q-values [B, A] for acting greedily
    train_on(batch)        one gradient step → (loss, mean Q, priorities [B] or None)

The loop is the one of ``dqn.DQN`` (which keeps its own copy, so DQN reads top to
bottom in one file): acting with ε-greedy (ε = 0 with noisy nets), n-step and
prioritized replay, target syncs, logging, evaluation, stopping, checkpoints.
"""

from __future__ import annotations

import copy
import json
import random
import signal
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepq import agent, checkpoint, config, envs, targets
from deepq.errors import DeepQError
from deepq.log import RunLogger
from deepq.replay import ReplayBuffer


class _ActionValues(torch.nn.Module):
    """Adapts an algorithm's ``action_values`` to what ``agent.EpsilonGreedy`` calls."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.fn(obs)


class Learner:
    """Build from a config, ``learn``, ``evaluate``, ``predict``, ``save``, ``load``.

    Subclasses set ``name`` (stored in checkpoints) and ``Config`` and define
    ``build_network``, ``action_values`` and ``train_on``.
    """

    name = ""
    Config: type = object

    def build_network(self) -> torch.nn.Module:
        raise NotImplementedError

    def action_values(self, obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def train_on(self, batch: dict[str, torch.Tensor]) -> tuple[float, float, np.ndarray | None]:
        raise NotImplementedError

    def __init__(self, cfg: Any, run_dir: str | Path | None = None, *,
                 progress: bool = False, tensorboard: bool = True):
        config.check(cfg)
        self.cfg = cfg
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.progress = progress
        self.tensorboard = tensorboard
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        # The parts of the run, built in one place:
        self.env = envs.make(cfg.env_id, cfg.frame_stack, cfg.noop_max)
        self.obs_shape, self.obs_dtype, self.frame_stack = envs.obs_info(self.env)
        self.n_actions = int(self.env.action_space.n)
        self.q_net = self.build_network()
        self.target_net = copy.deepcopy(self.q_net).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.q_net.parameters(), lr=cfg.lr, eps=cfg.adam_eps)
        self.replay_rng = np.random.default_rng([cfg.seed, 0])
        self.policy = agent.EpsilonGreedy(_ActionValues(self.action_values), self.n_actions,
                                          np.random.default_rng([cfg.seed, 1]))
        self.rollout = agent.Rollout(self.env, cfg.seed, stream=0,
                                     life_loss_terminal=cfg.life_loss_terminal)
        self.epsilon_fn = agent.EPSILON_SCHEDULES[cfg.eps_schedule]
        ReplayBuffer.check_sizes(cfg.buffer_size, cfg.n_step)  # fail now, not when learning starts
        self.replay: ReplayBuffer | None = None  # allocated when learning starts
        self._eval_env = None
        # Counters and running statistics (all saved in checkpoints).
        self.step = 0  # environment steps
        self.update = 0  # gradient updates
        self.evaluations = 0
        self.wall_time = 0.0  # seconds spent in learn(), over all sessions
        self.episode_returns: list[float] = []
        self.last_eval: float | None = None
        self._loss_sum = self._q_sum = 0.0
        self._loss_count = 0
        self._stop = False

    # -- acting --------------------------------------------------------------------

    def epsilon(self, step: int | None = None) -> float:
        c = self.cfg
        if getattr(c, "noisy", False):  # noisy nets explore through their weights
            return 0.0
        return self.epsilon_fn(self.step if step is None else step, c.eps_start, c.eps_final, c.eps_decay)

    def predict(self, obs: np.ndarray, epsilon: float = 0.0) -> int:
        """The action for one observation (greedy unless ``epsilon`` > 0)."""
        return self.policy(np.asarray(obs), epsilon)

    def evaluate(self, episodes: int | None = None, epsilon: float | None = None,
                 env=None) -> list[float]:
        """Raw scores of ``episodes`` episodes on a separate environment instance."""
        c = self.cfg
        if env is None and self._eval_env is None:
            self._eval_env = envs.make(c.env_id, c.frame_stack, c.noop_max)
        eps = c.eval_eps if epsilon is None else epsilon
        # Its own RNG, so evaluating never changes the training run's exploration.
        act = agent.EpsilonGreedy(_ActionValues(self.action_values), self.n_actions,
                                  np.random.default_rng([c.seed, 2, self.evaluations]))
        self.q_net.eval()  # noisy layers act on their mean weights
        try:
            returns = agent.evaluate(env or self._eval_env, lambda o: act(o, eps),
                                     episodes or c.eval_episodes, seed=c.seed,
                                     stream=1 + self.evaluations)
        finally:
            self.q_net.train()
        self.evaluations += 1
        return returns

    # -- learning ------------------------------------------------------------------

    def _ensure_replay(self) -> ReplayBuffer:
        if self.replay is None:
            c = self.cfg
            self.replay = ReplayBuffer(c.buffer_size, self.obs_shape, self.obs_dtype,
                                       self.frame_stack, self.replay_rng, n_step=c.n_step,
                                       prioritized=c.prioritized, alpha=c.per_alpha,
                                       priority_eps=c.per_eps)
        return self.replay

    def _batch(self) -> dict[str, torch.Tensor]:
        c = self.cfg
        beta = c.per_beta0 + (1.0 - c.per_beta0) * min(1.0, self.step / c.total_steps)
        b = self.replay.sample(c.batch_size, beta=beta)
        weight = {} if b.weight is None else {"weight": torch.from_numpy(b.weight)}  # [B]
        return weight | {
            "obs": torch.from_numpy(b.obs),  # [B, *obs_shape]
            "action": torch.from_numpy(b.action),  # [B]
            "reward": torch.from_numpy(b.reward),  # [B]
            "discount": torch.from_numpy(b.discount),  # [B]
            "next_obs": torch.from_numpy(b.next_obs),  # [B, *obs_shape]
            "index": torch.from_numpy(b.index),  # [B] replay slots
        }

    def learn(self, steps: int | None = None) -> bool:
        """Train until ``self.step`` reaches ``step + steps`` (or ``total_steps``).

        Returns True if the stop criterion was met. SIGINT/SIGTERM stop the loop
        after the current step; the run is then checkpointed (when it has a run_dir).
        """
        c = self.cfg
        end = self.step + steps if steps is not None else c.total_steps
        replay = self._ensure_replay()
        logger = None
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.json").write_text(
                json.dumps(config.to_dict(c), indent=1) + "\n")
            logger = RunLogger(self.run_dir, end, self.step, self.tensorboard, self.progress)
        restore = self._install_signal_handlers()
        solved = False
        recent = deque(self.episode_returns[-c.stop_window:], maxlen=c.stop_window)
        started = time.perf_counter()
        window_start, window_step = started, self.step
        try:
            while self.step < end and not self._stop:
                eps = self.epsilon()
                s = self.rollout.step(lambda obs: self.policy(obs, eps))
                self.step += 1
                reward = float(np.sign(s.reward)) if c.clip_rewards else s.reward
                discount = c.gamma * (1.0 - float(s.terminated))  # truncation keeps γ
                replay.add(s.obs, s.action, reward, discount, s.next_obs, s.episode_end)

                if self.step > c.learn_start and self.step % c.train_freq == 0:
                    batch = self._batch()
                    loss, q_mean, priorities = self.train_on(batch)
                    if priorities is not None:
                        replay.update_priorities(batch["index"].numpy(), priorities)
                    self.update += 1
                    self._loss_sum += loss
                    self._q_sum += q_mean
                    self._loss_count += 1
                if self.step % c.target_sync == 0:
                    targets.polyak_update(self.target_net, self.q_net, c.tau)

                now = time.perf_counter()
                wall = self.wall_time + (now - started)
                if s.episode_end:
                    self.episode_returns.append(s.episode_return)
                    recent.append(s.episode_return)
                    if logger:
                        logger.episode(self.step, self.update, wall, s.episode_return, s.episode_length)
                    if (c.stop_on == "train" and c.stop_return is not None
                            and len(recent) == c.stop_window and np.mean(recent) >= c.stop_return):
                        solved = True
                if self.step % c.log_every == 0 and self._loss_count and logger:
                    sps = (self.step - window_step) / max(now - window_start, 1e-9)
                    logger.train(self.step, self.update, wall, self._loss_sum / self._loss_count,
                                 self._q_sum / self._loss_count, eps, sps)
                    window_start, window_step = now, self.step
                if self.step % c.log_every == 0:
                    self._loss_sum = self._q_sum = 0.0
                    self._loss_count = 0
                if c.eval_every and self.step % c.eval_every == 0:
                    self.last_eval = float(np.mean(self.evaluate()))
                    if logger:
                        logger.eval(self.step, self.update, wall, self.last_eval)
                    if c.stop_on == "eval" and c.stop_return is not None and self.last_eval >= c.stop_return:
                        solved = True
                if logger:
                    logger.progress(1, float(np.mean(recent)) if recent else None)
                if c.checkpoint_every and self.step % c.checkpoint_every == 0 and self.run_dir:
                    self.wall_time, started = wall, now
                    self.save(self.run_dir / "checkpoints")
                if solved:
                    if logger:
                        logger.message(f"stop criterion met at step {self.step}: "
                                       f"mean return {self.last_eval if c.stop_on == 'eval' else np.mean(recent):.2f}")
                    break
        except BaseException:
            restore()
            if logger:
                logger.close()
            raise
        self.wall_time += time.perf_counter() - started
        restore()
        if self.run_dir is not None:
            self.save(self.run_dir / "checkpoints")
            if self._stop:
                logger.message(f"interrupted at step {self.step}; checkpoint saved. "
                               f"Resume with: deepq train --resume {self.run_dir}")
            logger.close()
            from deepq import plot  # matplotlib is slow to import: only for runs with a directory

            plot.plot_runs([self.run_dir], self.run_dir / "plot.png")
        self._stop = False
        return solved

    def _install_signal_handlers(self):
        """SIGINT/SIGTERM ask the loop to stop; a second signal aborts at once."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handler(signum, frame):
            if self._stop:
                raise KeyboardInterrupt
            self._stop = True

        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        return lambda: [signal.signal(s, h) for s, h in old.items()]

    # -- checkpoints ---------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Checkpoint everything needed to continue exactly; returns its directory."""
        opt_tensors, opt_meta = checkpoint.optimizer_to_flat(self.optimizer.state_dict())
        tensors = {f"online.{k}": v for k, v in self.q_net.state_dict().items()}
        tensors |= {f"target.{k}": v for k, v in self.target_net.state_dict().items()}
        tensors |= {f"optim.{k}": v for k, v in opt_tensors.items()}
        tensors["rng.torch"] = torch.get_rng_state()
        arrays, replay_meta = {}, None
        if self.replay is not None and self.cfg.save_replay:
            arrays, replay_meta = self.replay.state_dict()
        state = {
            "algorithm": self.name,
            "config": config.to_dict(self.cfg),
            "counters": {"step": self.step, "update": self.update,
                         "evaluations": self.evaluations, "wall_time": self.wall_time},
            "episode_returns": self.episode_returns,
            "last_eval": self.last_eval,
            "loss_window": [self._loss_sum, self._q_sum, self._loss_count],
            "optimizer": opt_meta,
            "replay": replay_meta,
            "rollout": self.rollout.state_dict(),
            "rng": {"python": random.getstate(), "replay": self.replay_rng.bit_generator.state,
                    "policy": self.policy.rng.bit_generator.state},
        }
        return checkpoint.save(Path(path), self.step, tensors, arrays, state, self.cfg.keep_checkpoints)

    @classmethod
    def load(cls, path: str | Path, run_dir: str | Path | None = None,
             overrides: dict[str, Any] | None = None, **kwargs):
        """Rebuild an agent from a checkpoint (a run directory or a checkpoint directory)."""
        tensors, arrays, state = checkpoint.load(path)
        if state.get("algorithm") != cls.name:
            raise DeepQError(f"{path} holds a '{state.get('algorithm')}' checkpoint, not {cls.name}")
        cfg = config.from_dict(cls.Config, state["config"])
        if overrides:
            cfg = config.override(cfg, overrides)
        model = cls(cfg, run_dir=run_dir, **kwargs)

        def part(prefix):
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        try:
            model.q_net.load_state_dict(part("online."))
            model.target_net.load_state_dict(part("target."))
            model.optimizer.load_state_dict(
                checkpoint.optimizer_from_flat(part("optim."), state["optimizer"]))
        except (RuntimeError, KeyError, ValueError) as e:
            raise DeepQError(f"checkpoint {path} does not match the network of its config: "
                             f"{str(e).splitlines()[0]}") from None
        torch.set_rng_state(tensors["rng.torch"])
        counters = state["counters"]
        model.step, model.update = counters["step"], counters["update"]
        model.evaluations, model.wall_time = counters["evaluations"], counters["wall_time"]
        model.episode_returns = list(state["episode_returns"])
        model.last_eval = state["last_eval"]
        model._loss_sum, model._q_sum, model._loss_count = state["loss_window"]
        python_state = state["rng"]["python"]
        random.setstate((python_state[0], tuple(python_state[1]), python_state[2]))
        model.replay_rng.bit_generator.state = state["rng"]["replay"]
        model.policy.rng.bit_generator.state = state["rng"]["policy"]
        if state["replay"] is not None:
            model._ensure_replay().load_state_dict(arrays, state["replay"])
        model.rollout.load_state_dict(state["rollout"])
        return model
