"""The settings every algorithm shares, each declared and documented once.

``RunConfig`` holds the fields of every run (environment, replay, optimisation, the
variant switches, exploration, evaluation and bookkeeping); an algorithm's config
adds its own fields to it. ``SpeedConfig`` is the ``speed`` group: how the update
runs, never what it learns. ``TDLossConfig`` and ``QuantileLossConfig`` are the loss
settings two algorithms share each.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from deepq.config import group, param


@dataclass(frozen=True)
class SpeedConfig:
    """How the update runs (``--set speed.KEY=VALUE``). None of these changes what is
    learned beyond floating-point rounding; an algorithm that cannot honour a setting
    refuses it in one line."""

    overlap: bool = param(False, "step the environments in a second thread while the learner "
                          "takes the updates due for those steps (which then cannot sample the "
                          "num_envs transitions still being collected)")
    threads: int = param(0, "torch intra-op threads for acting and learning; 0 = torch's "
                         "default (one per core); 1 where other busy processes share the cores",
                         min=0)
    precision: str = param("auto", "network passes of the update (DQN only; the others run "
                           "fp32): fp32; bf16 = autocast with Q-values, loss and Adam state in "
                           "fp32; auto = bf16 for image observations where the CPU has native "
                           "bf16 (or on CUDA), else fp32",
                           choices=("auto", "fp32", "bf16"))
    fused_adam: bool = param(True, "use the fused (single-kernel) Adam where torch has it")
    master_adam: str = param("auto", "bf16 updates: train through a bf16 copy of the online "
                             "network and update its fp32 weights with one torch.compile'd "
                             "kernel that clips, steps Adam and refreshes the copy "
                             "(optim.MasterAdam: the same numbers up to rounding); auto = on for "
                             "CPU runs of at least 100k steps (compiling takes ~20 s once, ~2 s "
                             "from torch's cache); on needs precision bf16",
                             choices=("auto", "on", "off"))
    compile: bool = param(False, "torch.compile the online and target networks (slow to start; "
                          "a few percent faster on CPU at best)")
    device: str = param("auto", "where networks live: cpu, cuda, or auto (cuda when available)",
                        choices=("auto", "cpu", "cuda"))


@dataclass(frozen=True)
class RunConfig:
    """The hyperparameters every algorithm shares, with their units. Periods are
    environment steps. An algorithm's config adds its own fields to these."""

    env_id: str = param("CartPole-v1", "Gymnasium environment id with a discrete action space "
                        "(MODULE:ID imports MODULE first)")
    env_modules: tuple[str, ...] = param((), "modules to import, or MODULE:FUNCTION to call, before "
                                         "env_id is looked up (packages that register environments)")
    seed: int = param(0, "seed for network init, exploration, replay sampling and env resets", min=0)
    total_steps: int = param(100_000, "environment steps to train for (steps)", min=1)
    # replay memory
    buffer_size: int = param(100_000, "replay capacity (transitions)", min=2)
    batch_size: int = param(32, "transitions per gradient update", min=1)
    learn_start: int = param(10_000, "environment steps collected before the first update (steps)", min=0)
    train_freq: int = param(1, "environment steps per gradient update (steps)", min=1)
    # optimisation and target network
    gamma: float = param(0.99, "discount factor per environment step", min=0.0, max=1.0)
    lr: float = param(1e-4, "Adam learning rate", min=0.0, max=1.0, min_exclusive=True)
    adam_eps: float = param(1e-8, "Adam epsilon (denominator guard)", min=0.0, min_exclusive=True)
    grad_clip_norm: float = param(10.0, "clip the global gradient L2 norm to this; 0 = off", min=0.0)
    grad_clip_value: float = param(0.0, "clamp each gradient element to ±this; 0 = off", min=0.0)
    target_sync: int = param(1000, "environment steps between target-network syncs (steps)", min=1)
    tau: float = param(1.0, "target sync blend: 1 = hard copy, < 1 = Polyak averaging",
                       min=0.0, max=1.0, min_exclusive=True)
    # variants (each default keeps the named algorithm; see docs/variants.md)
    double: bool = param(False, "Double DQN target (van Hasselt et al. 2016): the online "
                         "network picks a', the target network rates it")
    dueling: bool = param(False, "dueling network (Wang et al. 2016): value + mean-centred advantage")
    noisy: bool = param(False, "noisy nets (Fortunato et al. 2018): factorised Gaussian noisy "
                        "linear layers explore instead of ε (ε is 0 with them)")
    noisy_sigma0: float = param(0.5, "noisy nets: initial noise scale σ₀ (σ starts at σ₀/√inputs)",
                                min=0.0, min_exclusive=True)
    n_step: int = param(1, "rewards summed per stored transition (n-step return; steps)", min=1)
    prioritized: bool = param(False, "prioritized replay (Schaul et al. 2016), proportional variant")
    per_alpha: float = param(0.6, "prioritized replay: priority exponent α (0 = uniform)", min=0.0)
    per_beta0: float = param(0.4, "prioritized replay: importance-weight exponent β at step 0, "
                             "annealed linearly to 1 at total_steps", min=0.0, max=1.0)
    per_eps: float = param(1e-6, "prioritized replay: added to |TD error| in each priority "
                           "(reward units)", min=0.0, min_exclusive=True)
    # exploration
    eps_schedule: str = param("exponential", "ε schedule: exponential "
                              "final+(start−final)·exp(−t/decay), or linear over decay steps",
                              choices=("exponential", "linear"))
    eps_start: float = param(1.0, "ε at step 0", min=0.0, max=1.0)
    eps_final: float = param(0.01, "ε reached at the end of the schedule", min=0.0, max=1.0)
    eps_decay: float = param(30_000.0, "ε schedule length: e-folding time or linear span (steps)",
                             min=0.0, min_exclusive=True)
    eps_repeat_mu: float | None = param(None, "temporally extended ε-greedy (εz-greedy, Dabney "
                                        "et al. 2021): an exploratory action is repeated for n "
                                        "steps, P(n) ∝ n^−μ, n ≤ 10,000 (the paper's μ: 2); "
                                        "none = off, one step", min=1.0, min_exclusive=True)
    # environment and network
    frame_stack: int = param(4, "Atari frames stacked per observation (Atari only)", min=1)
    noop_max: int = param(30, "Atari: at most this many no-op actions after reset", min=0)
    clip_rewards: bool = param(False, "learn from sign(reward); logged returns stay raw")
    life_loss_terminal: bool = param(True, "Atari: a lost life ends the learning episode "
                                     "(discount 0) but not the game")
    obs_layout: str = param("auto", "image observations: where the channel axis is (chw, hwc; auto "
                            "= first if it is the shortest axis, else last)",
                            choices=("auto", "chw", "hwc"))
    torso: str = param("nature", "convolutions for images of at least 36×36: nature = Mnih et al. "
                       "2015 (32·8×8/4, 64·4×4/2, 64·3×3/1, then linear 512); nips = Mnih et "
                       "al. 2013 (16·8×8/4, 32·4×4/2, then linear 256), about half the update "
                       "time", choices=("nature", "nips"))
    hidden: tuple[int, ...] = param((64, 64), "hidden layer widths of the fully connected part for "
                                    "vector observations and small images", min=1)
    # evaluation and stopping
    eval_every: int = param(0, "environment steps between evaluations; 0 = never (steps)", min=0)
    eval_episodes: int = param(10, "episodes per evaluation", min=1)
    eval_eps: float | None = param(None, "ε used during evaluation; none = the training "
                                   "schedule's final ε (eps_final; 0 with noisy nets)",
                                   min=0.0, max=1.0)
    eval_protocol: str = param("train", "the evaluation environment: train = the training "
                               "environment's settings; machado = Machado et al. 2018 for Atari: "
                               "ALE/GAME-v5, sticky actions 0.25, the full action set (the "
                               "agent's actions mapped into it), episodes capped at 108,000 "
                               "frames, no no-op starts, no life-loss terminal, raw scores",
                               choices=("train", "machado"))
    stop_return: float | None = param(None, "stop when the mean return reaches this; none = never")
    stop_window: int = param(10, "training episodes averaged for stop_on = train", min=1)
    stop_on: str = param("train", "what stop_return is compared with: mean of the last "
                         "stop_window training episodes, or each evaluation's mean",
                         choices=("train", "eval"))
    # bookkeeping
    log_every: int = param(1000, "environment steps between loss rows in metrics.csv (steps)", min=1)
    checkpoint_every: int = param(50_000, "environment steps between checkpoints; 0 = only at "
                                  "the end and on interrupt (steps)", min=0)
    keep_checkpoints: int = param(1, "checkpoints kept on disk (newest)", min=1)
    save_replay: bool = param(True, "store the replay in checkpoints (needed for exact resume)")
    # acting: several environments side by side
    num_envs: int = param(1, "training environments stepped side by side, their actions chosen "
                          "by one forward pass; a step of all of them counts num_envs steps", min=1)
    env_backend: str = param("gymnasium", "how the num_envs environments run: gymnasium = "
                             "Gymnasium environments stepped in turn in this process (resumes "
                             "exactly); envpool = EnvPool's C++ pool, Atari only (pip install "
                             "envpool; a resumed run starts new episodes)",
                             choices=("gymnasium", "envpool"))
    backend: str = param("torch", "deep-learning framework of the networks and updates: torch, "
                         "or tensorflow (DQN with its options but noisy nets; pip install "
                         "'deepq[tf]'); a checkpoint of either loads in the other",
                         choices=("torch", "tensorflow"))
    speed: SpeedConfig = group(SpeedConfig, "how the update runs: device, threads, precision, "
                               "Adam kernel, torch.compile, overlap (see deepq/speed.py)")


@dataclass(frozen=True)
class TDLossConfig:
    """The TD loss of the algorithms that regress Q-values (DQN, Munchausen DQN)."""

    loss: str = param("huber", "TD loss: huber (δ = huber_delta) or mse", choices=("huber", "mse"))
    huber_delta: float = param(1.0, "Huber loss threshold δ (reward units)", min=0.0, min_exclusive=True)


@dataclass(frozen=True)
class QuantileLossConfig:
    """The quantile regression loss of QR-DQN and IQN."""

    kappa: float = param(1.0, "quantile Huber loss threshold κ (return units); 0 = plain quantile loss",
                         min=0.0)


def redefault(name: str, default: Any) -> Any:
    """RunConfig's field ``name`` with another default, for an algorithm whose paper uses
    another value: the documentation and range stay declared once, in RunConfig."""
    (f,) = [f for f in fields(RunConfig) if f.name == name]
    return field(default=default, metadata=f.metadata)
