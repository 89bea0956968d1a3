"""SIGKILL during checkpoint saves: the latest checkpoint is always whole.

A child process (forked from a forkserver that has already imported deepq, so each
start costs milliseconds) loads a small CartPole run and saves checkpoints in a loop,
either at a new step each time or again and again at the same step (a resumed run's
first save, the final save after a periodic one). The test kills it with SIGKILL at a
random moment, then loads ``latest`` with every file's SHA-256 checked.
"""

import multiprocessing as mp
import random
import time

import pytest

from deepq import DQN, checkpoint, config
from deepq.presets import PRESETS

KILLS = 32  # per mode at least; the issue asks for at least 30
MID_SAVE = KILLS // 2  # kills that must land during a save (more kills are made until they do)
MAX_KILLS = 4 * KILLS

SMALL = config.override(PRESETS["cartpole"].config, {
    "total_steps": 3000, "learn_start": 100, "buffer_size": 20_000, "hidden": [64, 64],
    "eval_every": 0, "stop_return": None, "log_every": 500, "checkpoint_every": 0, "seed": 5})


def _save_forever(run_dir: str, mode: str, ready) -> None:
    import torch

    torch.set_num_threads(1)
    model = DQN.load(run_dir, tensorboard=False)
    root = f"{run_dir}/checkpoints"
    ready.set()
    while True:
        if mode == "new":
            model.learn(7)
        model.save(root)


@pytest.fixture(scope="module")
def ctx():
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(["deepq", "torch", "gymnasium"])
    return context


@pytest.fixture()
def run(tmp_path):
    model = DQN(SMALL, run_dir=tmp_path / "run", tensorboard=False)
    model.learn()
    return tmp_path / "run"


@pytest.mark.parametrize("mode", ["new", "same"])
def test_sigkill_during_saves_never_loses_the_latest_checkpoint(ctx, run, mode):
    rng = random.Random(mode)
    step = checkpoint.load(run, arrays=False)[2]["step"]
    mid_save = kills = 0
    # a kill lands during a save or between saves depending on the machine's load: go on
    # killing (at most MAX_KILLS) until MID_SAVE of them have landed during a save
    while kills < KILLS or (mid_save < MID_SAVE and kills < MAX_KILLS):
        kills += 1
        ready = ctx.Event()
        child = ctx.Process(target=_save_forever, args=(str(run), mode, ready), daemon=True)
        child.start()
        assert ready.wait(60), "the saving child did not start"
        time.sleep(rng.uniform(0.0, 0.4))
        child.kill()
        child.join(10)
        root = run / "checkpoints"
        mid_save += any(root.glob(".tmp-*")) or any(root.glob(".del-*"))
        _, _, state = checkpoint.load(run)  # every file present, sized and hashed
        assert state["step"] >= step
        step = state["step"]
    print(f"{mode}-step saves: {kills} kills, {mid_save} during a save, 0 lost")  # pytest -s shows it
    assert mid_save >= MID_SAVE, f"only {mid_save} of {kills} kills landed during a save"
    model = DQN.load(run, tensorboard=False)  # the survivor resumes
    model.save(run / "checkpoints")
    left = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert left == ["latest", checkpoint.resolve(run).name]  # aborted saves cleaned up
