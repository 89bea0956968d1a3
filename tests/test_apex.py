"""Ape-X on Ray (deepq/apex.py): the replay shards, the priority round trip and its
stale-update guard, weights reaching the actors, an actor killed and restarted, SIGINT
and resume, a 2-actor CartPole run that learns, and bad input in one line.

One local Ray of 2 CPUs serves the whole module (Ray >= 2.54 has no local_mode)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from deepq import agent, apex, config
from deepq.cli import main
from deepq.presets import PRESETS
from deepq.types import Step

ray = pytest.importorskip("ray")

CARTPOLE = PRESETS["apex-cartpole"].config
# small and quick: no evaluation unless a test asks, one torch thread
QUICK = config.override(CARTPOLE, {"total_steps": 3000, "learn_start": 500, "eval_every": 0,
                                   "stop_return": None, "weight_period": 200, "log_every": 500,
                                   "hidden": [32, 32], "batch_size": 32})


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def steps_fields(first: int, count: int, end_at: int | None = None, gamma: float = 0.99) -> dict:
    """``agent.replay_fields`` of ``count`` CartPole-shaped steps whose observations are
    filled with their index (first, first + 1, …); the episode ends at index ``end_at``."""
    steps = [Step(obs=np.full(4, t, np.float32), action=t % 2, reward=1.0,
                  next_obs=np.full(4, t + 1, np.float32), terminated=t == end_at, truncated=False,
                  episode_end=t == end_at) for t in range(first, first + count)]
    return agent.replay_fields(steps, gamma, clip_rewards=False)


def shard(cfg, k: int = 0):
    return ray.remote(num_cpus=0)(apex.Shard).remote(cfg, (4,), np.float32, None, k)


# -- replay shards ---------------------------------------------------------------------


def test_capacity_is_split_and_the_oldest_transitions_are_evicted():
    cfg = replace(QUICK, buffer_size=40, replay_shards=2, num_actors=2, n_step=1, per_alpha=0.0)
    shards = [shard(cfg, k) for k in range(2)]
    for s in shards:  # 30 steps into a shard of 20 slots
        ray.get(s.add.remote(steps_fields(0, 30), np.ones(29), 0, True))
    for s in shards:
        held, _ = ray.get(s.stats.remote())
        assert held == 19  # 20 slots; the newest transition still waits for its next frame
        batch, _, _ = ray.get(s.sample.remote(256, 1.0))
        firsts = batch.obs[:, 0]
        assert firsts.min() >= 10 and firsts.max() <= 28  # steps 0-9 were overwritten
        assert np.array_equal(batch.next_obs[:, 0], firsts + 1)


def test_priorities_make_the_round_trip():
    """The actor's initial priorities, then the learner's update, set p^α in the tree."""
    cfg = replace(QUICK, buffer_size=64, replay_shards=1, num_actors=1, n_step=1, per_alpha=1.0,
                  per_eps=1e-6)
    s = shard(cfg)
    ray.get(s.add.remote(steps_fields(0, 10), np.arange(1.0, 10.0), 0, True))
    _, total = ray.get(s.stats.remote())
    assert total == pytest.approx(45.0, abs=1e-4)  # 1 + 2 + … + 9, from the actor
    batch, generation, _ = ray.get(s.sample.remote(64, 1.0))
    # sampled in proportion: transition 9 (priority 9) far more often than transition 1
    counts = np.bincount(batch.obs[:, 0].astype(int), minlength=9)
    assert counts[8] > counts[0]
    ray.get(s.update_priorities.remote(batch.index, np.full(64, 100.0), generation))
    seen = set(batch.obs[:, 0].astype(int))
    _, total = ray.get(s.stats.remote())
    expected = sum(100.0 if t in seen else t + 1.0 for t in range(9))
    assert total == pytest.approx(expected, rel=1e-6)


def test_a_late_priority_update_for_an_overwritten_slot_is_dropped():
    cfg = replace(QUICK, buffer_size=8, replay_shards=1, num_actors=1, n_step=1, per_alpha=1.0)
    s = shard(cfg)
    ray.get(s.add.remote(steps_fields(0, 8), np.ones(7), 0, True))
    batch, generation, _ = ray.get(s.sample.remote(16, 1.0))
    ray.get(s.add.remote(steps_fields(8, 8), np.full(8, 2.0), 0, False))  # every slot rewritten
    _, before = ray.get(s.stats.remote())
    ray.get(s.update_priorities.remote(batch.index, np.full(16, 1000.0), generation))
    assert ray.get(s.stats.remote())[1] == before  # the new transitions keep their priorities
    # the same update with the slots' current generations lands (so the check can fail)
    batch, generation, _ = ray.get(s.sample.remote(16, 1.0))
    ray.get(s.update_priorities.remote(batch.index, np.full(16, 1000.0), generation))
    assert ray.get(s.stats.remote())[1] > 1000.0


# -- actors -----------------------------------------------------------------------------


def test_published_weights_reach_the_actors_by_version():
    import torch

    model = apex.Apex(QUICK, tensorboard=False)
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    with apex._Cluster(model, ray) as cluster:
        actor = cluster.actors[1]
        net = model.learner.nets.online
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.5)
        ours = model.learner.q_values(torch.as_tensor(obs)).detach().numpy()
        assert not np.allclose(ray.get(actor.q_values.remote(obs)), ours)
        weights = ray.put(apex._numpy_weights(net))
        result = ray.get(actor.run.remote(weights, 7, 20))
        assert result["version"] == 7 and result["steps"] == 20
        assert np.allclose(ray.get(actor.q_values.remote(obs)), ours, atol=1e-5)
        # the actor reloads only for a new version
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.5)
        ray.get(actor.run.remote(ray.put(apex._numpy_weights(net)), 7, 20))
        assert np.allclose(ray.get(actor.q_values.remote(obs)), ours, atol=1e-5)
        held, _ = ray.get(cluster.shards[0].stats.remote())
        assert held >= 30  # the 40 steps reached the shard (a few wait for their n-step returns)


def test_a_killed_actor_is_restarted_and_the_run_goes_on(tmp_path):
    # The kill lands at step ≥ 1000 of 8000, so actor 0 still has calls queued: the run
    # cannot finish unless Ray restarts it and the restarted process takes those steps.
    model = apex.Apex(replace(QUICK, total_steps=8000), run_dir=tmp_path, tensorboard=False)
    pids = {}

    def kill_one():
        while model.step < 1000 or 0 not in model.actor_pids:
            time.sleep(0.02)
        pids["old"] = model.actor_pids[0]
        os.kill(pids["old"], signal.SIGKILL)

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    model.learn()
    killer.join(30)
    assert "old" in pids, "the run ended before the kill"
    assert model.actor_restarts >= 1
    assert model.actor_pids[0] != pids["old"]  # the restarted process took steps
    assert model.step == 8000 and model.update > 0  # all the steps, and learning
    assert (tmp_path / "checkpoints" / "latest").exists()


def test_sigint_stops_the_actors_saves_and_resume_goes_on(tmp_path):
    cfg = replace(QUICK, total_steps=50_000, save_replay=True)
    model = apex.Apex(cfg, run_dir=tmp_path, tensorboard=False)
    handles = []

    def interrupt():
        while model.step < 1500:
            time.sleep(0.05)
        handles.extend(model.actors + model.replay.shards)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    model.learn()
    assert model.interrupted == signal.SIGINT and 1500 <= model.step < 50_000
    for handle in handles:  # every Ray actor was stopped
        with pytest.raises(ray.exceptions.RayActorError):
            ray.get(handle.pid.remote() if hasattr(handle, "pid") else handle.stats.remote(), timeout=30)
    saved_step, saved_update = model.step, model.update
    resumed = apex.Apex.load(tmp_path, run_dir=tmp_path, tensorboard=False)
    assert (resumed.step, resumed.update) == (saved_step, saved_update)
    assert any(r.startswith("replay (") for r in resumed.restored), resumed.restored
    assert "optimizer" in resumed.restored
    resumed.learn(1000)
    assert resumed.step == saved_step + 1000 and resumed.update > saved_update
    assert resumed.inexact_resumes[-1]["missing"] == ["actors' episodes (Ape-X actors start new ones)"]


# -- learning ----------------------------------------------------------------------------


def test_two_actors_learn_cartpole(tmp_path):
    """apex-cartpole stops at its first evaluation of 10 greedy episodes >= 200 (untrained:
    ~10-30); seed 0 got there by ~24k steps and ~1,000 updates, in ~15 s. The budget is in
    actor steps, which outrun the learner more on a busier machine: 100k leaves room."""
    cfg = config.override(CARTPOLE, {"seed": 0, "total_steps": 100_000, "stop_return": 200.0})
    model = apex.Apex(cfg, run_dir=tmp_path, tensorboard=False)
    solved = model.learn()
    assert solved, f"last evaluation {model.last_eval} after {model.step} steps, {model.update} updates"
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    apex_rows = [r.split(",") for r in rows if ",apex," in r]
    assert apex_rows and all(float(r[-2]) > 0 for r in apex_rows[1:])  # replay fill
    assert (tmp_path / "plot.png").exists()


# -- bad input ---------------------------------------------------------------------------


def one_line(argv, capsys) -> str:
    """The error line of ``deepq ARGV``, which fails with status 2 and no traceback (an
    address is tried when the run starts, after the lines that announce it)."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("deepq:")]
    assert len(errors) == 1 and errors[0] == err[-1] and errors[0].startswith("deepq: error: "), err
    assert not any("Traceback" in line for line in err), err
    return errors[0]


@pytest.mark.parametrize("sets, says", [
    (["num_actors=0"], "'num_actors' must be >= 1"),
    (["replay_shards=2", "num_actors=2", "buffer_size=10"], "leaves 5 slots per actor"),
    (["replay_shards=3", "num_actors=2"], "more than num_actors"),
    (["ray_address=ray://127.0.0.1:1"], "cannot reach the Ray cluster at ray://127.0.0.1:1"),
    (["ray_address=nowhere"], "ray_address must be"),
])
def test_bad_input_is_one_line(sets, says, tmp_path, capsys):
    argv = ["train", "apex-cartpole", "--run-dir", str(tmp_path / "run"), "--no-progress"]
    assert says in one_line(argv + [a for kv in sets for a in ("--set", kv)], capsys)
    assert not (tmp_path / "run").exists()  # refused before the run directory is made


def test_without_ray_apex_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    monkeypatch.setitem(sys.modules, "ray", None)
    line = one_line(["train", "apex-cartpole", "--run-dir", str(tmp_path / "run")], capsys)
    assert "pip install 'deepq[distributed]'" in line


def test_importing_deepq_imports_no_ray():
    code = ("import sys, deepq, deepq.cli, deepq.presets, deepq.apex; "
            "assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120,
                   env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
