"""EnvPool backend: bookkeeping on a scripted pool (always), the real pool when installed."""

import numpy as np
import pytest

from deepq import DQN, config
from deepq.agent import PoolRollout
from deepq.errors import DeepQError
from deepq.presets import PRESETS
from deepq.replay import ReplayBuffer


class ScriptedPool:
    """Two environments: env 0 loses a life at step 2 and ends at step 3 (terminated);
    env 1 is truncated at step 2. Observations are [1] arrays holding a counter."""

    def __init__(self):
        self.t = np.zeros(2, int)
        self.resets = []

    def _obs(self, ids):
        return (100 * np.asarray(ids) + self.t[ids])[:, None].astype(np.uint8)

    def reset(self, env_id=None):
        ids = np.arange(2) if env_id is None else np.asarray(env_id)
        self.resets.append(ids.tolist())
        self.t[ids] = 0
        return self._obs(ids), {"lives": np.full(len(ids), 3)}

    def step(self, actions):
        self.t += 1
        lives = np.array([2 if self.t[0] >= 2 else 3, 3])
        terminated = np.array([self.t[0] == 3, False])
        truncated = np.array([False, self.t[1] == 2])
        return self._obs(np.arange(2)), np.array([1.0, -1.0]), terminated, truncated, {"lives": lives}


def test_pool_rollout_bookkeeping_matches_rollout():
    pool = ScriptedPool()
    r = PoolRollout(pool, life_loss_terminal=True)
    assert r.observe()[:, 0].tolist() == [0, 100]
    s1 = r.transitions(np.array([0, 1]))
    s2 = r.transitions(np.array([0, 1]))
    assert s2[0].terminated and not s2[0].episode_end  # a lost life: no bootstrap, game goes on
    assert s2[1].truncated and s2[1].episode_end and not s2[1].terminated
    assert (s2[1].episode_return, s2[1].episode_length) == (-2.0, 2)
    assert s2[1].next_obs[0] == 102  # the final observation, not the reset one
    assert pool.resets[-1] == [1] and r.observe()[1, 0] == 100  # reset by id at once
    s3 = r.transitions(np.array([0, 1]))
    assert s3[0].episode_end and s3[0].terminated and s3[0].episode_return == 3.0
    assert s3[1].obs[0] == 100 and not s3[1].episode_end
    assert s1[0].obs[0] == 0 and s1[0].next_obs[0] == 1


@pytest.mark.parametrize("n_step", [1, 3])
def test_cut_drops_the_unfinished_transitions_and_starts_a_new_episode(n_step):
    buf = ReplayBuffer(50, (1,), np.float32, None, np.random.default_rng(0), n_step=n_step)
    for t in range(5):
        buf.add(np.array([t]), t, 1.0, 0.9, np.array([t + 1]), False)
    before = len(buf)
    buf.cut()
    assert not buf.lanes[0].in_episode and len(buf) == (before if n_step == 1 else 5 - n_step)
    buf.add(np.array([50]), 50, 1.0, 0.0, np.array([51]), True)
    sampled = buf.sample(500)
    assert 4 not in sampled.action  # its next frame never came
    assert set(sampled.action.tolist()) <= {0, 1, 2, 3, 50}
    np.testing.assert_array_equal(sampled.next_obs[sampled.action == 50][0], [51])


def test_envpool_backend_is_for_atari_games():
    cfg = config.override(PRESETS["cartpole"].config, {"env_backend": "envpool"})
    with pytest.raises(DeepQError, match="envpool runs Atari"):
        DQN(cfg, tensorboard=False)


def test_envpool_pong_trains_checkpoints_and_resumes(tmp_path):
    pytest.importorskip("envpool")
    cfg = config.override(PRESETS["pong"].config, {
        "env_backend": "envpool", "num_envs": 4, "speed.overlap": True, "learn_start": 200,
        "train_freq": 4, "buffer_size": 2000, "eval_every": 0, "log_every": 100,
        "checkpoint_every": 0, "stop_return": None})
    m = DQN(cfg, run_dir=tmp_path, tensorboard=False)
    m.learn(400)
    assert m.step == 400 and m.update == (400 - 200) // 4
    assert len(m.replay) > 350 and all(ln.size > 90 for ln in m.replay.lanes)
    obs = m.replay.sample(8).obs
    assert obs.shape == (8, 4, 84, 84) and obs.max() > 0  # real frames
    resumed = DQN.load(tmp_path, run_dir=tmp_path, tensorboard=False)
    assert not any(ln.in_episode for ln in resumed.replay.lanes)  # episodes cut, not replayed
    resumed.learn(40)
    assert resumed.step == 440
