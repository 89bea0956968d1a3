"""Replay variants: sum tree, prioritized sampling, n-step folding (tails, truncation,
stacked frames), checkpoint round trip."""

import numpy as np
import pytest

from deepq.errors import DeepQError
from deepq.replay import ReplayBuffer, SumTree


def test_sum_tree_sums_and_finds_by_prefix():
    tree = SumTree(5)  # padded to 8 leaves
    tree.set(np.arange(5), [1.0, 2.0, 0.0, 3.0, 4.0])
    assert tree.total == 10.0
    # prefix sums: [0,1) → 0, [1,3) → 1, leaf 2 is empty, [3,6) → 3, [6,10) → 4
    got = tree.find(np.array([0.0, 0.99, 1.0, 2.99, 3.0, 5.99, 6.0, 9.99]))
    assert got.tolist() == [0, 0, 1, 1, 3, 3, 4, 4]
    tree.set([4, 4], [1.0, 0.5])  # duplicates: the last value wins
    assert tree.total == 6.5
    tree.rebuild(np.array([1.0, 1.0, 1.0, 1.0, 1.0]))
    assert tree.total == 5.0 and tree.find(np.array([4.5])).tolist() == [4]


def test_sum_tree_sampling_frequencies_are_proportional_to_priorities():
    rng = np.random.default_rng(0)
    p = np.array([1.0, 2.0, 3.0, 4.0, 0.0, 10.0])
    tree = SumTree(len(p))
    tree.set(np.arange(len(p)), p)
    n = 200_000
    counts = np.bincount(tree.find(rng.random(n) * tree.total), minlength=len(p))
    expected = n * p / p.sum()
    assert counts[4] == 0
    # chi-square with 4 degrees of freedom (the zero leaf excluded): 99.9% quantile is 18.5
    nz = p > 0
    assert (((counts[nz] - expected[nz]) ** 2) / expected[nz]).sum() < 18.5


def vector_buffer(capacity=64, **kw):
    return ReplayBuffer(capacity, (1,), np.float32, frame_stack=None, rng=np.random.default_rng(0), **kw)


def test_prioritized_sampling_follows_priorities_to_the_alpha_with_weights():
    alpha = 0.5
    buf = vector_buffer(prioritized=True, alpha=alpha)
    for t in range(5):
        buf.add(np.array([t]), t, 0.0, 0.9, np.array([t + 1]), t == 4)
    td = np.array([0.0, 1.0, 4.0, 9.0, 16.0])  # p = |δ| + ε; p^α ≈ 0, 1, 2, 3, 4
    buf.update_priorities(np.arange(5), td)
    draws = np.concatenate([buf.sample(50).action for _ in range(2000)])
    freq = np.bincount(draws, minlength=5) / len(draws)
    want = (td + 1e-6) ** alpha / ((td + 1e-6) ** alpha).sum()
    assert np.allclose(freq, want, atol=0.01)
    b = buf.sample(50, beta=1.0)
    # w_i = (N·P(i))^−β / max: with β = 1, w ∝ 1/P, so w·p^α is the same for every sample
    prod = b.weight * ((td[b.action] + 1e-6) ** alpha)
    assert b.weight.max() == pytest.approx(1.0) and np.allclose(prod, prod[0], rtol=1e-5)
    assert np.all(buf.sample(50, beta=0.0).weight == 1.0)


def test_new_transitions_get_the_largest_priority_so_far():
    buf = vector_buffer(prioritized=True, alpha=1.0)
    for t in range(3):
        buf.add(np.array([t]), t, 0.0, 0.9, np.array([t + 1]), False)
    buf.update_priorities(np.array([0, 1]), np.array([5.0, 0.5]))
    buf.add(np.array([3]), 3, 0.0, 0.9, np.array([4]), True)
    # slots 2 and 3 became sampleable after the update: both at the max priority 5 (+ε)
    assert buf.tree.get(np.array([2, 3])) == pytest.approx([5.0, 5.0])
    assert buf.tree.get(np.array([4])) == [0.0]  # the final observation's slot


def feed(buf, rewards, last_terminated, obs_of=lambda t: np.array([float(t)]), first_action=0):
    """One episode; transition t is stored with action first_action + t (its id)."""
    for t, r in enumerate(rewards):
        end = t == len(rewards) - 1
        discount = 0.0 if end and last_terminated else 0.9
        buf.add(obs_of(t), first_action + t, r, discount, obs_of(t + 1), end)


def by_action(batch):
    out = {}
    for a, r, d, nxt in zip(batch.action, batch.reward, batch.discount, batch.next_obs):
        out[int(a)] = (float(r), float(d), nxt.tolist())
    return out


