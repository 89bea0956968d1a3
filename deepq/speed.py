"""How the update runs fast, as a layer around the algorithm: never what it learns.

``build`` turns the ``speed`` settings (``settings.SpeedConfig``) into the parts a
learner uses: the fp32 online and target networks (checkpointed, evaluated), the pass
the update differentiates, the target's pass, the acting pass, and an optimizer that
always clips its gradients before stepping. With every setting off these are the plain
fp32 networks and ``ClippedAdam``; with bf16 they are autocast passes (and with
MasterAdam a bf16 copy of the network that one compiled kernel updates); with
``compile`` they are ``torch.compile``d. ``Overlapped`` steps the environments in a
second thread while the learner takes its updates. The measurements behind each
choice are in bench/speed-log.md; docs/speed.md says which to use.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch
from torch import nn

from deepq import networks
from deepq.errors import DeepQError
from deepq.optim import ClippedAdam, MasterAdam
from deepq.settings import SpeedConfig


def resolve_device(speed: SpeedConfig) -> torch.device:
    if speed.device == "cuda" and not torch.cuda.is_available():
        raise DeepQError("speed.device = cuda but torch sees no CUDA GPU")
    if speed.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(speed.device)


def resolve_precision(speed: SpeedConfig, obs_shape: tuple[int, ...], device: torch.device,
                      honoured: bool) -> torch.dtype | None:
    """The autocast dtype of the update's network passes, or None for plain fp32."""
    if speed.precision == "bf16" and not honoured:
        raise DeepQError("speed.precision = bf16 is not implemented for this algorithm "
                         "(DQN only); set speed.precision = fp32 or auto")
    if speed.precision == "fp32" or not honoured:
        return None
    if speed.precision == "bf16" or device.type == "cuda":
        return torch.bfloat16
    # auto on CPU: bf16 pays off for the CNN on CPUs with native bf16 (AVX512-BF16/AMX);
    # the small MLPs of vector tasks are faster in fp32.
    return torch.bfloat16 if len(obs_shape) == 3 and torch.ops.mkldnn._is_mkldnn_bf16_supported() else None


def resolve_master_adam(speed: SpeedConfig, amp_dtype: torch.dtype | None, device: torch.device,
                        total_steps: int) -> bool:
    """Whether the update trains through a bf16 copy with ``optim.MasterAdam``."""
    if speed.master_adam == "off":
        return False
    if amp_dtype is None:
        if speed.master_adam == "on":
            raise DeepQError("speed.master_adam = on needs bf16 updates (speed.precision = bf16, "
                             "or auto on a CPU with native bf16 and image observations)")
        return False
    # torch.compile builds its CPU kernel with the C++ compiler that inductor calls
    compiler = device.type != "cpu" or shutil.which(os.environ.get("CXX") or "g++") is not None
    if speed.master_adam == "on":
        if not compiler:
            raise DeepQError("speed.master_adam = on needs a C++ compiler (g++, or $CXX) for "
                             "torch.compile; install one or set speed.master_adam = off")
        return True
    # auto: the compile (~20 s once) pays off in long runs; measured on CPU only
    return device.type == "cpu" and total_steps >= 100_000 and compiler


@dataclass
class Nets:
    """The networks and optimizer of one learner, as the speed settings built them."""

    online: nn.Module  # fp32 weights: checkpointed, evaluated, predicted with
    target: nn.Module  # fp32 copy, synced every target_sync steps
    train: Callable  # the online pass the update differentiates
    target_pass: Callable  # the target's pass inside updates
    act: Callable  # the online pass the training loop acts with
    optimizer: torch.optim.Optimizer  # clips, then steps
    device: torch.device
    amp_dtype: torch.dtype | None  # autocast dtype of the passes, None = fp32
    online_low: nn.Module | None = None  # bf16 copies kept in step with the fp32 weights
    target_low: nn.Module | None = None

    def __post_init__(self):
        # the context the update's passes run in: ``with nets.autocast(): ...``
        self.autocast = (contextlib.nullcontext if self.amp_dtype is None else
                         functools.partial(torch.autocast, self.device.type, dtype=self.amp_dtype))

    def sync_target(self, tau: float) -> None:
        """target ← τ·online + (1 − τ)·target, and refresh its bf16 copy."""
        with torch.no_grad():
            for t, o in zip(self.target.parameters(), self.online.parameters()):
                t.lerp_(o, tau)
        if self.target_low is not None:
            networks.copy_weights(self.target_low, self.target)

    def weights_loaded(self) -> None:
        """After new fp32 weights were loaded: bring the bf16 copies in line."""
        if self.online_low is not None:
            networks.copy_weights(self.online_low, self.online)
        if self.target_low is not None:
            networks.copy_weights(self.target_low, self.target)


def build(online: nn.Module, speed: SpeedConfig, *, obs_shape: tuple[int, ...], total_steps: int,
          lr: float, adam_eps: float, grad_clip_norm: float, grad_clip_value: float,
          honours_precision: bool) -> Nets:
    """The ``Nets`` for the fp32 network ``online`` under the ``speed`` settings."""
    if speed.threads:
        torch.set_num_threads(speed.threads)
    device = resolve_device(speed)
    online = online.to(device)
    target = copy.deepcopy(online).requires_grad_(False)
    amp_dtype = resolve_precision(speed, obs_shape, device, honours_precision)
    # With MasterAdam the update's passes run on a bf16 copy of the online network that
    # the optimizer refreshes after each step; the fp32 network is checkpointed.
    online_low = (networks.autocast_copy(online, amp_dtype).requires_grad_(True)
                  if resolve_master_adam(speed, amp_dtype, device, total_steps) else None)
    if online_low is not None:
        optimizer = MasterAdam(online, online_low, lr=lr, eps=adam_eps, max_grad_norm=grad_clip_norm,
                               max_grad_value=grad_clip_value)
    else:
        optimizer = ClippedAdam(online.parameters(), lr=lr, eps=adam_eps, fused=speed.fused_adam or None,
                                max_grad_norm=grad_clip_norm, max_grad_value=grad_clip_value)
    # Under autocast the target's passes read a copy whose conv and linear weights are
    # already bf16, refreshed at each sync: autocast would otherwise cast every weight on
    # every pass, to the same values (~5% of an update on CPU).
    target_low = networks.autocast_copy(target, amp_dtype) if amp_dtype is not None else None
    train = online_low if online_low is not None else online
    target_pass = target_low if target_low is not None else target
    if speed.compile:  # compiled modules share parameters with the originals
        train, target_pass = torch.compile(train), torch.compile(target_pass)
    # Acting through the bf16 copy: ~1.0 ms against ~1.9 ms in fp32 at batch 8 on CPU;
    # only near-ties can pick another action. evaluate and predict use the fp32 network.
    act = online_low if online_low is not None else online
    return Nets(online, target, train, target_pass, act, optimizer, device, amp_dtype,
                online_low, target_low)


class Overlapped:
    """Steps the environments in a second thread while the learner takes the updates
    due for those steps (which then cannot sample the transitions still being
    collected). ``step`` replaces ``loop.Model.step_envs``, the serial order."""

    def __init__(self, actor):
        self.actor = actor
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="deepq-envs")

    def step(self, actions, store: Callable, during: Callable):
        stepping = self._pool.submit(self.actor.transitions, actions)
        during()
        steps = stepping.result()
        store(steps)
        return steps
