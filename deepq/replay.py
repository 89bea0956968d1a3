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

Prioritized replay (``prioritized=True``, Schaul et al. 2016, proportional variant)
keeps p_i^α of every sampleable slot in a ``SumTree``; slots that cannot be sampled
(final observations, transitions still collecting their n-step rewards) hold 0.
"""

from __future__ import annotations

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
    ):
        self.check_sizes(capacity, n_step)
        self.capacity = int(capacity)
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
        self.cursor = 0  # next slot to write
        self.size = 0  # slots written so far, at most capacity
        self.in_episode = False  # the last written slot's transition has no next frame yet
        # n-step: k of each slot's transition (0 = still collecting rewards), and the
        # [slot, rewards folded so far] of the current episode's unfinished transitions.
        self.nstep = np.zeros(self.capacity, np.int8) if self.n_step > 1 else None
        self.pending: list[list[int]] = []
        self.tree = SumTree(self.capacity) if self.prioritized else None
        self.max_priority = 1.0  # largest p_i so far (before the exponent α)

    @staticmethod
    def check_sizes(capacity: int, n_step: int = 1) -> None:
        """A DeepQError unless ``capacity`` slots can hold ``n_step``-step transitions."""
        if capacity < 2:
            raise DeepQError(f"buffer_size must be at least 2, got {capacity}")
        if n_step < 1 or capacity < 2 * n_step + 2:
            raise DeepQError(f"n_step must be >= 1 and buffer_size >= 2·n_step + 2; "
                             f"got n_step={n_step}, buffer_size={capacity}")

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
        if self.nstep is not None:
            return int(np.count_nonzero(self.nstep[: self.size]))
        n = int(self.starts_transition[: self.size].sum())
        return n - 1 if self.in_episode else n

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

    def _write(self, frame, action, reward, discount, starts_transition, episode_start) -> None:
        i = self.cursor
        self.frames[i] = frame
        self.action[i] = action
        self.reward[i] = reward
        self.discount[i] = discount
        self.starts_transition[i] = starts_transition
        self.episode_start[i] = episode_start
        if self.nstep is not None:
            self.nstep[i] = 0
        if self.tree is not None:
            self.tree.set([i], [0.0])  # not sampleable until its bootstrap frame is written
        self.cursor = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def add(
        self,
        obs: np.ndarray,
        action: int,
        reward: float,
        discount: float,
        next_obs: np.ndarray,
        episode_end: bool,
    ) -> None:
        """Store one transition. ``discount`` is γ^k·(1 − terminated); ``episode_end``
        (terminated or truncated) means the environment resets after it."""
        i = self.cursor
        self._write(self._newest_frame(obs), action, reward, discount, True, not self.in_episode)
        if self.n_step > 1:
            self._fold(i, reward, discount)
        elif self.in_episode:  # the previous transition's next frame is now written
            self._ready([(i - 1) % self.capacity])
        if episode_end:
            self._write(self._newest_frame(next_obs), 0, 0.0, 0.0, False, False)
            self.in_episode = False
            if self.n_step > 1:  # the episode's tail: keep it, bootstrapping from the final frame
                self._ready([j for j, _ in self.pending], [k for _, k in self.pending])
                self.pending = []
            else:
                self._ready([i])
        else:
            self.in_episode = True

    def _fold(self, i: int, reward: float, discount: float) -> None:
        """n-step bookkeeping after writing slot i (its frame is the bootstrap frame
        of the transitions that have folded n rewards already)."""
        done = [j for j, k in self.pending if k == self.n_step]
        if done:
            self._ready(done, [self.n_step] * len(done))
            self.pending = self.pending[len(done):]
        for entry in self.pending:
            j = entry[0]
            self.reward[j] += self.discount[j] * reward
            self.discount[j] *= discount
            entry[1] += 1
        self.pending.append([i, 1])

    def _ready(self, slots: list[int], k: list[int] | None = None) -> None:
        """Mark transitions sampleable (bootstrapping from slot + k); new ones get the
        largest priority seen so far, so each is replayed at least once soon."""
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
        starts = self.episode_start[(idx[:, None] - back[None, :]) % self.capacity]  # [B, C]
        first = np.where(starts.any(axis=1), starts.argmax(axis=1), k - 1)  # [B]
        offsets = np.minimum(back[None, ::-1], first[:, None])  # [B, C]
        return offsets, first

    def _valid(self, idx: np.ndarray) -> np.ndarray:
        ok = self.starts_transition[idx].copy()
        if self.nstep is not None:  # still collecting its n rewards
            ok &= self.nstep[idx] > 0
        elif self.in_episode:  # newest transition: its next frame is not written yet
            ok &= idx != (self.cursor - 1) % self.capacity
        oldest = self.cursor if self.size == self.capacity else 0
        age = (idx - oldest) % self.capacity  # 0 = oldest slot
        _, reach = self._stack_offsets(idx)
        ok &= reach <= age  # the stack's older frames have not been overwritten
        return ok

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        if not self.frame_stack:
            return self.frames[idx]
        offsets, _ = self._stack_offsets(idx)
        return self.frames[(idx[:, None] - offsets) % self.capacity]  # [B, C, H, W]

    def sample(self, batch_size: int, beta: float = 1.0) -> Batch:
        """Sample ``batch_size`` transitions (with replacement): uniformly, or in
        proportion to p_i^α with importance weights (N·P(i))^−β / max_batch (…) when
        prioritized."""
        if len(self) < 1:
            raise RuntimeError("cannot sample from an empty replay buffer")
        if self.tree is not None:
            return self._sample_prioritized(batch_size, beta)
        idx = self.rng.integers(0, self.size, batch_size)
        ok = self._valid(idx)
        while not ok.all():  # rejection: only a handful of slots are ever invalid
            idx[~ok] = self.rng.integers(0, self.size, int((~ok).sum()))
            ok = self._valid(idx)
        return self.batch_at(idx)

    def _sample_prioritized(self, batch_size: int, beta: float) -> Batch:
        # Stratified: one draw from each of batch_size equal slices of the total mass.
        def draw(n: int, strata: np.ndarray) -> np.ndarray:
            mass = (strata + self.rng.random(n)) * (self.tree.total / batch_size)
            idx = self.tree.find(np.minimum(mass, np.nextafter(self.tree.total, 0)))
            return np.minimum(idx, self.capacity - 1)

        strata = np.arange(batch_size, dtype=np.float64)
        idx = draw(batch_size, strata)
        ok = self._valid(idx) & (self.tree.get(idx) > 0)
        while not ok.all():  # stacks reaching overwritten slots, float round-off: rare
            idx[~ok] = draw(int((~ok).sum()), strata[~ok])
            ok = self._valid(idx) & (self.tree.get(idx) > 0)
        prob = self.tree.get(idx) / self.tree.total  # [B]
        weight = (len(self) * prob) ** (-beta)
        batch = self.batch_at(idx)
        batch.weight = (weight / weight.max()).astype(np.float32)
        return batch

    def update_priorities(self, idx: np.ndarray, td_abs: np.ndarray) -> None:
        """p_i = |δ_i| + ε for the sampled slots ``idx`` (Schaul et al. 2016, proportional)."""
        priority = np.asarray(td_abs, np.float64) + self.priority_eps
        self.max_priority = max(self.max_priority, float(priority.max()))
        idx = np.asarray(idx, np.int64)
        # A slot overwritten since it was sampled is not sampleable yet: leave it at 0.
        live = self.tree.get(idx) > 0
        self.tree.set(idx[live], priority[live] ** self.alpha)

    def batch_at(self, idx: np.ndarray) -> Batch:
        """The transitions starting at slots ``idx``, as a Batch."""
        idx = np.asarray(idx, np.int64)
        step = self.nstep[idx].astype(np.int64) if self.nstep is not None else 1
        nxt = (idx + step) % self.capacity
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
        arrays = {k: v[: self.size] for k, v in self._arrays().items()}
        scalars = {"capacity": self.capacity, "cursor": self.cursor, "size": self.size,
                   "in_episode": self.in_episode}
        if self.n_step > 1:
            scalars["pending"] = self.pending
        if self.tree is not None:
            arrays["priority"] = self.tree.get(np.arange(self.size))
            scalars["max_priority"] = self.max_priority
        return arrays, scalars

    def load_state_dict(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> None:
        if scalars["capacity"] != self.capacity:
            raise DeepQError(
                f"checkpoint replay has capacity {scalars['capacity']}, config says {self.capacity}"
            )
        size = int(scalars["size"])
        for name, target in self._arrays().items():
            src = arrays[name]
            if src.shape != (size, *target.shape[1:]) or src.dtype != target.dtype:
                raise DeepQError(f"checkpoint replay array '{name}' has shape {src.shape} "
                                 f"{src.dtype}, expected {(size, *target.shape[1:])} {target.dtype}")
            target[:size] = src
        self.cursor, self.size = int(scalars["cursor"]), size
        self.in_episode = bool(scalars["in_episode"])
        self.pending = [[int(j), int(k)] for j, k in scalars.get("pending", [])]
        if self.tree is not None:
            leaves = np.zeros(self.capacity)
            leaves[:size] = arrays["priority"]
            self.tree.rebuild(leaves)
            self.max_priority = float(scalars["max_priority"])
