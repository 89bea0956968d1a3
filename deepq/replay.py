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
"""

from __future__ import annotations

from typing import Any

import numpy as np
import psutil

from deepq.errors import DeepQError
from deepq.types import Batch


def _human(nbytes: float) -> str:
    return f"{nbytes / 2**30:.2f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.1f} MiB"


class ReplayBuffer:
    """Uniform experience replay (Mnih et al. 2015) with frame-deduplicated storage.

    capacity      number of slots (≈ transitions; one extra slot per finished episode)
    obs_shape     shape of one observation, e.g. (4, 84, 84) or (4,)
    frame_stack   C when observations are C stacked frames (store frames once),
                  None to store each observation whole
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: Any,
        frame_stack: int | None,
        rng: np.random.Generator,
        check_memory: bool = True,
    ):
        if capacity < 2:
            raise DeepQError(f"buffer_size must be at least 2, got {capacity}")
        self.capacity = int(capacity)
        self.obs_shape = tuple(obs_shape)
        self.obs_dtype = np.dtype(obs_dtype)
        self.frame_stack = frame_stack
        if frame_stack is not None and (len(obs_shape) < 2 or obs_shape[0] != frame_stack):
            raise ValueError(f"obs_shape {obs_shape} does not start with frame_stack={frame_stack}")
        self.frame_shape = self.obs_shape[1:] if frame_stack else self.obs_shape
        self.rng = rng
        needed = self.bytes_needed(self.capacity, self.frame_shape, self.obs_dtype)
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
        n = int(self.starts_transition[: self.size].sum())
        return n - 1 if self.in_episode else n

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "frames": self.frames,
            "action": self.action,
            "reward": self.reward,
            "discount": self.discount,
            "starts_transition": self.starts_transition,
            "episode_start": self.episode_start,
        }

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
        self._write(self._newest_frame(obs), action, reward, discount, True, not self.in_episode)
        if episode_end:
            self._write(self._newest_frame(next_obs), 0, 0.0, 0.0, False, False)
            self.in_episode = False
        else:
            self.in_episode = True

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
        if self.in_episode:  # newest transition: its next frame is not written yet
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

    def sample(self, batch_size: int) -> Batch:
        """Uniformly sample ``batch_size`` transitions (with replacement)."""
        if len(self) < 1:
            raise RuntimeError("cannot sample from an empty replay buffer")
        idx = self.rng.integers(0, self.size, batch_size)
        ok = self._valid(idx)
        while not ok.all():  # rejection: only a handful of slots are ever invalid
            idx[~ok] = self.rng.integers(0, self.size, int((~ok).sum()))
            ok = self._valid(idx)
        return self.batch_at(idx)

    def batch_at(self, idx: np.ndarray) -> Batch:
        """The transitions starting at slots ``idx``, as a Batch."""
        idx = np.asarray(idx, np.int64)
        nxt = (idx + 1) % self.capacity
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
