"""The training loop, written once for every algorithm, and the ``Model`` it runs.

``Model.__init__`` is the one place a run is assembled: environments, the learner
(networks, optimizer and policy: ``learner.TorchLearner``, or ``tf.learner.TFLearner``
for ``backend = tensorflow``), the replay memory and
the bookkeeping (``run.RunBook``). ``Model.learn`` is the loop: act, step the
environments and store what they returned, take the updates due, sync the target,
then report. It moves numpy arrays and calls the learner's ``act``, ``update``,
``sync_target``, ``state`` and ``restore``; it imports no deep-learning framework.

An algorithm file (``algos/dqn.py``, …) subclasses ``Model`` only to name itself and
its ``network``, ``q_values`` and ``loss``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np

from deepq import agent, checkpoint, config, envs, run
from deepq.errors import DeepQError
from deepq.replay import ReplayBuffer

# state.json as Model.save writes it (checkpoint.check_schema; "?" marks a part whose
# absence makes a resume inexact rather than impossible).
STATE_SCHEMA = {
    "algorithm": str, "config": dict,
    "counters": {"step": int, "update": int, "evaluations": int, "wall_time": float},
    "episode_returns": list, "last_eval": (float, None), "loss_window": list,
    "optimizer?": {"values": dict, "param_groups": list},
    "replay?": (dict, None), "rollout?": dict, "rollouts?": list,
    "rng?": {"python": list, "torch": list, "replay": dict, "policy": dict,
             "policy_repeat?": {"left": list, "action": list}},
    "inexact_resumes?": list,
}


def learner_class(backend: str) -> type:
    """The algorithm object of a backend; this module imports no framework itself."""
    if backend == "tensorflow":
        try:
            from deepq.tf.learner import TFLearner
        except ModuleNotFoundError as e:
            if e.name != "tensorflow" and not (e.name or "").startswith("tensorflow."):
                raise
            raise DeepQError("backend tensorflow needs TensorFlow: pip install 'deepq[tf]'") from None
        return TFLearner
    from deepq.learner import TorchLearner

    return TorchLearner


class Model:
    """Build from a config, ``learn``, ``evaluate``, ``predict``, ``save``, ``load``.
    ``run_dir`` (optional) receives config.json, metrics.csv, TensorBoard events,
    plot.png and checkpoints/."""

    name = ""  # the algorithm's name, stored in checkpoints
    Config: type = object
    honours_precision = False  # whether ``loss`` runs its passes under Nets.autocast

    def __init__(self, cfg: Any, run_dir: str | Path | None = None, *,
                 progress: bool = False, tensorboard: bool = True):
        if not isinstance(cfg, self.Config):
            raise TypeError(f"{type(self).__name__} takes a {self.Config.__name__}, not {type(cfg).__name__}")
        config.check(cfg)
        self.cfg = cfg
        random.seed(cfg.seed)
        # The parts of the run, built in one place:
        pooled = cfg.env_backend == "envpool"
        self.envs = [envs.for_config(cfg)
                     for _ in range(1 if pooled else cfg.num_envs)]
        self.obs_shape, self.obs_dtype, self.frame_stack = envs.obs_info(self.envs[0])
        self.n_actions = int(self.envs[0].action_space.n)
        if cfg.eval_protocol == "machado":
            envs.machado_id(cfg.env_id, cfg.env_modules)  # an Atari game, or one line now
        self.learner = learner_class(cfg.backend)(self, cfg, self.obs_shape, self.n_actions)
        self.replay_rng = np.random.default_rng([cfg.seed, 0])
        self.rollouts = [agent.Rollout(env, cfg.seed, stream=0, lane=e,
                                       life_loss_terminal=cfg.life_loss_terminal)
                         for e, env in enumerate(self.envs)]
        self.actor = (agent.PoolRollout(envs.make_pool(cfg.env_id, cfg.num_envs, cfg.seed, cfg.frame_stack,
                                                       cfg.noop_max, cfg.env_modules), cfg.life_loss_terminal)
                      if pooled else agent.SideBySide(self.rollouts))
        if cfg.speed.overlap:  # the updates run while the environments step
            from deepq.speed import Overlapped

            self.step_envs = Overlapped(self.actor).step
        self.epsilon_fn = agent.EPSILON_SCHEDULES[cfg.eps_schedule]
        ReplayBuffer.check_sizes(cfg.buffer_size, cfg.n_step, cfg.num_envs)  # fail now, not when learning starts
        self.replay: ReplayBuffer | None = None  # allocated when learning starts
        self.book = run.RunBook(cfg, Path(run_dir) if run_dir is not None else None, progress, tensorboard)
        self._eval_env = None
        # What the last load restored and what it could not (a resume is exact only when
        # nothing is missing); see ``load``.
        self.restored: list[str] = []
        self.not_restored: list[str] = []
        self._unexpected_gaps: list[str] = []
        self.allow_inexact = False

    # -- the algorithm (an algorithm file defines these) --------------------------------

    @staticmethod
    def network(cfg: Any, obs_shape: tuple[int, ...], n_actions: int):
        """The online network (the target network is its copy)."""
        raise NotImplementedError

    @staticmethod
    def q_values(net, obs, cfg: Any):
        """Q-values [B, A] from ``net``'s pass over ``obs``."""
        raise NotImplementedError

    @staticmethod
    def loss(nets, batch: dict[str, Any], cfg: Any):
        """(per-sample loss [B], new priority [B], mean Q) of a batch of tensors."""
        raise NotImplementedError

    # -- the loop ------------------------------------------------------------------

    def learn(self, steps: int | None = None) -> bool:
        """Train until ``step`` reaches ``step + steps`` (or ``total_steps``).

        Returns True if the stop criterion was met. SIGINT/SIGTERM stop the loop
        after the current step; the run is then checkpointed (when it has a run_dir).
        """
        c, book = self.cfg, self.book
        end = self.end_step(steps)
        replay = self._ensure_replay()
        n = c.num_envs

        def store(steps):
            replay.add_batch(**agent.replay_fields(steps, c.gamma, c.clip_rewards))

        with book.session(end) as session:
            while book.step < end and not session.stopping:
                eps = self.epsilon()
                actions = self.learner.act(self.actor.observe(), eps)  # [N]
                book.step += n
                # updates due: one per train_freq steps after learn_start, counted per env step
                due = max(0, book.step // c.train_freq - max(book.step - n, c.learn_start) // c.train_freq)
                steps = self.step_envs(actions, store, lambda: [self.train_step() for _ in range(due)])
                self.after_steps(session, n, agent.finished(steps), eps)
                if session.solved:
                    break
            session.finish(self.save)
        return session.solved

    def end_step(self, steps: int | None) -> int:
        """The step ``learn(steps)`` trains until; refuses a resume with an unexpected gap."""
        if steps is not None and (not isinstance(steps, (int, np.integer)) or isinstance(steps, bool)
                                  or steps < 1):
            raise TypeError(f"learn(steps) expects a positive int of environment steps, got {steps!r}")
        self._check_resume()
        return self.book.step + steps if steps is not None else self.cfg.total_steps

    def after_steps(self, session: run.Session, n: int, finished: list[tuple[float, int]],
                    eps: float) -> None:
        """What follows n more environment steps (and the updates due for them): target
        sync, episodes, loss rows, evaluation, progress, checkpoint, each on its period.
        Ape-X's learner (``deepq/apex.py``) calls it after each batch of actor steps."""
        c, book = self.cfg, self.book
        if book.crossed(c.target_sync, n):
            self.learner.sync_target()
        session.episodes(finished)
        session.losses(n, eps)
        if c.eval_every and book.crossed(c.eval_every, n):
            session.evaluated(float(np.mean(self.evaluate())))
        session.stepped(n)
        if c.checkpoint_every and book.crossed(c.checkpoint_every, n):
            session.checkpoint(self.save)

    def step_envs(self, actions: np.ndarray, store, during) -> list:
        """Step the environments with ``actions`` [N], ``store`` the N transitions, then
        run ``during`` (the updates due). ``speed.overlap`` swaps in an order that runs
        the updates while the environments step."""
        steps = self.actor.transitions(actions)
        store(steps)
        during()
        return steps

    def train_step(self) -> Any:
        """Sample a batch, take one gradient step, update priorities; returns the loss."""
        batch = self.replay.sample(self.cfg.batch_size, beta=self.per_beta())
        loss, q_mean, priorities = self.learner.update(batch)
        if priorities is not None:
            self.replay.update_priorities(batch.index, priorities)
        self.book.add_loss(loss, q_mean)
        return loss

    def per_beta(self) -> float:
        """Prioritized replay's importance-weight exponent β, annealed linearly from
        ``per_beta0`` to 1 over ``total_steps``."""
        c = self.cfg
        return c.per_beta0 + (1.0 - c.per_beta0) * min(1.0, self.book.step / c.total_steps)

    def _ensure_replay(self) -> ReplayBuffer:
        if self.replay is None:
            c = self.cfg
            self.replay = ReplayBuffer(c.buffer_size, self.obs_shape, self.obs_dtype,
                                       self.frame_stack, self.replay_rng, n_step=c.n_step,
                                       prioritized=c.prioritized, alpha=c.per_alpha,
                                       priority_eps=c.per_eps, lanes=c.num_envs)
        return self.replay

    def epsilon(self, step: int | None = None) -> float:
        c = self.cfg
        if c.noisy:  # noisy nets explore through their weights
            return 0.0
        return self.epsilon_fn(self.book.step if step is None else step, c.eps_start, c.eps_final, c.eps_decay)

    def eval_epsilon(self) -> float:
        """ε of evaluations: ``eval_eps``, or the training schedule's final value."""
        return self.cfg.eval_eps if self.cfg.eval_eps is not None else self.epsilon(2**62)

    # -- acting --------------------------------------------------------------------

    def predict(self, obs: np.ndarray, epsilon: float = 0.0) -> int | np.ndarray:
        """The action for one observation, or actions [B] for a batch [B, *obs_shape]
        (greedy unless ``epsilon`` > 0)."""
        obs = self._check_obs(obs)
        if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or not 0 <= epsilon <= 1:
            raise ValueError(f"predict: epsilon must be a number in [0, 1], got {epsilon!r}")
        if obs.shape == self.obs_shape:
            return self.learner.greedy(obs, epsilon)
        return self.learner.greedy.batch(obs, epsilon)

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
            self._eval_env = envs.for_evaluation(c)
        eps = self.eval_epsilon() if epsilon is None else epsilon
        # Its own RNG, so evaluating never changes the training run's exploration.
        act = agent.EpsilonGreedy(self.learner.q_values, self.n_actions,
                                  np.random.default_rng([c.seed, 2, self.book.evaluations]),
                                  self.learner.nets.device)
        with self.learner.evaluating():  # noisy layers act on their mean weights
            returns = agent.evaluate(env or self._eval_env, lambda o: act(o, eps),
                                     episodes or c.eval_episodes, seed=c.seed,
                                     stream=1 + self.book.evaluations)
        self.book.evaluations += 1
        return returns

    # -- checkpoints ---------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Checkpoint everything needed to continue exactly; returns its directory."""
        tensors, learner_state = self.learner.state()
        arrays, replay_meta = {}, None
        if self.replay is not None and self.cfg.save_replay:
            arrays, replay_meta = self.replay.state_dict()
        rollouts = [r.state_dict() for r in self.rollouts]
        state = {
            "algorithm": self.name,
            "config": config.to_dict(self.cfg),
            **self.book.state(),
            "optimizer": learner_state["optimizer"],
            "replay": replay_meta,
            "rollout": rollouts[0],
            **({"rollouts": rollouts} if len(rollouts) > 1 else {}),
            "rng": {"python": random.getstate(), "replay": self.replay_rng.bit_generator.state,
                    **learner_state["rng"]},
        }
        return checkpoint.save(Path(path), self.book.step, tensors, arrays, state, self.cfg.keep_checkpoints)

    @classmethod
    def from_preset(cls, name: str, run_dir: str | Path | None = None, *, progress: bool = False,
                    tensorboard: bool = True, **overrides: Any):
        """``DQN.from_preset("cartpole", seed=1, lr=1e-3)``: a preset of this algorithm
        with any config fields overridden (validated like ``--set``)."""
        from deepq import presets  # presets import the algorithm files

        preset = presets.get(name)
        if preset is None or preset.algorithm != cls.name:
            known = sorted(n for n, p in presets.PRESETS.items() if p.algorithm == cls.name)
            raise DeepQError(f"no {cls.name} preset '{name}'; {cls.name} presets: {', '.join(known)}")
        cfg = config.override(preset.config, overrides)
        return cls(cfg, run_dir, progress=progress, tensorboard=tensorboard)

    @classmethod
    def load(cls, path: str | Path, run_dir: str | Path | None = None,
             overrides: dict[str, Any] | None = None, replay: bool = True,
             allow_inexact: bool = False, **kwargs):
        """Rebuild a model from a checkpoint (a run directory or a checkpoint directory).

        ``replay=False`` leaves the replay memory out (enough to act and evaluate).
        ``restored`` and ``not_restored`` list the parts of the run; ``learn`` refuses to
        continue with a part missing unless ``allow_inexact`` (and then records it)."""
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"load expects a run or checkpoint directory (str or Path), got {path!r}")
        tensors, arrays, state = checkpoint.load(path, arrays=replay, schema=STATE_SCHEMA)
        if state["algorithm"] != cls.name:
            raise DeepQError(f"{path} holds a '{state['algorithm']}' checkpoint, not {cls.name}")
        cfg = config.from_dict(cls.Config, state["config"])
        if overrides:
            cfg = config.override(cfg, overrides)
        model = cls(cfg, run_dir=run_dir, **kwargs)
        model.allow_inexact = allow_inexact
        try:
            model._restore(tensors, arrays, state, replay)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as e:
            raise DeepQError(f"checkpoint {path} is incomplete or from another deepq version "
                             f"(missing or malformed {e})") from None
        return model

    def _restore(self, tensors: dict[str, Any], arrays: dict[str, np.ndarray],
                 state: dict[str, Any], replay: bool) -> None:
        """Put the checkpoint's parts in place, listing them in ``restored`` and what is
        missing in ``not_restored`` (``learn`` refuses to go on with an unexpected gap)."""
        c = self.cfg
        self.book.restore(state)
        restored, missing = self.learner.restore(tensors, state, self.book.update)
        restored.append("counters")
        by_config = []
        if "rng" in state:
            rng = state["rng"]
            random.setstate((rng["python"][0], tuple(rng["python"][1]), rng["python"][2]))
            self.replay_rng.bit_generator.state = rng["replay"]
            restored.append("RNG states")
        else:
            missing.append("RNG states")
        if not replay:  # acting and evaluating need nothing more
            missing.append("replay (not loaded)")
        elif state.get("replay") is not None:
            self._ensure_replay().load_state_dict(arrays, state["replay"], self.n_actions)
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

    def _check_resume(self) -> None:
        """Refuse an unexpected gap unless allowed; record an allowed or declared one."""
        if self._unexpected_gaps and not self.allow_inexact:
            raise DeepQError(f"cannot resume exactly: the checkpoint lacks {', '.join(self._unexpected_gaps)}; "
                             "resume anyway with --allow-inexact (DQN.load(..., allow_inexact=True))")
        if self.not_restored:  # the run records that it is not an exact continuation
            self.book.inexact_resumes.append({"step": self.book.step, "missing": list(self.not_restored)})
            self.not_restored, self._unexpected_gaps = [], []

    # -- what a run is made of, by name -----------------------------------------------

    @property
    def step(self) -> int:
        return self.book.step

    @property
    def update(self) -> int:
        return self.book.update

    @property
    def episode_returns(self) -> list[float]:
        return self.book.episode_returns

    @property
    def last_eval(self) -> float | None:
        return self.book.last_eval

    @property
    def wall_time(self) -> float:
        return self.book.wall_time

    @property
    def interrupted(self) -> int | None:
        return self.book.interrupted

    @property
    def inexact_resumes(self) -> list[dict[str, Any]]:
        return self.book.inexact_resumes

    @property
    def q_net(self):
        return self.learner.nets.online

    @property
    def target_net(self):
        return self.learner.nets.target

    @property
    def optimizer(self):
        return self.learner.nets.optimizer

    @property
    def policy(self):
        return self.learner.policy

    @property
    def rollout(self) -> agent.Rollout:
        return self.rollouts[0]