@pytest.mark.parametrize("terminated", [True, False])
def test_n_step_folds_rewards_and_keeps_the_episode_tail(terminated):
    buf = vector_buffer(n_step=3)
    feed(buf, [1.0, 2.0, 3.0, 4.0, 5.0], last_terminated=terminated)
    got = by_action(buf.sample(500))
    assert sorted(got) == [0, 1, 2, 3, 4]  # the last n − 1 = 2 transitions are kept
    g = 0.9
    end = 0.0 if terminated else 1.0  # truncation keeps the bootstrap
    want = {
        0: (1 + g * 2 + g * g * 3, g ** 3, [3.0]),
        1: (2 + g * 3 + g * g * 4, g ** 3, [4.0]),
        2: (3 + g * 4 + g * g * 5, g ** 3 * end, [5.0]),  # bootstraps from the final observation
        3: (4 + g * 5, g ** 2 * end, [5.0]),
        4: (5.0, g * end, [5.0]),
    }
    for t, (r, d, nxt) in want.items():
        assert got[t][0] == pytest.approx(r, rel=1e-5), t
        assert got[t][1] == pytest.approx(d, rel=1e-5), t
        assert got[t][2] == nxt, t
    assert len(buf) == 5


def test_n_step_waits_for_its_rewards_and_never_crosses_episodes():
    buf = vector_buffer(n_step=3)
    feed(buf, [1.0, 1.0], last_terminated=True)  # episode 1: two steps, both tails
    feed(buf, [10.0, 10.0, 10.0, 10.0], last_terminated=False,
         obs_of=lambda t: np.array([100.0 + t]), first_action=2)
    buf.add(np.array([200.0]), 9, 7.0, 0.9, np.array([201.0]), False)  # episode 3 running
    got = by_action(buf.sample(2000))
    assert got[0][:2] == pytest.approx((1 + 0.9, 0.0)) and got[0][2] == [2.0]
    assert got[1][:2] == pytest.approx((1.0, 0.0)) and got[1][2] == [2.0]
    # episode 2 starts fresh: its first transition sums its own three rewards only
    assert got[2][:2] == pytest.approx((10 + 9 + 8.1, 0.9 ** 3)) and got[2][2] == [103.0]
    assert got[5][:2] == pytest.approx((10.0, 0.9)) and got[5][2] == [104.0]  # truncated tail
    assert 9 not in got  # still collecting rewards


@pytest.mark.parametrize("n, prioritized", [(2, False), (2, True), (1, True)])
def test_n_step_and_priorities_with_stacked_frames_rebuild_both_stacks(n, prioritized):
    k = 3
    buf = ReplayBuffer(40, (k, 1), np.int32, frame_stack=k, rng=np.random.default_rng(1), n_step=n,
                       prioritized=prioritized)
    recorded, frame_id, tid = {}, 0, 0
    for length in (1, 4, 2, 5):
        frame_id += 1
        stack = [np.array([frame_id])] * k
        obs_seq = []
        for t in range(length):
            frame_id += 1
            nxt = stack[1:] + [np.array([frame_id])]
            obs_seq.append(np.stack(stack))
            buf.add(np.stack(stack), tid + t, 1.0, 0.9, np.stack(nxt), t == length - 1)
            stack = nxt
        obs_seq.append(np.stack(stack))
        for t in range(length):
            recorded[tid + t] = (obs_seq[t], obs_seq[min(t + n, length)])
        tid += length
    batch = buf.sample(2000)
    for obs, act, nxt in zip(batch.obs, batch.action, batch.next_obs):
        np.testing.assert_array_equal(obs, recorded[int(act)][0])
        np.testing.assert_array_equal(nxt, recorded[int(act)][1])
    assert set(batch.action.tolist()) == set(recorded)


def test_prioritized_n_step_checkpoint_round_trip():
    def make():
        return ReplayBuffer(32, (1,), np.float32, None, np.random.default_rng(0), n_step=3,
                            prioritized=True, alpha=0.6)
    src = make()
    feed(src, [1.0] * 7, last_terminated=True)
    feed(src, [2.0] * 4, last_terminated=False, first_action=7)
    src.add(np.array([50.0]), 20, 3.0, 0.9, np.array([51.0]), False)  # mid-episode
    src.update_priorities(np.array([0, 1, 2]), np.array([3.0, 0.1, 2.0]))
    arrays, scalars = src.state_dict()
    dst = make()
    dst.load_state_dict(arrays, scalars)
    assert np.array_equal(src.tree.nodes, dst.tree.nodes) and dst.lanes == src.lanes
    assert dst.max_priority == src.max_priority
    for buf in (src, dst):
        buf.add(np.array([51.0]), 21, 3.0, 0.9, np.array([52.0]), True)
    idx = np.arange(src.size)
    for field in ("reward", "discount", "next_obs"):
        assert np.array_equal(getattr(src.batch_at(idx), field), getattr(dst.batch_at(idx), field))


def test_bad_n_step_for_the_capacity_is_a_clear_error():
    with pytest.raises(DeepQError, match="n_step"):
        vector_buffer(capacity=5, n_step=3)
