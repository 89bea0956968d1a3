"""Replay memory: a preallocated circular buffer with vectorised sampling.

One storage layout serves vector observations and stacked Atari frames. Each slot
holds one *frame* (a whole observation when ``frame_stack`` is None, otherwise only
the newest of the C stacked frames) and the action, reward and discount of the
transition that starts from it. The next observation of slot i is rebuilt from slot
i+1, so a frame shared by overlapping stacks is stored once. When an episode ends
one extra slot holds the final observation, which is needed to bootstrap after a
time-limit truncation; it is marked as not starting a transition.

Stacks are rebuilt at sample time by walking back C−1 slots and stopping at the
episode's first slot (repeating it, like Gymnasium's ``FrameStackObservation`` with
``padding_type="reset"``), so a stack never crosses an episode start. Writing a
slot is O(1): the oldest data is overwritten in place (the design document's
``del memory[0]`` on a Python list shifts every element, O(n)).

n-step returns are folded in at write time (``n_step`` > 1): each stored transition
accumulates r_t + d_t·r_{t+1} + … and the product of the per-step discounts
d = γ·(1 − terminated) over its next k ≤ n steps, so its stored discount is
γ^k·(1 − terminated) and the loss code never changes. Slot i bootstraps from slot
i + k (``nstep[i]`` = k; 0 while the transition still waits for rewards). When an
episode ends, its last n − 1 transitions are kept with k < n (they are not dropped);
a truncation leaves γ^k in the discount, so they still bootstrap from the final
observation.

Lanes (``lanes`` = N > 1) hold the streams of N environments stepped side by side:
slot range [e·L, (e+1)·L) with L = capacity // N belongs to environment e and is a
ring of its own, so stacks and n-step returns never mix two environments' frames.
``add(..., lane=e)`` writes to lane e; sampling draws uniformly (or by priority) over
every lane's transitions. With one lane the layout is the single ring described above.

Prioritized replay (``prioritized=True``, Schaul et al. 2016, proportional variant)
keeps p_i^α of every sampleable slot in a ``SumTree``; slots that cannot be sampled
(final observations, transitions still collecting their n-step rewards) hold 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psutil

from deepq.errors import DeepQError
from deepq.types import Batch


def _human(nbytes: float) -> str:
    return f"{nbytes / 2**30:.2f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.1f} MiB"


class SumTree:
    """A binary tree over ``capacity`` leaves whose inner nodes hold the sum of their
    children: setting leaves and sampling by prefix sum are O(log n), vectorised over
    a batch (one numpy operation per tree level, no Python loop over the batch).

    Stored in one float64 array: node 1 is the root, node k has children 2k and 2k+1,
    leaf i is node ``size + i`` with ``size`` the next power of two.
    """

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self.size = 1 << max(0, (self.capacity - 1).bit_length())
        self.depth = self.size.bit_length() - 1
        self.nodes = np.zeros(2 * self.size, np.float64)

    @property
    def total(self) -> float:
        return float(self.nodes[1])

    def get(self, idx: np.ndarray) -> np.ndarray:
        return self.nodes[self.size + np.asarray(idx)]

    def set(self, idx: np.ndarray, values: np.ndarray) -> None:
        """Set leaves ``idx`` (duplicates: the last value wins) and refresh their ancestors."""
        node = self.size + np.asarray(idx, np.int64).reshape(-1)
        self.nodes[node] = np.asarray(values, np.float64).reshape(-1)
        if len(node) == 1:  # one leaf (every replay write): plain ints are faster
            k, nodes = int(node[0]) >> 1, self.nodes
            while k:
                nodes[k] = nodes[2 * k] + nodes[2 * k + 1]
                k >>= 1
            return
        for _ in range(self.depth):
            node = np.unique(node >> 1)
            self.nodes[node] = self.nodes[2 * node] + self.nodes[2 * node + 1]

    def find(self, mass: np.ndarray) -> np.ndarray:
        """Leaf index i for each ``mass`` in [0, total): the first leaf whose prefix sum
        exceeds it, so leaf i is found with probability value_i / total."""
        mass = np.array(mass, np.float64)
        node = np.ones(mass.shape, np.int64)
        for _ in range(self.depth):
            left = self.nodes[2 * node]
            right = mass >= left
            mass -= left * right
            node = 2 * node + right
        return node - self.size

    def rebuild(self, leaves: np.ndarray) -> None:
        self.nodes[:] = 0.0
        self.nodes[self.size:self.size + len(leaves)] = leaves
        for level in range(self.depth - 1, -1, -1):
            lo, hi = 1 << level, 2 << level
            self.nodes[lo:hi] = self.nodes[2 * lo:2 * hi:2] + self.nodes[2 * lo + 1:2 * hi:2]


@dataclass
class _Lane:
    """Write position and episode state of one environment's ring of slots."""

    base: int  # first slot of the lane
    cursor: int  # next slot to write
    size: int = 0  # slots written so far, at most the lane's length
    in_episode: bool = False  # the last written slot's transition has no next frame yet
    # n-step: [slot, rewards folded so far] of the current episode's unfinished transitions
    pending: list[list[int]] = field(default_factory=list)


