"""Ape-X DQN on Ray core: many actors fill a sharded prioritized replay; one learner, in
the driver, learns from it.

Horgan et al., "Distributed Prioritized Experience Replay", ICLR 2018.

The learning rule is DQN's (``algos/dqn.py``: its network, Q-values and loss; the
presets switch on Double DQN, the dueling head and 3-step returns as the paper does),
the gradient step is ``TorchLearner.update``, the replay is ``ReplayBuffer`` and the
bookkeeping is ``Model``'s. What this file adds is where the data comes from:

- **Actors** (``Actor``, one Ray actor process each, ``num_actors``): each steps its own
  environment (``agent.Rollout``) with a fixed ε_i = actor_eps^(1 + actor_eps_alpha·i/(N−1)),
  folds n-step returns in a small local ``ReplayBuffer``, gives each transition its
  initial priority |δ| with its copy of the network (``TorchLearner.priorities``), and
  sends ``actor_batch`` steps at a time to its replay shard, waiting for the previous
  send first. One call of ``Actor.run`` takes ``weight_period`` steps with the weights
  the call names: a ``ray.put`` object the actor pulls from the object store.
- **Replay shards** (``Shard``, ``num_cpus=0``, ``replay_shards`` = K): a prioritized
  ``ReplayBuffer`` each, of buffer_size / K slots, one lane per actor it serves (actor i
  writes to shard i mod K), frames stored once. The shard folds the same steps the
  actor folded, so the transitions they make sampleable, and their priorities, line up.
- **The learner** (``Apex.learn``): keeps at most ``inflight_samples`` sample requests
  in flight (backpressure: a slow learner lets no queue grow), takes a gradient step on
  each batch that arrives, sends the new priorities back with the generation of each
  slot it sampled (``ReplayBuffer.generation``: a slot written since then keeps the new
  transition's priority), and publishes its weights, versioned by its update count,
  whenever an actor call is queued and the weights changed.

What differs from the paper, and why:
- An actor takes its steps in calls of ``weight_period`` steps and holds the weights of
  the call (the paper's actors poll the learner every 400 frames). Each actor has two
  calls queued so it never waits for the driver; its weights are up to two periods old,
  and metrics.csv logs that lag (``weight_lag``, in learner updates).
- Each batch comes from one shard, chosen in proportion to its total priority; the
  importance weights, normalised by the batch's largest, are then exactly those of one
  prioritized replay holding every shard's transitions.
- The learner takes at most one update per ``train_freq`` environment steps of all
  actors together (the paper's learner runs flat out; on a few cores the cap keeps
  the replay ratio of single-process DQN). The target network syncs every
  ``target_sync`` environment steps, Adam replaces centred RMSProp, and the ε schedule
  settings (``eps_*``) are not used: each actor's ε is fixed.
- Evaluation runs in the driver: it pauses the learner, not the actors.
- A resume restores the learner (weights, optimizer, counters), and the replay when
  ``save_replay`` is on; the actors start new episodes, so it is never exact. An actor
  that Ray restarts starts a new episode too (its lane drops the unfinished one).

Ray is imported only when an Ape-X run starts (``import deepq`` never imports it).
docs/distributed.md shows how to run this on a cluster and what does not scale.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from deepq import agent, config, envs
from deepq.algos import dqn
from deepq.config import param
from deepq.errors import DeepQError
from deepq.learner import TorchLearner
from deepq.loop import Model
from deepq.replay import ReplayBuffer
from deepq.settings import RunConfig, TDLossConfig, redefault

ACTOR_RESTARTS = 100  # times Ray restarts a dead actor process before the run gives up
QUEUED_CALLS = 2  # actor calls queued per actor: one running, one waiting for it


@dataclass(frozen=True)
class ApexConfig(RunConfig, TDLossConfig):
    """DQN's hyperparameters, and the distributed run's."""

    prioritized: bool = redefault("prioritized", True)
    save_replay: bool = redefault("save_replay", False)
    num_actors: int = param(2, "Ray actors, each a process stepping its own environment with its "
                            "own ε; each asks Ray for one CPU", min=1)
    replay_shards: int = param(1, "replay shard actors (Ray actors of no CPU); buffer_size is split "
                               "evenly between them and actor i writes to shard i mod replay_shards "
                               "(at most num_actors)", min=1)
    ray_address: str = param("local", "the Ray cluster: local = start Ray on this machine with its "
                             "cores; auto = join the cluster `ray start` runs on this machine; "
                             "ray://HOST:PORT = connect as a Ray client; HOST:PORT = a cluster's GCS "
                             "address")
    weight_period: int = param(400, "steps an actor takes between pulls of the learner's latest "
                               "weights (steps of one actor)", min=1)
    actor_batch: int = param(50, "steps an actor folds and sends to its replay shard at once "
                             "(steps of one actor)", min=1)
    actor_eps: float = param(0.4, "ε of actor 0; actor i of N explores with "
                             "actor_eps^(1 + actor_eps_alpha·i/(N−1))", min=0.0, max=1.0)
    actor_eps_alpha: float = param(7.0, "spread of the actors' ε (see actor_eps)", min=0.0)
    inflight_samples: int = param(4, "sample requests the learner keeps in flight to the replay "
                                  "shards (batches)", min=1)


def actor_epsilon(i: int, n: int, eps: float, alpha: float) -> float:
    """ε_i = eps^(1 + alpha·i/(n − 1)) (Horgan et al. 2018); a single actor gets eps."""
    return eps ** (1.0 + alpha * i / (n - 1)) if n > 1 else eps


def shard_lanes(k: int, num_actors: int, num_shards: int) -> int:
    """Actors writing to shard k (actor i writes to shard i mod K, lane i // K)."""
    return len(range(k, num_actors, num_shards))


def fold(buffer: ReplayBuffer, fields: dict[str, Any], lane: int = 0) -> list[int]:
    """Add the steps of ``fields`` (``agent.replay_fields`` of one environment's steps, in
    order) to ``lane``; returns the slots they made sampleable, oldest first."""
    ready: list[int] = []
    for t in range(len(fields["action"])):
        ready += buffer.add(fields["obs"][t], int(fields["action"][t]), float(fields["reward"][t]),
                            float(fields["discount"][t]), fields["next_obs"][t],
                            bool(fields["episode_end"][t]), lane=lane)
    return ready


def _ray():
    """The ``ray`` module, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise DeepQError("Ape-X runs on Ray, which is not installed: pip install 'deepq[distributed]'") from None
    return ray


class Shard:
    """One replay shard (a Ray actor of no CPU): a prioritized ``ReplayBuffer`` whose
    lanes are the streams of the actors that write to it."""

    def __init__(self, cfg: ApexConfig, obs_shape: tuple[int, ...], obs_dtype: Any,
                 frame_stack: int | None, k: int):
        self.buffer = ReplayBuffer(cfg.buffer_size // cfg.replay_shards, obs_shape, obs_dtype, frame_stack,
                                   np.random.default_rng([cfg.seed, 4, k]), n_step=cfg.n_step,
                                   prioritized=True, alpha=cfg.per_alpha, priority_eps=cfg.per_eps,
                                   lanes=shard_lanes(k, cfg.num_actors, cfg.replay_shards))

    def add(self, fields: dict[str, Any], priorities: np.ndarray, lane: int, fresh: bool) -> None:
        """Store one actor's steps; ``priorities`` are its |δ| of the transitions they make
        sampleable, in order. ``fresh``: the actor started anew (first call, or restarted),
        so the episode its lane holds will never continue."""
        if fresh:
            self.buffer.cut(lane)
        ready = fold(self.buffer, fields, lane)
        if len(ready) != len(priorities):
            raise RuntimeError(f"shard lane {lane}: {len(ready)} transitions became sampleable, "
                               f"the actor sent {len(priorities)} priorities")
        if ready:
            self.buffer.update_priorities(np.asarray(ready), priorities)

    def sample(self, batch_size: int, beta: float):
        """(batch, generation of its slots, stats) or None while the shard is empty."""
        if len(self.buffer) < 1:
            return None
        batch = self.buffer.sample(batch_size, beta=beta)
        return batch, self.buffer.generation[batch.index].copy(), self.stats()

    def update_priorities(self, idx: np.ndarray, td_abs: np.ndarray, generation: np.ndarray) -> None:
        self.buffer.update_priorities(idx, td_abs, generation)

    def stats(self) -> tuple[int, float]:
        """(sampleable transitions, total priority mass)."""
        return len(self.buffer), self.buffer.tree.total

    def state_dict(self):
        return self.buffer.state_dict()

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any], n_actions: int) -> None:
        self.buffer.load_state_dict(arrays, meta, n_actions)


class Actor:
    """One Ape-X actor (a Ray actor process): its environment, its ε, its copy of the
    network; ``run`` takes steps and sends them, with priorities, to its shard."""

    def __init__(self, algorithm: type, cfg: ApexConfig, i: int, shard: str, lane: int):
        torch.set_num_threads(1)  # one process per core: torch's own threads would contend
        # The shard by name, not by handle: Ray restarts an actor from its constructor's
        # arguments, and a handle among them would have to outlive the run in its store.
        self.cfg, self.i, self.shard, self.lane = cfg, i, _ray().get_actor(shard), lane
        env = envs.for_config(cfg)
        obs_shape, obs_dtype, self.frame_stack = envs.obs_info(env)
        n_actions = int(env.action_space.n)
        self.rollout = agent.Rollout(env, cfg.seed, stream=0, lane=i, life_loss_terminal=cfg.life_loss_terminal)
        # fp32 on the CPU, nothing compiled: the actor only runs forward passes
        plain = replace(cfg.speed, device="cpu", precision="fp32", master_adam="off", compile=False,
                        overlap=False, threads=1)
        self.learner = TorchLearner(algorithm, replace(cfg, speed=plain), obs_shape, n_actions)
        self.policy = agent.EpsilonGreedy(self.learner.q_values, n_actions, np.random.default_rng([cfg.seed, 3, i]))
        self.epsilon = actor_epsilon(i, cfg.num_actors, cfg.actor_eps, cfg.actor_eps_alpha)
        # the n-step folding of the transitions whose priorities it computes: room for two
        # sends, the n steps before them and a frame stack's reach
        size = 4 * cfg.actor_batch + 2 * (cfg.n_step + (self.frame_stack or 1)) + 8
        self.staging = ReplayBuffer(size, obs_shape, obs_dtype, self.frame_stack, np.random.default_rng(0),
                                    check_memory=False, n_step=cfg.n_step)
        self.version = -1  # the learner update whose weights it holds
        self.fresh = True  # its lane in the shard may hold an episode it will not continue
        self.sending = None  # the shard's add call in flight

    def pid(self) -> int:
        return os.getpid()

    @torch.no_grad()
    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Q-values [B, A] of the actor's copy of the network, the one it acts with."""
        return self.learner.q_values(torch.as_tensor(obs)).numpy()

    def run(self, weights: dict[str, np.ndarray], version: int, steps: int) -> dict[str, Any]:
        """Take ``steps`` steps with the weights of learner update ``version`` and send
        them to the shard → {steps, episodes [(return, length)], version, epsilon, pid}."""
        if version != self.version:
            state = {k: torch.from_numpy(np.array(v)) for k, v in weights.items()}
            self.learner.nets.online.load_state_dict(state)
            self.learner.nets.target.load_state_dict(state)
            self.version = version
        finished, taken = [], []
        for t in range(steps):
            obs = self.rollout.observe()
            step = self.rollout.act(int(self.policy.batch(obs[None], self.epsilon)[0]))
            taken.append(step)
            if step.episode_end:
                finished.append((step.episode_return, step.episode_length))
            if len(taken) == self.cfg.actor_batch or t == steps - 1:
                self._send(taken)
                taken = []
        _ray().get(self.sending)  # the call returns once its steps are in the shard
        return {"steps": steps, "episodes": finished, "version": version, "epsilon": self.epsilon,
                "pid": os.getpid()}

    def _send(self, steps: list) -> None:
        """Fold ``steps``, compute the priorities of the transitions they complete, and
        send both to the shard (after the previous send has landed: backpressure)."""
        fields = agent.replay_fields(steps, self.cfg.gamma, self.cfg.clip_rewards)
        if self.frame_stack:  # the replay keeps each observation's newest frame only
            fields["obs"] = [o[-1:] for o in fields["obs"]]
            fields["next_obs"] = [o[-1:] for o in fields["next_obs"]]
        # a next observation is read only at an episode's end: send no others
        fields["next_obs"] = [o if end else None for o, end in zip(fields["next_obs"], fields["episode_end"])]
        ready = fold(self.staging, fields)
        priorities = (self.learner.priorities(self.staging.batch_at(np.asarray(ready))) if ready
                      else np.zeros(0, np.float32))  # [R]
        ray = _ray()
        if self.sending is not None:
            ray.get(self.sending)
        self.sending = self.shard.add.remote(fields, priorities, self.lane, self.fresh)
        self.fresh = False


class ShardedReplay:
    """The replay shards as ``Model.save`` and ``Model.load`` see a replay memory: its
    ``state_dict`` gathers every shard's (arrays named ``shard<k>.<name>``), and
    ``load_state_dict`` keeps them until the shards start."""

    def __init__(self, num_shards: int):
        self.num_shards = num_shards
        self.shards: list = []  # Ray actor handles while a run is going
        self.saved: list[tuple[dict[str, np.ndarray], dict[str, Any]]] | None = None
        self.n_actions: int | None = None

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any] | None]:
        if self.shards:
            states = _ray().get([s.state_dict.remote() for s in self.shards])
        elif self.saved is not None:
            states = self.saved
        else:
            return {}, None
        arrays = {f"shard{k}.{name}": a for k, (parts, _) in enumerate(states) for name, a in parts.items()}
        return arrays, {"shards": [meta for _, meta in states]}

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any],
                        n_actions: int | None = None) -> None:
        if len(meta["shards"]) != self.num_shards:
            raise DeepQError(f"the checkpoint holds {len(meta['shards'])} replay shards, the config "
                             f"{self.num_shards}")
        self.saved = [({name.partition(".")[2]: a for name, a in arrays.items() if name.startswith(f"shard{k}.")},
                       m) for k, m in enumerate(meta["shards"])]
        self.n_actions = n_actions

    def __len__(self) -> int:
        """Slots written (the shards' lanes together)."""
        metas = [m for _, m in self.saved] if self.saved else []
        return sum(lane["size"] for m in metas for lane in m.get("lanes", [m]))


