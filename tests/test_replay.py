"""Replay memory: wraparound, dtypes, bytes, stacks at episode starts, truncation."""

import numpy as np
import pytest

from deepq.errors import DeepQError
from deepq.replay import ReplayBuffer


def fill_stacked(buf: ReplayBuffer, episode_lengths, k: int, truncate_every: int = 2):
    """Feed episodes of stacked frames, each frame a unique id, as a FrameStack wrapper
    with reset padding would; return {transition id: (obs, next_obs, discount)}."""
    recorded, frame_id, tid = {}, 0, 0
    for ep, length in enumerate(episode_lengths):
        frame_id += 1
        stack = [np.array([frame_id])] * k
        for t in range(length):
            frame_id += 1
            nxt = stack[1:] + [np.array([frame_id])]
            end = t == length - 1
            truncated = end and ep % truncate_every == 0
            discount = 0.0 if end and not truncated else 0.9
            obs, next_obs = np.stack(stack), np.stack(nxt)
            buf.add(obs, tid, 0.5, discount, next_obs, end)
            recorded[tid] = (obs, next_obs, discount)
            stack, tid = nxt, tid + 1
    return recorded


@pytest.mark.parametrize("capacity", [7, 13, 50, 1000])
def test_stacks_rebuilt_exactly_never_crossing_episode_starts(capacity):
    k = 4
    buf = ReplayBuffer(capacity, (k, 1), np.int32, frame_stack=k, rng=np.random.default_rng(1))
    recorded = fill_stacked(buf, [1, 2, 3, 9, 1, 5, 4, 2], k)
    batch = buf.sample(3000)
    seen = set()
    for obs, act, disc, nxt in zip(batch.obs, batch.action, batch.discount, batch.next_obs):
        exp_obs, exp_next, exp_disc = recorded[int(act)]
        np.testing.assert_array_equal(obs, exp_obs)
        np.testing.assert_array_equal(nxt, exp_next)
        assert disc == pytest.approx(exp_disc)
        seen.add(int(act))
    # every transition still fully stored is sampleable: the newest ones up to the
    # buffer's capacity, less the few near the overwrite point
    newest = sorted(recorded)[-min(len(recorded), capacity // 2):]
    assert set(newest[-max(1, len(newest) - k - 2):]) <= seen


def test_truncation_keeps_final_observation_and_bootstrap():
    buf = ReplayBuffer(100, (2,), np.float32, frame_stack=None, rng=np.random.default_rng(0))
    buf.add(np.array([0.0, 0.0]), 0, 1.0, 0.99, np.array([1.0, 1.0]), False)
    buf.add(np.array([1.0, 1.0]), 1, 1.0, 0.99, np.array([2.0, 2.0]), True)  # truncated
    buf.add(np.array([5.0, 5.0]), 2, 1.0, 0.0, np.array([6.0, 6.0]), True)  # terminated
    sampled = buf.sample(500)
    assert set(sampled.action.tolist()) == {0, 1, 2}
    # the truncated transition bootstraps (γ kept) from the final observation, not a reset one
    np.testing.assert_array_equal(sampled.next_obs[sampled.action == 1][0], [2.0, 2.0])
    assert np.all(sampled.discount[sampled.action == 1] == pytest.approx(0.99))
    np.testing.assert_array_equal(sampled.next_obs[sampled.action == 2][0], [6.0, 6.0])
    assert np.all(sampled.discount[sampled.action == 2] == 0.0)


def test_wraparound_overwrites_oldest_in_place():
    buf = ReplayBuffer(5, (1,), np.float32, frame_stack=None, rng=np.random.default_rng(0))
    for i in range(12):
        buf.add(np.array([i]), i, 0.0, 0.9, np.array([i + 1]), False)
    assert buf.size == 5 and buf.frames.shape == (5, 1)
    actions = set(buf.sample(1000).action.tolist())
    # slots hold transitions 7..11; 11 has no next frame yet, so 7..10 are sampleable
    assert actions == {7, 8, 9, 10}


def test_uint8_frames_stay_uint8_and_bytes_reported():
    buf = ReplayBuffer(1000, (4, 84, 84), np.uint8, frame_stack=4, rng=np.random.default_rng(0))
    assert buf.frames.dtype == np.uint8 and buf.frames.shape == (1000, 84, 84)
    assert buf.nbytes == 1000 * (84 * 84 + 14)
    obs = np.random.default_rng(0).integers(0, 255, (4, 84, 84), dtype=np.uint8)
    for t in range(3):
        buf.add(obs, 1, 1.0, 0.99, obs, t == 2)
    assert buf.sample(4).obs.dtype == np.uint8


def test_one_million_pong_transitions_fit_in_7_5_gb():
    need = ReplayBuffer.bytes_needed(1_000_000, (84, 84), np.uint8)
    assert need <= 7.5e9
    # the design document's float list of (s, s') pairs: 2 · 4·84·84 float64 per transition
    assert 1_000_000 * 2 * 84 * 84 * 8 > 7 * need


def test_refuses_a_buffer_larger_than_available_memory():
    with pytest.raises(DeepQError, match=r"needs .*GiB"):
        ReplayBuffer(10**9, (4, 84, 84), np.uint8, frame_stack=4, rng=np.random.default_rng(0))


def test_checkpoint_state_round_trip():
    src = ReplayBuffer(9, (2, 1), np.int32, frame_stack=2, rng=np.random.default_rng(0))
    fill_stacked(src, [3, 4, 5], 2)
    arrays, scalars = src.state_dict()
    dst = ReplayBuffer(9, (2, 1), np.int32, frame_stack=2, rng=np.random.default_rng(0))
    dst.load_state_dict(arrays, scalars)
    idx = np.arange(9)
    np.testing.assert_array_equal(src.batch_at(idx).obs, dst.batch_at(idx).obs)
    assert dst.lanes == src.lanes and dst.size == src.size
