"""Replay lanes: N environments' streams stored side by side never mix."""

import numpy as np
import pytest

from deepq.errors import DeepQError
from deepq.replay import ReplayBuffer


def streams(n_lanes: int, steps: int, k: int, seed: int = 0):
    """Per lane, a list of (obs, action, reward, discount, next_obs, end) with frame ids
    unique across lanes, episodes of random length, some truncated."""
    rng = np.random.default_rng(seed)
    out = []
    for e in range(n_lanes):
        rows, frame = [], 1000 * (e + 1) * steps
        stack, left = None, 0
        for t in range(steps):
            if left == 0:
                frame += 1
                stack, left = [np.array([frame])] * k, int(rng.integers(1, 9))
            frame += 1
            nxt = stack[1:] + [np.array([frame])]
            left -= 1
            end = left == 0
            discount = 0.9 if not end or rng.random() < 0.5 else 0.0
            tid = e * steps + t  # the action carries the transition's id
            rows.append((np.stack(stack), tid, float(rng.normal()), discount, np.stack(nxt), end))
            stack = nxt
        out.append(rows)
    return out


@pytest.mark.parametrize("n_step", [1, 3])
def test_lanes_keep_each_environment_stream_as_its_own_buffer_would(n_step):
    k, n_lanes, steps, lane_len = 4, 3, 40, 30
    data = streams(n_lanes, steps, k)
    multi = ReplayBuffer(lane_len * n_lanes, (k, 1), np.int64, k, np.random.default_rng(0),
                         n_step=n_step, lanes=n_lanes)
    singles = [ReplayBuffer(lane_len, (k, 1), np.int64, k, np.random.default_rng(0), n_step=n_step)
               for _ in range(n_lanes)]
    for t in range(steps):  # one vector step: a row per lane, as add_batch gets it
        rows = [data[e][t] for e in range(n_lanes)]
        multi.add_batch(*(np.array([r[i] for r in rows]) for i in range(6)))
        for e, row in enumerate(rows):
            singles[e].add(*row)
    assert len(multi) == sum(len(b) for b in singles)
    expected = {}
    for b in singles:
        s = b.sample(2000)
        for i, tid in enumerate(s.action):
            expected[int(tid)] = (s.obs[i], s.next_obs[i], s.reward[i], s.discount[i])
    got = multi.sample(6000)
    assert set(got.action.tolist()) == set(expected)  # the same transitions are sampleable
    for i, tid in enumerate(got.action):
        obs, nxt, reward, discount = expected[int(tid)]
        np.testing.assert_array_equal(got.obs[i], obs)
        np.testing.assert_array_equal(got.next_obs[i], nxt)
        assert got.reward[i] == pytest.approx(reward) and got.discount[i] == pytest.approx(discount)
    # sampled about uniformly over all lanes' transitions
    lane_of = got.action // steps
    share = np.bincount(lane_of, minlength=n_lanes) / len(lane_of)
    sizes = np.array([len(b) for b in singles]) / len(multi)
    np.testing.assert_allclose(share, sizes, atol=0.03)


def test_lanes_round_trip_through_state_dict_and_reject_another_lane_count():
    k, n_lanes = 2, 2
    data = streams(n_lanes, 25, k, seed=3)
    src = ReplayBuffer(40, (k, 1), np.int64, k, np.random.default_rng(0), n_step=2, lanes=n_lanes,
                       prioritized=True)
    for t in range(25):
        rows = [data[e][t] for e in range(n_lanes)]
        src.add_batch(*(np.array([r[i] for r in rows]) for i in range(6)))
    arrays, scalars = src.state_dict()
    dst = ReplayBuffer(40, (k, 1), np.int64, k, np.random.default_rng(0), n_step=2, lanes=n_lanes,
                       prioritized=True)
    dst.load_state_dict(arrays, scalars)
    a, b = src.sample(64), dst.sample(64)
    np.testing.assert_array_equal(a.obs, b.obs)
    np.testing.assert_array_equal(a.index, b.index)
    assert [ln.pending for ln in dst.lanes] == [ln.pending for ln in src.lanes]
    with pytest.raises(DeepQError, match="2 environments"):
        ReplayBuffer(40, (k, 1), np.int64, k, np.random.default_rng(0), n_step=2, lanes=1,
                     prioritized=True).load_state_dict(arrays, scalars)


def test_too_many_lanes_for_the_capacity_is_a_clear_error():
    with pytest.raises(DeepQError, match="per environment"):
        ReplayBuffer(20, (1,), np.float32, None, np.random.default_rng(0), n_step=3, lanes=4)