class Apex(Model):
    """An Ape-X DQN run: ``Apex(cfg).learn()``; ``evaluate``, ``predict``, ``save``,
    ``load`` as every ``Model``. The learner's networks live in this process."""

    name, Config, honours_precision = "apex", ApexConfig, True
    network, q_values, loss = (staticmethod(dqn.network), staticmethod(dqn.q_values),
                               staticmethod(dqn.dqn_loss))

    def __init__(self, cfg: ApexConfig, run_dir=None, **kwargs):
        if isinstance(cfg, ApexConfig):
            config.check(cfg)
            check(cfg)
            probe(cfg.ray_address)  # before the run directory is made: a wrong address leaves none
        super().__init__(cfg, run_dir, **kwargs)
        self.replay = ShardedReplay(cfg.replay_shards)
        self.actors: list = []  # Ray actor handles while a run is going
        self.actor_restarts = 0  # actor processes that died and Ray restarted, this process
        self.actor_pids: dict[int, int] = {}  # actor → the process its last finished call ran in

    def _ensure_replay(self) -> ShardedReplay:
        return self.replay

    @classmethod
    def load(cls, *args, **kwargs) -> Apex:
        model = super().load(*args, **kwargs)
        model.not_restored.append("actors' episodes (Ape-X actors start new ones)")
        return model

    # -- the learner -----------------------------------------------------------------

    def learn(self, steps: int | None = None) -> bool:
        """Train until ``step`` reaches ``step + steps`` (or ``total_steps``), counting the
        steps of every actor. Starts the Ray actors and shards (and Ray itself, unless this
        process has joined a cluster already) and stops them at the end. SIGINT/SIGTERM
        stop the run; the learner (and, with ``save_replay``, the shards) is checkpointed."""
        end = self.end_step(steps)
        ray = _ray()
        # Ray starts before the session installs its SIGINT handler, so the handler is ours
        with _Cluster(self, ray) as cluster, self.book.session(end) as session:
            self._learn(session, cluster, end)
            session.finish(self.save)
        return session.solved

    def _learn(self, session, cluster: _Cluster, end: int) -> None:
        c, book, ray = self.cfg, self.book, cluster.ray
        calls: dict[Any, tuple[int, int]] = {}  # actor call → (actor, steps)
        samples: dict[Any, int] = {}  # sample request → shard
        queued = [0] * c.num_actors
        planned = book.step  # steps of the actor calls made so far
        weights, version = None, -1
        mass = np.ones(c.replay_shards)  # each shard's priority mass, as last reported
        window = _Window(book, time.perf_counter())
        epsilon = float(np.mean([actor_epsilon(i, c.num_actors, c.actor_eps, c.actor_eps_alpha)
                                 for i in range(c.num_actors)]))
        while book.step < end and not session.stopping and not session.solved:
            for i in range(c.num_actors):  # keep each actor's calls queued, within the budget
                while queued[i] < QUEUED_CALLS and planned < end:
                    if version != book.update:  # publish the learner's weights, once per version
                        weights, version = ray.put(_numpy_weights(self.learner.nets.online)), book.update
                    n = min(c.weight_period, end - planned)
                    calls[cluster.actors[i].run.remote(weights, version, n)] = (i, n)
                    queued[i] += 1
                    planned += n
            allowed = max(0, book.step // c.train_freq - c.learn_start // c.train_freq)
            while len(samples) < c.inflight_samples and book.update + len(samples) < allowed:
                k = int(self.replay_rng.choice(c.replay_shards, p=mass / mass.sum()))
                samples[cluster.shards[k].sample.remote(c.batch_size, self.per_beta())] = k
            ready, _ = ray.wait(list(samples) + list(calls), num_returns=1, timeout=1.0)
            for ref in ready:
                if ref in samples:
                    k = samples.pop(ref)
                    reply = cluster.get(ref, f"replay shard {k}")
                    if reply is None:
                        continue
                    batch, generation, (_, total) = reply
                    mass[k] = max(total, 1e-12)
                    loss, q_mean, priorities = self.learner.update(_writable(batch))
                    cluster.shards[k].update_priorities.remote(batch.index, priorities, generation)
                    book.add_loss(loss, q_mean)
                    continue
                i, n = calls.pop(ref)
                queued[i] -= 1
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayActorError as e:
                    planned -= n  # those steps were not taken: ask for them again
                    self._actor_died(session, i, e)
                    continue
                if self.actor_pids.get(i, result["pid"]) != result["pid"]:
                    session.message(f"actor {i} is back (process {result['pid']})")
                self.actor_pids[i] = result["pid"]
                book.step += n
                window.lags.append(book.update - result["version"])
                self.after_steps(session, n, result["episodes"], epsilon)
                if book.crossed(c.log_every, n):
                    window.row(session, cluster)

    def _actor_died(self, session, i: int, error: Exception) -> None:
        self.actor_restarts += 1
        if self.actor_restarts > ACTOR_RESTARTS:
            raise DeepQError(f"Ape-X actors died {self.actor_restarts} times (last: actor {i}: "
                             f"{str(error).splitlines()[0][:200]})")
        session.message(f"actor {i} died; Ray restarts it ({self.actor_restarts} restarts so far)")


def check(cfg: ApexConfig) -> None:
    """The settings an Ape-X run cannot honour, each refused in one line."""
    if cfg.replay_shards > cfg.num_actors:
        raise DeepQError(f"replay_shards = {cfg.replay_shards} is more than num_actors = {cfg.num_actors}: "
                         "every shard is filled by its own actors")
    per_shard = cfg.buffer_size // cfg.replay_shards
    lanes = shard_lanes(0, cfg.num_actors, cfg.replay_shards)  # shard 0 serves the most actors
    if per_shard // lanes < 2 * cfg.n_step + 2:
        raise DeepQError(f"buffer_size = {cfg.buffer_size} split over {cfg.replay_shards} replay shards "
                         f"and {cfg.num_actors} actors leaves {per_shard // lanes} slots per actor; each "
                         f"needs at least 2·n_step + 2 = {2 * cfg.n_step + 2}")
    if not cfg.prioritized:
        raise DeepQError("Ape-X replay is prioritized: prioritized must be true")
    for name, ok in (("num_envs", cfg.num_envs == 1), ("env_backend", cfg.env_backend == "gymnasium"),
                     ("speed.overlap", not cfg.speed.overlap)):
        if not ok:
            raise DeepQError(f"Ape-X does not use {name}: each actor steps one Gymnasium environment "
                             "(num_actors sets how many)")
    address = cfg.ray_address
    if not (address in ("local", "auto") or address.startswith("ray://")
            or (":" in address and address.rpartition(":")[2].isdigit())):
        raise DeepQError(f"ray_address must be local, auto, ray://HOST:PORT or HOST:PORT; got {address!r}")
    if importlib.util.find_spec("ray") is None:
        _ray()


def _writable(batch):
    """``batch`` with arrays torch may wrap (Ray hands out read-only views of its store)."""
    for name, a in vars(batch).items():
        if isinstance(a, np.ndarray) and not a.flags.writeable:
            setattr(batch, name, a.copy())
    return batch


def _numpy_weights(net) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}