class ReplayBuffer:
    """Experience replay (Mnih et al. 2015) with frame-deduplicated storage; optionally
    n-step returns and proportional prioritized sampling.

    capacity      number of slots (≈ transitions; one extra slot per finished episode)
    obs_shape     shape of one observation, e.g. (4, 84, 84) or (4,)
    frame_stack   C when observations are C stacked frames (store frames once),
                  None to store each observation whole
    n_step        rewards folded into each transition (1 = one-step Q-learning)
    prioritized   sample slot i with probability p_i^α / Σ_j p_j^α (else uniformly)
    alpha         priority exponent α (0 = uniform)
    priority_eps  added to |TD error| so no transition's priority is ever 0
    lanes         environments whose streams are stored side by side (slots per lane:
                  capacity // lanes)
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: Any,
        frame_stack: int | None,
        rng: np.random.Generator,
        check_memory: bool = True,
        n_step: int = 1,
        prioritized: bool = False,
        alpha: float = 0.6,
        priority_eps: float = 1e-6,
        lanes: int = 1,
    ):
        self.check_sizes(capacity, n_step, lanes)
        self.capacity = int(capacity)
        self.lane_len = self.capacity // int(lanes)  # L: slots per lane
        self.n_step = int(n_step)
        self.prioritized = bool(prioritized)
        self.alpha = float(alpha)
        self.priority_eps = float(priority_eps)
        self.obs_shape = tuple(obs_shape)
        self.obs_dtype = np.dtype(obs_dtype)
        self.frame_stack = frame_stack
        if frame_stack is not None and (len(obs_shape) < 2 or obs_shape[0] != frame_stack):
            raise ValueError(f"obs_shape {obs_shape} does not start with frame_stack={frame_stack}")
        self.frame_shape = self.obs_shape[1:] if frame_stack else self.obs_shape
        self.rng = rng
        needed = self.bytes_needed(self.capacity, self.frame_shape, self.obs_dtype)
        needed += self.capacity * ((self.n_step > 1) + 16 * self.prioritized)
        if check_memory:
            available = psutil.virtual_memory().available
            if needed > available:
                raise DeepQError(
                    f"replay buffer of {self.capacity:,} slots needs {_human(needed)} "
                    f"but only {_human(available)} of memory is available; lower buffer_size"
                )
        # np.zeros maps pages lazily: resident memory grows as slots are written.
        self.frames = np.zeros((self.capacity, *self.frame_shape), self.obs_dtype)
        self.action = np.zeros(self.capacity, np.int32)
        self.reward = np.zeros(self.capacity, np.float32)
        self.discount = np.zeros(self.capacity, np.float32)
        self.starts_transition = np.zeros(self.capacity, bool)
        self.episode_start = np.zeros(self.capacity, bool)
        self.lanes = [_Lane(base=e * self.lane_len, cursor=e * self.lane_len) for e in range(int(lanes))]
        # n-step: k of each slot's transition (0 = still collecting rewards)
        self.nstep = np.zeros(self.capacity, np.int8) if self.n_step > 1 else None
        self.tree = SumTree(self.capacity) if self.prioritized else None
        self.max_priority = 1.0  # largest p_i so far (before the exponent α)
        # writes to each slot: a priority update that arrives after its slot was reused
        # (Ape-X's learner updates late) names an older generation and is dropped
        self.generation = np.zeros(self.capacity, np.int64)
        self._newly_ready: list[int] = []  # what the current ``add`` made sampleable

    @staticmethod
    def check_sizes(capacity: int, n_step: int = 1, lanes: int = 1) -> None:
        """A DeepQError unless ``capacity`` slots can hold ``n_step``-step transitions
        in each of ``lanes`` lanes."""
        if capacity < 2:
            raise DeepQError(f"buffer_size must be at least 2, got {capacity}")
        if n_step < 1 or capacity < 2 * n_step + 2:
            raise DeepQError(f"n_step must be >= 1 and buffer_size >= 2·n_step + 2; "
                             f"got n_step={n_step}, buffer_size={capacity}")
        if lanes < 1 or capacity // lanes < 2 * n_step + 2:
            raise DeepQError(f"buffer_size must hold 2·n_step + 2 slots per environment; got "
                             f"buffer_size={capacity} for {lanes} environments, n_step={n_step}")

    size = property(lambda self: sum(lane.size for lane in self.lanes),
                    doc="slots written so far, over all lanes")

    def _shift(self, idx: np.ndarray, delta: np.ndarray | int) -> np.ndarray:
        """Slot ``idx + delta`` within the ring of ``idx``'s lane (elementwise)."""
        base = idx - idx % self.lane_len
        return base + (idx - base + delta) % self.lane_len

    @staticmethod
    def bytes_needed(capacity: int, frame_shape: tuple[int, ...], dtype: Any) -> int:
        per_slot = int(np.prod(frame_shape)) * np.dtype(dtype).itemsize + 4 + 4 + 4 + 1 + 1
        return capacity * per_slot

    @property
    def nbytes(self) -> int:
        """Bytes held by the storage arrays (all preallocated)."""
        return sum(a.nbytes for a in self._arrays().values())

    def __len__(self) -> int:
        """Number of sampleable transitions (approximately; excludes final-frame slots)."""
        n = 0
        for lane in self.lanes:
            written = slice(lane.base, lane.base + lane.size)
            if self.nstep is not None:
                n += int(np.count_nonzero(self.nstep[written]))
            else:
                n += int(np.count_nonzero(self.starts_transition[written])) - lane.in_episode
        return n

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "frames": self.frames,
            "action": self.action,
            "reward": self.reward,
            "discount": self.discount,
            "starts_transition": self.starts_transition,
            "episode_start": self.episode_start,
        }
        if self.nstep is not None:
            arrays["nstep"] = self.nstep
        return arrays

    def _newest_frame(self, obs: np.ndarray) -> np.ndarray:
        return obs[-1] if self.frame_stack else obs

    def _write(self, lane: _Lane, frame, action, reward, discount, starts_transition,
               episode_start) -> None:
        i = lane.cursor
        self.frames[i] = frame
        self.action[i] = action
        self.reward[i] = reward
        self.discount[i] = discount
        self.starts_transition[i] = starts_transition
        self.episode_start[i] = episode_start
        if self.nstep is not None:
            self.nstep[i] = 0
        self.generation[i] += 1
        if self.tree is not None:
            self.tree.set([i], [0.0])  # not sampleable until its bootstrap frame is written
        lane.cursor = lane.base + (i + 1 - lane.base) % self.lane_len
        lane.size = min(lane.size + 1, self.lane_len)

    def add(
        self,
        obs: np.ndarray,
        action: int,
        reward: float,
        discount: float,
        next_obs: np.ndarray,
        episode_end: bool,
        lane: int = 0,
    ) -> list[int]:
        """Store one transition of environment ``lane``. ``discount`` is
        γ^k·(1 − terminated); ``episode_end`` (terminated or truncated) means the
        environment resets after it. Returns the slots whose transitions this step made
        sampleable, oldest first (an Ape-X actor and its shard fold the same steps, so
        both list the same transitions in the same order)."""
        self._newly_ready = []
        ln = self.lanes[lane]
        i = ln.cursor
        self._write(ln, self._newest_frame(obs), action, reward, discount, True, not ln.in_episode)
        if self.n_step > 1:
            self._fold(ln, i, reward, discount)
        elif ln.in_episode:  # the previous transition's next frame is now written
            self._ready([int(self._shift(i, -1))])
        if episode_end:
            self._write(ln, self._newest_frame(next_obs), 0, 0.0, 0.0, False, False)
            ln.in_episode = False
            if self.n_step > 1:  # the episode's tail: keep it, bootstrapping from the final frame
                self._ready([j for j, _ in ln.pending], [k for _, k in ln.pending])
                ln.pending = []
            else:
                self._ready([i])
        else:
            ln.in_episode = True
        return self._newly_ready

    def add_batch(self, obs, action, reward, discount, next_obs, episode_end) -> None:
        """Store one transition per lane: item e of each length-N sequence (or row e of
        each [N, ...] array) goes to lane e."""
        for e in range(len(self.lanes)):
            self.add(obs[e], int(action[e]), float(reward[e]), float(discount[e]), next_obs[e],
                     bool(episode_end[e]), lane=e)

    def cut(self, lane: int = 0) -> None:
        """End lane ``lane``'s episode where it stands, for an environment that cannot
        continue it (EnvPool after a resume): the transitions still waiting for their
        next frame or their n rewards are dropped; the next ``add`` starts an episode."""
        ln = self.lanes[lane]
        if not ln.in_episode:
            return
        waiting = [j for j, _ in ln.pending] if self.n_step > 1 else [int(self._shift(ln.cursor, -1))]
        self.starts_transition[waiting] = False
        ln.in_episode, ln.pending = False, []

    def _fold(self, lane: _Lane, i: int, reward: float, discount: float) -> None:
        """n-step bookkeeping after writing slot i (its frame is the bootstrap frame
        of the transitions that have folded n rewards already)."""
        done = [j for j, k in lane.pending if k == self.n_step]
        if done:
            self._ready(done, [self.n_step] * len(done))
            lane.pending = lane.pending[len(done):]
        for entry in lane.pending:
            j = entry[0]
            self.reward[j] += self.discount[j] * reward
            self.discount[j] *= discount
            entry[1] += 1
        lane.pending.append([i, 1])

    def _ready(self, slots: list[int], k: list[int] | None = None) -> None:
        """Mark transitions sampleable (bootstrapping from slot + k); new ones get the
        largest priority seen so far, so each is replayed at least once soon."""
        self._newly_ready += slots
        if k is not None:
            self.nstep[slots] = k
        if self.tree is not None and slots:
            self.tree.set(slots, np.full(len(slots), self.max_priority ** self.alpha))

    def _stack_offsets(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """How far back each of the C stack positions reaches, and the reach needed.

        Returns (offsets [B, C] oldest first, reach [B]): offsets stop at the episode's
        first slot; reach is how many slots back the stack actually reads.
        """
        k = self.frame_stack or 1
        back = np.arange(k)  # 0 = newest
        starts = self.episode_start[self._shift(idx[:, None], -back[None, :])]  # [B, C]
        first = np.where(starts.any(axis=1), starts.argmax(axis=1), k - 1)  # [B]
        offsets = np.minimum(back[None, ::-1], first[:, None])  # [B, C]
        return offsets, first

    def _valid(self, idx: np.ndarray) -> np.ndarray:
        ok = self.starts_transition[idx].copy()
        lane = idx // self.lane_len
        cursor = np.array([ln.cursor for ln in self.lanes])[lane]  # [B]
        if self.nstep is not None:  # still collecting its n rewards
            ok &= self.nstep[idx] > 0
        else:  # a lane's newest transition waits for its next frame while mid-episode
            in_episode = np.array([ln.in_episode for ln in self.lanes])[lane]
            ok &= ~(in_episode & (idx == self._shift(cursor, -1)))
        full = np.array([ln.size == self.lane_len for ln in self.lanes])[lane]
        oldest = np.where(full, cursor, lane * self.lane_len)
        age = (idx - oldest) % self.lane_len  # 0 = the lane's oldest slot
        _, reach = self._stack_offsets(idx)
        ok &= reach <= age  # the stack's older frames have not been overwritten
        return ok

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        if not self.frame_stack:
            return self.frames[idx]
        offsets, _ = self._stack_offsets(idx)
        return self.frames[self._shift(idx[:, None], -offsets)]  # [B, C, H, W]

    def _redraw_invalid(self, idx: np.ndarray, valid, draw) -> np.ndarray:
        """Redraw the slots ``valid`` rejects. A memory that yields no valid slot in many
        rounds (priorities turned NaN, say) is an error, never an endless loop."""
        ok = valid(idx)
        for _ in range(1000):
            if ok.all():
                return idx
            idx[~ok] = draw(~ok)
            ok = valid(idx)
        raise DeepQError("replay sampling found no valid transition in 1000 rounds "
                         "(are the priorities finite?)")

    def sample(self, batch_size: int, beta: float = 1.0) -> Batch:
        """Sample ``batch_size`` transitions (with replacement): uniformly, or in
        proportion to p_i^α with importance weights (N·P(i))^−β / max_batch (…) when
        prioritized."""
        if len(self) < 1:
            raise RuntimeError("cannot sample from an empty replay buffer")
        if self.tree is not None:
            return self._sample_prioritized(batch_size, beta)
        sizes = np.array([ln.size for ln in self.lanes])
        ends = np.cumsum(sizes)  # draw u in [0, Σ sizes) and find its lane's slot

        def draw(n: int) -> np.ndarray:
            u = self.rng.integers(0, ends[-1], n)
            lane = np.searchsorted(ends, u, side="right")
            return lane * self.lane_len + u - (ends[lane] - sizes[lane])

        # rejection: only a handful of slots are ever invalid
        idx = self._redraw_invalid(draw(batch_size), self._valid, lambda bad: draw(int(bad.sum())))
        return self.batch_at(idx)

    def _sample_prioritized(self, batch_size: int, beta: float) -> Batch:
        # Stratified: one draw from each of batch_size equal slices of the total mass.
        def draw(n: int, strata: np.ndarray) -> np.ndarray:
            mass = (strata + self.rng.random(n)) * (self.tree.total / batch_size)
            idx = self.tree.find(np.minimum(mass, np.nextafter(self.tree.total, 0)))
            return np.minimum(idx, self.capacity - 1)

        strata = np.arange(batch_size, dtype=np.float64)
        # stacks reaching overwritten slots, float round-off: rare
        idx = self._redraw_invalid(draw(batch_size, strata),
                                   lambda i: self._valid(i) & (self.tree.get(i) > 0),
                                   lambda bad: draw(int(bad.sum()), strata[bad]))
        prob = self.tree.get(idx) / self.tree.total  # [B]
        weight = (len(self) * prob) ** (-beta)
        batch = self.batch_at(idx)
        batch.weight = (weight / weight.max()).astype(np.float32)
        return batch

    def update_priorities(self, idx: np.ndarray, td_abs: np.ndarray,
                          generation: np.ndarray | None = None) -> None:
        """p_i = |δ_i| + ε for the sampled slots ``idx`` (Schaul et al. 2016, proportional).
        With ``generation`` (``self.generation[idx]`` when they were sampled) a slot
        written since then keeps its priority: the update was for the old transition."""
        priority = np.asarray(td_abs, np.float64) + self.priority_eps
        self.max_priority = max(self.max_priority, float(priority.max()))
        idx = np.asarray(idx, np.int64)
        # A slot overwritten since it was sampled is not sampleable yet: leave it at 0.
        live = self.tree.get(idx) > 0
        if generation is not None:
            live &= self.generation[idx] == np.asarray(generation, np.int64)
        self.tree.set(idx[live], priority[live] ** self.alpha)

    def batch_at(self, idx: np.ndarray) -> Batch:
        """The transitions starting at slots ``idx``, as a Batch."""
        idx = np.asarray(idx, np.int64)
        step = self.nstep[idx].astype(np.int64) if self.nstep is not None else 1
        nxt = self._shift(idx, step)
        return Batch(
            obs=self._gather(idx),
            action=self.action[idx].astype(np.int64),
            reward=self.reward[idx],
            discount=self.discount[idx],
            next_obs=self._gather(nxt),
            index=idx,
        )

    # -- checkpointing ------------------------------------------------------------

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, scalars): the written part of every array, and the counters."""
        # Slots up to the highest one written (one lane: exactly the written ones).
        end = max(ln.base + ln.size for ln in self.lanes)
        arrays = {k: v[:end] for k, v in self._arrays().items()}
        lanes = [{"cursor": ln.cursor, "size": ln.size, "in_episode": ln.in_episode,
                  "pending": ln.pending} for ln in self.lanes]
        scalars = {"capacity": self.capacity, **lanes[0]}
        if len(lanes) > 1:
            scalars["lanes"] = lanes
        if self.tree is not None:
            arrays["priority"] = self.tree.get(np.arange(end))
            scalars["max_priority"] = self.max_priority
        return arrays, scalars

    def load_state_dict(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any],
                        n_actions: int | None = None) -> None:
        """Restore what ``state_dict`` wrote; anything out of range is a DeepQError."""
        if scalars["capacity"] != self.capacity:
            raise DeepQError(
                f"checkpoint replay has capacity {scalars['capacity']}, config says {self.capacity}"
            )
        lanes = scalars.get("lanes", [scalars])  # one lane: its state is at the top level
        if len(lanes) != len(self.lanes):
            raise DeepQError(f"checkpoint replay holds {len(lanes)} environments' streams, "
                             f"config says {len(self.lanes)}")
        for ln, saved in zip(self.lanes, lanes):
            ln.cursor, ln.size = int(saved["cursor"]), int(saved["size"])
            ln.in_episode = bool(saved["in_episode"])
            ln.pending = [[int(j), int(k)] for j, k in saved.get("pending", [])]
            slots = range(ln.base, ln.base + self.lane_len)
            if (ln.cursor not in slots or not 0 <= ln.size <= self.lane_len
                    or any(j not in slots or not 0 < k <= self.n_step for j, k in ln.pending)):
                raise DeepQError(f"checkpoint replay lane state {saved} is out of range")
        end = max(ln.base + ln.size for ln in self.lanes)
        for name, target in self._arrays().items():
            src = arrays[name]
            if src.shape != (end, *target.shape[1:]) or src.dtype != target.dtype:
                raise DeepQError(f"checkpoint replay array '{name}' has shape {src.shape} "
                                 f"{src.dtype}, expected {(end, *target.shape[1:])} {target.dtype}")
            target[:end] = src
        ok = (np.all((self.discount[:end] >= 0) & (self.discount[:end] <= 1))
              and (n_actions is None or np.all((self.action[:end] >= 0) & (self.action[:end] < n_actions)))
              and (self.nstep is None or np.all((self.nstep[:end] >= 0) & (self.nstep[:end] <= self.n_step))))
        if not ok:
            raise DeepQError("checkpoint replay holds actions, discounts or n-step counts out of range")
        if self.tree is not None:
            leaves = np.zeros(self.capacity)
            leaves[:end] = arrays["priority"]
            if not (np.all(leaves >= 0) and np.isfinite(scalars["max_priority"])):
                raise DeepQError("checkpoint replay holds negative or non-finite priorities")
            self.tree.rebuild(leaves)
            self.max_priority = float(scalars["max_priority"])
