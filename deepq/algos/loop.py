"""The training loop every algorithm shares, and the config fields it reads.

Not an algorithm: it knows nothing about targets or losses. An algorithm file
(``dqn.py``, ``c51.py``, ``qrdqn.py``, ``iqn.py``, ``munchausen.py``, ``rainbow.py``)
declares its config (``RunConfig`` plus its own fields), its pure update rule and a
small class that says three things:

    build_network()        the online network (the target network is its copy)
    action_values(obs)     Q-values [B, A] for acting greedily
    acting_values(obs)     optional: the same values as the training loop's acting computes
                           them (DQN: through the bf16 copy that MasterAdam keeps)
    train_on(batch)        one gradient step → (loss, mean Q, priorities [B] or None); loss
                           and mean Q stay 0-d tensors on the device, so a CUDA update
                           never waits for the GPU (they are read when a log row is written)

The loop is written once, here: acting with ε-greedy (ε = 0 with noisy nets), n-step
and prioritized replay, target syncs, logging, evaluation, stopping, checkpoints, and
the speed settings (device, bf16 autocast, fused Adam, torch.compile).
"""

from __future__ import annotations

import _thread
import copy
import json
import math
import os
import random
import shutil
import signal
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepq import agent, checkpoint, config, envs, networks, targets
from deepq.config import param
from deepq.errors import DeepQError
from deepq.log import RunLogger
from deepq.optim import MasterAdam
from deepq.replay import ReplayBuffer