class _Window:
    """What an ``apex`` row of metrics.csv reports, collected since the last one."""

    def __init__(self, book, now: float):
        self.book, self.start, self.update, self.lags = book, now, book.update, []

    def row(self, session, cluster: _Cluster) -> None:
        b, now = self.book, time.perf_counter()
        held = sum(n for n, _ in cluster.get([s.stats.remote() for s in cluster.shards], "a replay shard"))
        if session.logger:
            session.logger.apex(b.step, b.update, session.wall(now),
                                (b.update - self.update) / max(now - self.start, 1e-9),
                                held / b.cfg.buffer_size, float(np.mean(self.lags)) if self.lags else 0.0)
        self.start, self.update, self.lags = now, b.update, []


class _Cluster:
    """Ray, the shards and the actors of one ``learn`` call: started on entry, every Ray
    actor stopped on exit (and Ray itself, when this call started it)."""

    def __init__(self, model: Apex, ray):
        self.model, self.ray = model, ray
        self.started_ray = False
        self.shards: list = []
        self.actors: list = []

    def __enter__(self) -> _Cluster:
        m, c, ray = self.model, self.model.cfg, self.ray
        probe(c.ray_address)
        if not ray.is_initialized():
            connect(ray, c.ray_address)
            self.started_ray = True
        try:
            cpus = ray.cluster_resources().get("CPU", 0)
            if cpus < c.num_actors:
                raise DeepQError(f"the Ray cluster has {cpus:g} CPUs; num_actors = {c.num_actors} "
                                 "needs one each")
            shard_cls = ray.remote(num_cpus=0, max_restarts=0)(Shard)
            actor_cls = ray.remote(num_cpus=1, max_restarts=ACTOR_RESTARTS, max_task_retries=0)(Actor)
            names = [f"deepq-apex-{uuid.uuid4().hex[:12]}-shard{k}" for k in range(c.replay_shards)]
            self.shards = [shard_cls.options(name=name).remote(c, m.obs_shape, m.obs_dtype, m.frame_stack, k)
                           for k, name in enumerate(names)]
            if m.replay.saved is not None:  # a checkpoint's replay, or the last learn call's
                self.get([s.load_state_dict.remote(*state, m.replay.n_actions)
                          for s, state in zip(self.shards, m.replay.saved)], "a replay shard")
            self.actors = [actor_cls.remote(type(m), c, i, names[i % c.replay_shards], i // c.replay_shards)
                           for i in range(c.num_actors)]
        except BaseException:
            self.__exit__(None, None, None)
            raise
        m.replay.shards, m.actors = self.shards, self.actors
        return self

    def get(self, ref, what: str):
        """``ray.get(ref)``, a dead shard being one line."""
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayActorError as e:
            raise DeepQError(f"{what} died; its transitions are lost: {str(e).splitlines()[0][:200]}") from None

    def __exit__(self, kind, error, tb) -> None:
        m = self.model
        if kind is None and m.cfg.save_replay and self.shards:  # the next learn call goes on from it
            arrays, meta = m.replay.state_dict()
            m.replay.load_state_dict(arrays, meta, m.n_actions)
        for handle in self.actors + self.shards:
            try:
                self.ray.kill(handle, no_restart=True)
            except Exception:  # already gone
                pass
        m.replay.shards, m.actors = [], []
        if self.started_ray:
            self.ray.shutdown()


def probe(address: str, timeout_s: float = 5.0) -> None:
    """One line unless the HOST:PORT of ``address`` (``ray://HOST:PORT`` or ``HOST:PORT``)
    accepts a TCP connection within ``timeout_s`` seconds; Ray's client would retry for
    half a minute first. ``local`` and ``auto`` are left to ``connect``."""
    if address in ("local", "auto"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except (OSError, ValueError) as e:
        raise DeepQError(f"cannot reach the Ray cluster at {address}: "
                         f"{getattr(e, 'strerror', None) or e or 'timed out'}") from None


def connect(ray, address: str) -> None:
    """Start Ray on this machine (``local``) or join a cluster; one line if it cannot."""
    import logging

    options = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        if address == "local":
            ray.init(num_cpus=os.cpu_count(), **options)
        else:
            ray.init(address=address, **options)
    except Exception as e:  # ConnectionError, TimeoutError, RuntimeError, … by Ray version
        text = " ".join(str(e).split())[:200] or type(e).__name__
        raise DeepQError(f"cannot reach the Ray cluster at {address}: {text}") from None
