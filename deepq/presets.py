"""Named configurations. Each is a plain value of an algorithm's config dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deepq.algos.dqn import DQNConfig


@dataclass(frozen=True)
class Preset:
    description: str
    config: Any


_SEED_PONG = DQNConfig(
    env_id="PongNoFrameskip-v4",
    frame_stack=1,  # the design document feeds single frames
    lr=1e-4, gamma=0.99, buffer_size=100_000, batch_size=32, learn_start=10_000,
    train_freq=1, target_sync=1000, eps_schedule="exponential", eps_start=1.0,
    eps_final=0.01, eps_decay=30_000, total_steps=1_000_000,
    loss="huber", grad_clip_norm=0.0, grad_clip_value=1.0,  # the clamp it meant to do
    clip_rewards=True, life_loss_terminal=True,
    stop_return=19.0, stop_window=10, stop_on="train",
    eval_every=100_000, eval_episodes=5, eval_eps=0.01,
    log_every=1000, checkpoint_every=50_000,
)

PRESETS: dict[str, Preset] = {
    "seed-pong": Preset(
        "the design document's Pong run: 1 frame, Adam 1e-4, replay 100k, sync 1000, "
        "ε exp decay 30k, 1M steps, stop at mean-10 ≥ 19", _SEED_PONG),
    "pong": Preset("seed-pong with the standard 4-frame stack", DQNConfig(
        **{**_SEED_PONG.__dict__, "frame_stack": 4})),
    "cartpole": Preset(
        "CartPole-v1, tuned to reach a mean evaluation return ≥ 475 within 50k steps",
        DQNConfig(
            env_id="CartPole-v1", total_steps=50_000, buffer_size=50_000, batch_size=64,
            learn_start=1000, train_freq=2, lr=2.3e-3, gamma=0.99, target_sync=256,
            eps_schedule="linear", eps_start=1.0, eps_final=0.04, eps_decay=8000,
            hidden=(256, 256), loss="huber", grad_clip_norm=10.0,
            eval_every=1000, eval_episodes=10, eval_eps=0.0,
            stop_return=475.0, stop_on="eval", log_every=500, checkpoint_every=0,
        )),
}


def get(name: str) -> Preset | None:
    return PRESETS.get(name)