@dataclass(frozen=True)
class RunConfig:
    """The hyperparameters every algorithm shares, with their units. Periods are
    environment steps. An algorithm's config adds its own fields to these."""

    env_id: str = param("CartPole-v1", "Gymnasium environment id with a discrete action space")
    seed: int = param(0, "seed for network init, exploration, replay sampling and env resets", min=0)
    total_steps: int = param(100_000, "environment steps to train for (steps)", min=1)
    # replay memory
    buffer_size: int = param(100_000, "replay capacity (transitions)", min=2)
    batch_size: int = param(32, "transitions per gradient update", min=1)
    learn_start: int = param(10_000, "environment steps collected before the first update (steps)", min=0)
    train_freq: int = param(1, "environment steps per gradient update (steps)", min=1)
    # optimisation and target network
    gamma: float = param(0.99, "discount factor per environment step", min=0.0, max=1.0)
    lr: float = param(1e-4, "Adam learning rate", min=0.0, max=1.0, min_exclusive=True)
    adam_eps: float = param(1e-8, "Adam epsilon (denominator guard)", min=0.0, min_exclusive=True)
    grad_clip_norm: float = param(10.0, "clip the global gradient L2 norm to this; 0 = off", min=0.0)
    grad_clip_value: float = param(0.0, "clamp each gradient element to ±this; 0 = off", min=0.0)
    target_sync: int = param(1000, "environment steps between target-network syncs (steps)", min=1)
    tau: float = param(1.0, "target sync blend: 1 = hard copy, < 1 = Polyak averaging",
                       min=0.0, max=1.0, min_exclusive=True)
    # variants (each default keeps the named algorithm; see docs/variants.md)
    double: bool = param(False, "Double DQN target (van Hasselt et al. 2016): the online "
                         "network picks a', the target network rates it")
    dueling: bool = param(False, "dueling network (Wang et al. 2016): value + mean-centred advantage")
    noisy: bool = param(False, "noisy nets (Fortunato et al. 2018): factorised Gaussian noisy "
                        "linear layers explore instead of ε (ε is 0 with them)")
    noisy_sigma0: float = param(0.5, "noisy nets: initial noise scale σ₀ (σ starts at σ₀/√inputs)",
                                min=0.0, min_exclusive=True)
    n_step: int = param(1, "rewards summed per stored transition (n-step return; steps)", min=1)
    prioritized: bool = param(False, "prioritized replay (Schaul et al. 2016), proportional variant")
    per_alpha: float = param(0.6, "prioritized replay: priority exponent α (0 = uniform)", min=0.0)
    per_beta0: float = param(0.4, "prioritized replay: importance-weight exponent β at step 0, "
                             "annealed linearly to 1 at total_steps", min=0.0, max=1.0)
    per_eps: float = param(1e-6, "prioritized replay: added to |TD error| in each priority "
                           "(reward units)", min=0.0, min_exclusive=True)
    # exploration
    eps_schedule: str = param("exponential", "ε schedule: exponential "
                              "final+(start−final)·exp(−t/decay), or linear over decay steps",
                              choices=("exponential", "linear"))
    eps_start: float = param(1.0, "ε at step 0", min=0.0, max=1.0)
    eps_final: float = param(0.01, "ε reached at the end of the schedule", min=0.0, max=1.0)
    eps_decay: float = param(30_000.0, "ε schedule length: e-folding time or linear span (steps)",
                             min=0.0, min_exclusive=True)
    # environment and network
    frame_stack: int = param(4, "Atari frames stacked per observation (Atari only)", min=1)
    noop_max: int = param(30, "Atari: at most this many no-op actions after reset", min=0)
    clip_rewards: bool = param(False, "learn from sign(reward); logged returns stay raw")
    life_loss_terminal: bool = param(True, "Atari: a lost life ends the learning episode "
                                     "(discount 0) but not the game")
    hidden: tuple[int, ...] = param((64, 64), "MLP hidden layer widths (vector observations)", min=1)
    # evaluation and stopping
    eval_every: int = param(0, "environment steps between evaluations; 0 = never (steps)", min=0)
    eval_episodes: int = param(10, "episodes per evaluation", min=1)
    eval_eps: float = param(0.0, "ε used during evaluation", min=0.0, max=1.0)
    stop_return: float | None = param(None, "stop when the mean return reaches this; none = never")
    stop_window: int = param(10, "training episodes averaged for stop_on = train", min=1)
    stop_on: str = param("train", "what stop_return is compared with: mean of the last "
                         "stop_window training episodes, or each evaluation's mean",
                         choices=("train", "eval"))
    # bookkeeping
    log_every: int = param(1000, "environment steps between loss rows in metrics.csv (steps)", min=1)
    checkpoint_every: int = param(50_000, "environment steps between checkpoints; 0 = only at "
                                  "the end and on interrupt (steps)", min=0)
    keep_checkpoints: int = param(1, "checkpoints kept on disk (newest)", min=1)
    save_replay: bool = param(True, "store the replay in checkpoints (needed for exact resume)")
    # acting: several environments side by side
    num_envs: int = param(1, "training environments stepped side by side, their actions chosen "
                          "by one forward pass; a step of all of them counts num_envs steps", min=1)
    env_backend: str = param("gymnasium", "how the num_envs environments run: gymnasium = "
                             "Gymnasium environments stepped in turn in this process (resumes "
                             "exactly); envpool = EnvPool's C++ pool, Atari only (pip install "
                             "envpool; a resumed run starts new episodes)",
                             choices=("gymnasium", "envpool"))
    overlap: bool = param(False, "step the environments in a second thread while the learner "
                          "takes the updates due for those steps (which then cannot sample the "
                          "num_envs transitions still being collected)")
    # speed (none of these changes what is learned beyond floating-point rounding)
    threads: int = param(0, "torch intra-op threads for acting and learning; 0 = torch's "
                         "default (one per core); 1 where other busy processes share the cores",
                         min=0)
    precision: str = param("auto", "network passes of DQN's update (the other algorithms run "
                           "fp32): fp32; bf16 = autocast with Q-values, loss and Adam state in "
                           "fp32; auto = bf16 for image observations where the CPU has native "
                           "bf16 (or on CUDA), else fp32",
                           choices=("auto", "fp32", "bf16"))
    fused_adam: bool = param(True, "use the fused (single-kernel) Adam where torch has it")
    compile_optimizer: str = param("auto", "bf16 DQN updates: train through a bf16 copy of the "
                                   "online network and update its fp32 weights with one "
                                   "torch.compile'd kernel that clips, steps Adam and refreshes "
                                   "the copy (optim.MasterAdam: the same numbers up to rounding, "
                                   "~10% more updates/s on CPU); auto = on for CPU runs of at least "
                                   "100k steps (compiling takes ~20 s once, "
                                   "~2 s from torch's cache)", choices=("auto", "on", "off"))
    compile: bool = param(False, "torch.compile the online and target networks (slow to start; "
                          "a few percent faster on CPU at best)")
    device: str = param("auto", "where networks live: cpu, cuda, or auto (cuda when available)",
                        choices=("auto", "cpu", "cuda"))


def redefault(name: str, default: Any) -> Any:
    """RunConfig's field ``name`` with another default, for an algorithm whose paper uses
    another value: the documentation and range stay declared once, in RunConfig."""
    (f,) = [f for f in fields(RunConfig) if f.name == name]
    return field(default=default, metadata=f.metadata)


def gradient_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, q_net: torch.nn.Module,
                  cfg: RunConfig) -> None:
    """Backpropagate ``loss`` and take one optimizer step, clipping the gradients as the
    config says (``targets.clip_gradients``: in place, unlike the design document's clamp)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if not isinstance(optimizer, MasterAdam):  # MasterAdam clips inside its one pass
        targets.clip_gradients(q_net.parameters(), cfg.grad_clip_norm, cfg.grad_clip_value)
    optimizer.step()


def batch_mean(per_sample: torch.Tensor, batch: dict[str, torch.Tensor]
               ) -> tuple[torch.Tensor, np.ndarray | None]:
    """Mean of per-sample losses [B] → (loss, new priorities [B] or None). With prioritized
    replay the batch carries importance weights: the mean is weighted and each sample's
    loss becomes its new priority."""
    if "weight" not in batch:
        return per_sample.mean(), None
    return (batch["weight"] * per_sample).mean(), per_sample.detach().cpu().numpy()


def resolve_master_adam(cfg: RunConfig, amp_dtype: torch.dtype | None, device: torch.device) -> bool:
    """Whether the update trains through a bf16 copy with ``optim.MasterAdam``."""
    if amp_dtype is None or cfg.compile_optimizer == "off":
        return False
    # torch.compile builds its CPU kernel with the C++ compiler that inductor calls
    compiler = device.type != "cpu" or shutil.which(os.environ.get("CXX") or "g++") is not None
    if cfg.compile_optimizer == "on":
        if not compiler:
            raise DeepQError("compile_optimizer = on needs a C++ compiler (g++, or $CXX) for "
                             "torch.compile; install one or set compile_optimizer = off")
        return True
    # auto: the compile (~20 s once) pays off in long runs; measured on CPU only
    return device.type == "cpu" and cfg.total_steps >= 100_000 and compiler


def resolve_precision(cfg: RunConfig, obs_shape: tuple[int, ...], device: torch.device) -> torch.dtype | None:
    """The autocast dtype of the update's network passes, or None for plain fp32."""
    if cfg.precision == "fp32":
        return None
    if cfg.precision == "bf16" or device.type == "cuda":
        return torch.bfloat16
    # auto on CPU: bf16 pays off for the CNN on CPUs with native bf16 (AVX512-BF16/AMX);
    # the small MLPs of vector tasks are faster in fp32.
    return torch.bfloat16 if len(obs_shape) == 3 and torch.ops.mkldnn._is_mkldnn_bf16_supported() else None


# state.json as Learner.save writes it (checkpoint.check_schema; "?" marks a part whose
# absence makes a resume inexact rather than impossible).
STATE_SCHEMA = {
    "algorithm": str, "config": dict,
    "counters": {"step": int, "update": int, "evaluations": int, "wall_time": float},
    "episode_returns": list, "last_eval": (float, None), "loss_window": list,
    "optimizer?": {"values": dict, "param_groups": list},
    "replay?": (dict, None), "rollout?": dict, "rollouts?": list,
    "rng?": {"python": list, "torch": list, "replay": dict, "policy": dict},
    "inexact_resumes?": list,
}

# After a first SIGINT/SIGTERM the loop stops at its next step; one stuck longer than
# this (a hung environment, an endless sampling loop) is interrupted without a save.
STOP_GRACE_S = 60.0


class _ActionValues(torch.nn.Module):
    """Adapts an algorithm's ``action_values`` to what ``agent.EpsilonGreedy`` calls."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.fn(obs)


class Learner:
    """Build from a config, ``learn``, ``evaluate``, ``predict``, ``save``, ``load``.

    An algorithm's class sets ``name`` (stored in checkpoints), ``Config`` and
    ``mixed_precision`` (whether ``train_on`` honours the precision setting) and
    defines ``build_network``, ``action_values`` and ``train_on``. ``run_dir`` (optional)
    receives config.json, metrics.csv, TensorBoard events, plot.png and
    checkpoints/.
    """

    name = ""
    Config: type = object
    mixed_precision = False  # train_on runs its network passes under self.amp_dtype (config precision)

    def build_network(self) -> torch.nn.Module:
        raise NotImplementedError

    def action_values(self, obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def acting_values(self, obs: torch.Tensor) -> torch.Tensor:
        """Q-values [B, A] for the training loop's ε-greedy acting; ``action_values``
        unless an algorithm has a cheaper pass to the same values up to rounding.
        ``evaluate`` and ``predict`` always use ``action_values``."""
        return self.action_values(obs)

    def train_on(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, np.ndarray | None]:
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
        pooled = cfg.env_backend == "envpool"
        self.envs = [envs.make(cfg.env_id, cfg.frame_stack, cfg.noop_max)
                     for _ in range(1 if pooled else cfg.num_envs)]
        self.env = self.envs[0]
        self.obs_shape, self.obs_dtype, self.frame_stack = envs.obs_info(self.env)
        self.n_actions = int(self.env.action_space.n)
        self.device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available()
                                   else "cpu" if cfg.device == "auto" else cfg.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise DeepQError("device = cuda but torch sees no CUDA GPU")
        self.q_net = self.build_network().to(self.device)
        self.target_net = copy.deepcopy(self.q_net).requires_grad_(False)
        self.amp_dtype = (resolve_precision(cfg, self.obs_shape, self.device)
                          if self.mixed_precision else None)
        # With MasterAdam the update's passes run on q_low, a bf16 copy of q_net that the
        # optimizer refreshes after each step; q_net stays the fp32 network that acts,
        # evaluates and is checkpointed.
        self.q_low = (networks.autocast_copy(self.q_net, self.amp_dtype).requires_grad_(True)
                      if resolve_master_adam(cfg, self.amp_dtype, self.device) else None)
        if self.q_low is not None:
            self.optimizer = MasterAdam(self.q_net, self.q_low, lr=cfg.lr, eps=cfg.adam_eps,
                                        max_grad_norm=cfg.grad_clip_norm,
                                        max_grad_value=cfg.grad_clip_value)
        else:
            self.optimizer = torch.optim.Adam(self.q_net.parameters(), lr=cfg.lr, eps=cfg.adam_eps,
                                              fused=cfg.fused_adam or None)
        # Under bf16 autocast the target network's passes read a copy whose conv and linear
        # weights are already bf16, refreshed at each sync: autocast would otherwise cast
        # every weight on every pass, to the same values (~5% of an update on CPU).
        self.target_low = (networks.autocast_copy(self.target_net, self.amp_dtype)
                           if self.amp_dtype is not None else None)
        # compiled modules share parameters with the originals; checkpoints use the originals
        online = self.q_low if self.q_low is not None else self.q_net
        self.q_fn = torch.compile(online) if cfg.compile else online
        target = self.target_low if self.target_low is not None else self.target_net
        self.target_fn = torch.compile(target) if cfg.compile else target
        self.replay_rng = np.random.default_rng([cfg.seed, 0])
        self.policy = agent.EpsilonGreedy(_ActionValues(self.acting_values), self.n_actions,
                                          np.random.default_rng([cfg.seed, 1]), self.device)
        # predict: the same RNG, but always the fp32 network's values
        self._predictor = agent.EpsilonGreedy(_ActionValues(self.action_values), self.n_actions,
                                              self.policy.rng, self.device)
        self.rollouts = [agent.Rollout(env, cfg.seed, stream=0, lane=e,
                                       life_loss_terminal=cfg.life_loss_terminal)
                         for e, env in enumerate(self.envs)]
        self.rollout = self.rollouts[0]
        # what the loop steps: the rollouts side by side, or an EnvPool of num_envs games
        self.actor = (agent.PoolRollout(envs.make_pool(cfg.env_id, cfg.num_envs, cfg.seed, cfg.frame_stack,
                                                       cfg.noop_max), cfg.life_loss_terminal)
                      if pooled else agent.SideBySide(self.rollouts))
        self.epsilon_fn = agent.EPSILON_SCHEDULES[cfg.eps_schedule]
        ReplayBuffer.check_sizes(cfg.buffer_size, cfg.n_step, cfg.num_envs)  # fail now, not when learning starts
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
        self.interrupted: int | None = None  # the signal that stopped the last learn()
        # What the last load restored, and what it could not (a resume is exact only
        # when nothing is missing); inexact resumes the user allowed, saved in checkpoints.
        self.restored: list[str] = []
        self.not_restored: list[str] = []
        self.allow_inexact = False
        self._unexpected_gaps: list[str] = []
        self.inexact_resumes: list[dict[str, Any]] = []

    # -- acting --------------------------------------------------------------------

    def epsilon(self, step: int | None = None) -> float:
        c = self.cfg
        if c.noisy:  # noisy nets explore through their weights
            return 0.0
        return self.epsilon_fn(self.step if step is None else step, c.eps_start, c.eps_final, c.eps_decay)

    def predict(self, obs: np.ndarray, epsilon: float = 0.0) -> int | np.ndarray:
        """The action for one observation, or actions [B] for a batch [B, *obs_shape]
        (greedy unless ``epsilon`` > 0)."""
        obs = self._check_obs(obs)
        if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or not 0 <= epsilon <= 1:
            raise ValueError(f"predict: epsilon must be a number in [0, 1], got {epsilon!r}")
        if obs.shape == self.obs_shape:
            return self._predictor(obs, epsilon)
        return self._predictor.batch(obs, epsilon)

    def _check_obs(self, obs: Any) -> np.ndarray:
        """``obs`` as an array of the environment's dtype, or a ValueError saying what fits."""
        want = f"{self.obs_shape} or [B, *{self.obs_shape}] of {np.dtype(self.obs_dtype).name}"
        try:
            arr = np.asarray(obs)
        except (ValueError, TypeError):
            raise ValueError(f"predict expects an observation of shape {want}") from None
        if arr.dtype.kind not in "biuf" or arr.shape[-len(self.obs_shape):] != self.obs_shape \
                or arr.ndim not in (len(self.obs_shape), len(self.obs_shape) + 1) or 0 in arr.shape:
            raise ValueError(f"predict expects an observation of shape {want}; "
                             f"got shape {arr.shape} of {arr.dtype}")
        if np.dtype(self.obs_dtype) == np.uint8 and arr.dtype != np.uint8:
            raise ValueError(f"predict expects uint8 frames (0-255) of shape {want}; got {arr.dtype}")
        return arr.astype(self.obs_dtype, copy=False)

    def evaluate(self, episodes: int | None = None, epsilon: float | None = None,
                 env=None) -> list[float]:
        """Raw scores of ``episodes`` episodes on a separate environment instance."""
        c = self.cfg
        if env is None and self._eval_env is None:
            self._eval_env = envs.make(c.env_id, c.frame_stack, c.noop_max)
        eps = c.eval_eps if epsilon is None else epsilon
        # Its own RNG, so evaluating never changes the training run's exploration.
        act = agent.EpsilonGreedy(_ActionValues(self.action_values), self.n_actions,
                                  np.random.default_rng([c.seed, 2, self.evaluations]), self.device)
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
                                       priority_eps=c.per_eps, lanes=c.num_envs)
        return self.replay

    def _batch(self) -> dict[str, torch.Tensor]:
        c = self.cfg
        beta = c.per_beta0 + (1.0 - c.per_beta0) * min(1.0, self.step / c.total_steps)
        b = self.replay.sample(c.batch_size, beta=beta)
        if self.device.type == "cpu":
            dev = torch.from_numpy
        else:  # pinned host memory lets the copy run asynchronously
            def dev(a):
                return torch.from_numpy(a).pin_memory().to(self.device, non_blocking=True)
        weight = {} if b.weight is None else {"weight": dev(b.weight)}  # [B]
        return weight | {
            "obs": dev(b.obs),  # [B, *obs_shape]
            "action": dev(b.action),  # [B]
            "reward": dev(b.reward),  # [B]
            "discount": dev(b.discount),  # [B]
            "next_obs": dev(b.next_obs),  # [B, *obs_shape]
            "index": torch.from_numpy(b.index),  # [B] replay slots, stay on the host
        }

    def train_step(self) -> torch.Tensor:
        """Sample a batch and take one gradient step; returns the loss (a 0-d tensor)."""
        batch = self._batch()
        loss, q_mean, priorities = self.train_on(batch)
        if priorities is not None:
            self.replay.update_priorities(batch["index"].numpy(), priorities)
        self.update += 1
        self._loss_sum = self._loss_sum + loss.double()  # summed on the device, read at log time
        self._q_sum = self._q_sum + q_mean.double()
        self._loss_count += 1
        return loss

    def learn(self, steps: int | None = None) -> bool:
        """Train until ``self.step`` reaches ``step + steps`` (or ``total_steps``).

        Returns True if the stop criterion was met. SIGINT/SIGTERM stop the loop
        after the current step; the run is then checkpointed (when it has a run_dir).
        """
        c = self.cfg
        if steps is not None and (not isinstance(steps, (int, np.integer)) or isinstance(steps, bool)
                                  or steps < 1):
            raise TypeError(f"learn(steps) expects a positive int of environment steps, got {steps!r}")
        if self._unexpected_gaps and not self.allow_inexact:
            raise DeepQError(f"cannot resume exactly: the checkpoint lacks {', '.join(self._unexpected_gaps)}; "
                             "resume anyway with --allow-inexact (DQN.load(..., allow_inexact=True))")
        if self.not_restored:  # the run records that it is not an exact continuation
            self.inexact_resumes.append({"step": self.step, "missing": list(self.not_restored)})
            self.not_restored, self._unexpected_gaps = [], []
        end = self.step + steps if steps is not None else c.total_steps
        replay = self._ensure_replay()
        logger = None
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.json").write_text(
                json.dumps(config.to_dict(c), indent=1) + "\n")
            logger = RunLogger(self.run_dir, end, self.step, self.tensorboard, self.progress)
            if self.inexact_resumes and self.inexact_resumes[-1]["step"] == self.step:
                logger.message(f"resuming inexactly at step {self.step:,} without: "
                               + ", ".join(self.inexact_resumes[-1]["missing"]))
        restore = self._install_signal_handlers()
        solved = False
        recent = deque(self.episode_returns[-c.stop_window:], maxlen=c.stop_window)
        started = time.perf_counter()
        window_start, window_step = started, self.step
        loss_from = self.step  # where the loss sum being collected began
        self.interrupted = None
        n = c.num_envs
        collector = ThreadPoolExecutor(1, thread_name_prefix="deepq-envs") if c.overlap else None

        def crossed(period: int) -> bool:  # did this step of all environments pass a multiple?
            return self.step // period > (self.step - n) // period

        try:
            while self.step < end and not self._stop:
                eps = self.epsilon()
                obs = self.actor.observe()  # [N, *obs_shape]
                actions = self.policy.batch(obs, eps)  # [N]
                self.step += n
                # updates due: one per train_freq steps after learn_start, counted per env step
                due = max(0, self.step // c.train_freq - max(self.step - n, c.learn_start) // c.train_freq)
                if collector is None:
                    steps = self.actor.step(actions)
                    self._store(replay, steps)
                    for _ in range(due):
                        self.train_step()
                else:  # the environments step in the collector thread while the learner updates
                    stepping = collector.submit(self.actor.step, actions)
                    for _ in range(due):
                        self.train_step()
                    steps = stepping.result()
                    self._store(replay, steps)
                if crossed(c.target_sync):
                    self.sync_target()

                now = time.perf_counter()
                wall = self.wall_time + (now - started)
                for s in steps:
                    if not s.episode_end:
                        continue
                    self.episode_returns.append(s.episode_return)
                    recent.append(s.episode_return)
                    if logger:
                        logger.episode(self.step, self.update, wall, s.episode_return, s.episode_length)
                    if (c.stop_on == "train" and c.stop_return is not None
                            and len(recent) == c.stop_window and np.mean(recent) >= c.stop_return):
                        solved = True
                if crossed(c.log_every) or (c.checkpoint_every and crossed(c.checkpoint_every)):
                    self._check_finite(loss_from)
                if crossed(c.log_every):
                    if self._loss_count and logger:
                        sps = (self.step - window_step) / max(now - window_start, 1e-9)
                        logger.train(self.step, self.update, wall, float(self._loss_sum) / self._loss_count,
                                     float(self._q_sum) / self._loss_count, eps, sps)
                        window_start, window_step = now, self.step
                    self._loss_sum = self._q_sum = 0.0
                    self._loss_count = 0
                    loss_from = self.step
                if c.eval_every and crossed(c.eval_every):
                    self.last_eval = float(np.mean(self.evaluate()))
                    if logger:
                        logger.eval(self.step, self.update, wall, self.last_eval)
                    if c.stop_on == "eval" and c.stop_return is not None and self.last_eval >= c.stop_return:
                        solved = True
                if logger:
                    logger.progress(n, float(np.mean(recent)) if recent else None)
                if c.checkpoint_every and crossed(c.checkpoint_every) and self.run_dir:
                    self.wall_time, started = wall, now
                    self.save(self.run_dir / "checkpoints")
                if solved:
                    if logger:
                        logger.message(f"stop criterion met at step {self.step}: "
                                       f"mean return {self.last_eval if c.stop_on == 'eval' else np.mean(recent):.2f}")
                    break
            self._check_finite(loss_from)
        except BaseException:
            restore()
            if logger:
                logger.close()
            raise
        finally:
            self._watchdog_cancel()
            if collector is not None:
                collector.shutdown()
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

    def _check_finite(self, since: int) -> None:
        """Stop the run (before any save) when a loss since step ``since`` was not finite."""
        if self._loss_count and not math.isfinite(float(self._loss_sum)):
            raise DeepQError(f"the loss became non-finite between step {since:,} and step {self.step:,} "
                             "(diverged: try a lower lr or gradient clipping); no checkpoint was "
                             "written after it, the last one is kept")

    def sync_target(self) -> None:
        """target ← τ·online + (1 − τ)·target, and refresh its autocast copy."""
        targets.polyak_update(self.target_net, self.q_net, self.cfg.tau)
        if self.target_low is not None:
            networks.copy_weights(self.target_low, self.target_net)

    def _store(self, replay: ReplayBuffer, steps: list) -> None:
        """Write one step of every environment into its replay lane."""
        c = self.cfg
        reward = np.array([s.reward for s in steps], np.float64)  # [N]
        replay.add_batch(
            obs=[s.obs for s in steps], action=[s.action for s in steps],
            reward=np.sign(reward) if c.clip_rewards else reward,
            discount=[c.gamma * (1.0 - float(s.terminated)) for s in steps],  # truncation keeps γ
            next_obs=[s.next_obs for s in steps], episode_end=[s.episode_end for s in steps])

    def _install_signal_handlers(self):
        """SIGINT/SIGTERM ask the loop to stop; a second signal aborts at once."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handler(signum, frame):
            if self._stop:
                raise KeyboardInterrupt
            self._stop = True
            self.interrupted = signum
            self._watchdog = threading.Timer(STOP_GRACE_S, _thread.interrupt_main)
            self._watchdog.daemon = True
            self._watchdog.start()

        old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        return lambda: [signal.signal(s, h) for s, h in old.items()]

    def _watchdog_cancel(self) -> None:
        watchdog = getattr(self, "_watchdog", None)
        if watchdog is not None:
            watchdog.cancel()
            self._watchdog = None

    # -- checkpoints ---------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Checkpoint everything needed to continue exactly; returns its directory."""
        opt_tensors, opt_meta = checkpoint.optimizer_to_flat(self.optimizer.state_dict())
        tensors = {f"online.{k}": v for k, v in self.q_net.state_dict().items()}
        tensors |= {f"target.{k}": v for k, v in self.target_net.state_dict().items()}
        tensors |= {f"optim.{k}": v for k, v in opt_tensors.items()}
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
            "loss_window": [float(self._loss_sum), float(self._q_sum), self._loss_count],
            "optimizer": opt_meta,
            "replay": replay_meta,
            "rollout": self.rollout.state_dict(),
            **({"rollouts": [r.state_dict() for r in self.rollouts]} if len(self.rollouts) > 1 else {}),
            "rng": {"python": random.getstate(), "torch": torch.get_rng_state().tolist(),
                    "replay": self.replay_rng.bit_generator.state,
                    "policy": self.policy.rng.bit_generator.state},
            "inexact_resumes": self.inexact_resumes,
        }
        return checkpoint.save(Path(path), self.step, tensors, arrays, state, self.cfg.keep_checkpoints)

    @classmethod
    def from_preset(cls, name: str, run_dir: str | Path | None = None, *, progress: bool = False,
                    tensorboard: bool = True, **overrides: Any):
        """``DQN.from_preset("cartpole", seed=1, lr=1e-3)``: a preset of this algorithm
        with any config fields overridden (validated like ``--set``)."""
        from deepq import presets  # presets import the algorithm files

        preset = presets.get(name)
        if preset is None or not isinstance(preset.config, cls.Config):
            known = sorted(n for n, p in presets.PRESETS.items() if isinstance(p.config, cls.Config))
            raise DeepQError(f"no {cls.name} preset '{name}'; {cls.name} presets: {', '.join(known)}")
        cfg = config.override(preset.config, overrides)
        return cls(cfg, run_dir, progress=progress, tensorboard=tensorboard)

    @classmethod
    def load(cls, path: str | Path, run_dir: str | Path | None = None,
             overrides: dict[str, Any] | None = None, replay: bool = True,
             allow_inexact: bool = False, **kwargs):
        """Rebuild an agent from a checkpoint (a run directory or a checkpoint directory).

        ``replay=False`` leaves the replay memory out (enough to act and evaluate).
        ``restored`` and ``not_restored`` list the parts of the run; ``learn`` refuses to
        continue with a part missing unless ``allow_inexact`` (and then records it)."""
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"load expects a run or checkpoint directory (str or Path), got {path!r}")
        tensors, arrays, state = checkpoint.load(path, arrays=replay, schema=STATE_SCHEMA)
        if state.get("algorithm") != cls.name:
            raise DeepQError(f"{path} holds a '{state.get('algorithm')}' checkpoint, not {cls.name}")
        if not isinstance(state.get("config"), dict):
            raise DeepQError(f"checkpoint {path} has no config: not written by this deepq version")
        cfg = config.from_dict(cls.Config, state["config"])
        if overrides:
            cfg = config.override(cfg, overrides)
        model = cls(cfg, run_dir=run_dir, **kwargs)
        model.allow_inexact = allow_inexact
        try:
            model._restore(tensors, arrays, state, replay)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            raise DeepQError(f"checkpoint {path} is incomplete or from another deepq version "
                             f"(missing or malformed {e})") from None
        return model

    def _restore(self, tensors: dict[str, torch.Tensor], arrays: dict[str, np.ndarray],
                 state: dict[str, Any], replay: bool) -> None:
        """Put the checkpoint's parts in place, listing them in ``restored`` and what is
        missing in ``not_restored`` (``learn`` refuses to go on with an unexpected gap)."""
        def part(prefix):
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        c = self.cfg
        counters = state["counters"]
        restored, missing, by_config = ["weights"], [], []
        optim = part("optim.")
        try:
            self.q_net.load_state_dict(part("online."))
            self.target_net.load_state_dict(part("target."))
            if self.target_low is not None:
                networks.copy_weights(self.target_low, self.target_net)
            if self.q_low is not None:
                networks.copy_weights(self.q_low, self.q_net)
            if "optimizer" in state and (optim or counters["update"] == 0):
                self.optimizer.load_state_dict(checkpoint.optimizer_from_flat(optim, state["optimizer"]))
                restored.append("optimizer")
            else:
                missing.append("optimizer state")
        except (RuntimeError, KeyError, ValueError) as e:
            raise DeepQError("the checkpoint does not match the network of its config: "
                             + str(e).splitlines()[0]) from None
        self.step, self.update = counters["step"], counters["update"]
        self.evaluations, self.wall_time = counters["evaluations"], counters["wall_time"]
        self.episode_returns = [float(r) for r in state["episode_returns"]]
        self.last_eval = state["last_eval"]
        self._loss_sum, self._q_sum, self._loss_count = state["loss_window"]
        self.inexact_resumes = list(state.get("inexact_resumes", []))
        restored.append("counters")
        if "rng" in state:
            rng = state["rng"]
            torch.set_rng_state(torch.as_tensor(rng["torch"], dtype=torch.uint8))
            random.setstate((rng["python"][0], tuple(rng["python"][1]), rng["python"][2]))
            self.replay_rng.bit_generator.state = rng["replay"]
            self.policy.rng.bit_generator.state = rng["policy"]
            restored.append("RNG states")
        else:
            missing.append("RNG states")
        if not replay:  # acting and evaluating need nothing more
            missing.append("replay (not loaded)")
        elif state.get("replay") is not None:
            self._ensure_replay().load_state_dict(arrays, state["replay"])
            restored.append(f"replay ({len(self.replay):,} transitions)")
        elif c.save_replay:
            missing.append("replay")
        else:
            by_config.append("replay (save_replay = false)")
        if c.env_backend == "envpool":  # EnvPool cannot restore its episodes
            for lane in range(len(self.replay.lanes) if self.replay is not None else 0):
                self.replay.cut(lane)
            by_config.append("episodes in progress (env_backend = envpool starts new ones)")
        elif replay:
            saved = state.get("rollouts", [state["rollout"]] if "rollout" in state else None)
            if saved is None:
                missing.append("environment actions")
            elif len(saved) != len(self.rollouts):
                raise DeepQError(f"the checkpoint holds {len(saved)} environments' episodes, "
                                 f"the config {len(self.rollouts)}")
            else:
                for rollout, rollout_state in zip(self.rollouts, saved):
                    rollout.load_state_dict(rollout_state)
                restored.append(f"{len(saved)} environment{'s' if len(saved) > 1 else ''}' episodes")
        self.restored, self.not_restored = restored, missing + by_config
        self._unexpected_gaps = missing
