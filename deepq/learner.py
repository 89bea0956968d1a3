"""The algorithm object the training loop calls, in PyTorch.

The loop (``loop.py``) moves numpy arrays and calls four things: ``act`` (observations
[N, ...] and ε → actions [N]), ``update`` (a replay batch → loss, mean Q and new
priorities), ``sync_target``, and ``state``/``restore``. ``TorchLearner`` implements
them for any algorithm file that supplies ``network``, ``q_values`` and ``loss`` (a
per-sample loss [B] and priority [B]): the one weighted mean and the one gradient step
of every algorithm are here. ``speed.build`` decides how the passes and the optimizer
run; a TensorFlow learner would implement the same four calls.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from deepq import agent, checkpoint, speed
from deepq.errors import DeepQError
from deepq.types import Batch


class TorchLearner:
    """Networks, optimizer and ε-greedy policy of one run; ``algorithm`` is the class
    (``DQN``, ``C51``, …) whose ``network``, ``q_values`` and ``loss`` define it."""

    def __init__(self, algorithm: Any, cfg: Any, obs_shape: tuple[int, ...], n_actions: int):
        self.algorithm, self.cfg = algorithm, cfg
        torch.manual_seed(cfg.seed)  # network init, noisy-layer noise, IQN's fractions
        self.nets = speed.build(
            algorithm.network(cfg, obs_shape, n_actions), cfg.speed, obs_shape=obs_shape,
            total_steps=cfg.total_steps, lr=cfg.lr, adam_eps=cfg.adam_eps,
            grad_clip_norm=cfg.grad_clip_norm, grad_clip_value=cfg.grad_clip_value,
            honours_precision=algorithm.honours_precision)
        rng = np.random.default_rng([cfg.seed, 1])
        self.policy = agent.EpsilonGreedy(self._acting_values, n_actions, rng, self.nets.device)
        # evaluate and predict: the same RNG, but always the fp32 network's values
        self.greedy = agent.EpsilonGreedy(self.q_values, n_actions, rng, self.nets.device)

    def q_values(self, obs: torch.Tensor) -> torch.Tensor:
        """Q-values [B, A] of the fp32 online network."""
        return self.algorithm.q_values(self.nets.online, obs, self.cfg)

    def _acting_values(self, obs: torch.Tensor) -> torch.Tensor:
        if self.nets.act is self.nets.online:
            return self.q_values(obs)
        with self.nets.autocast():  # the bf16 copy that MasterAdam keeps
            return self.algorithm.q_values(self.nets.act, obs, self.cfg).float()  # [B, A]

    def act(self, obs: np.ndarray, epsilon: float) -> np.ndarray:
        """ε-greedy actions [N] for observations [N, *obs_shape]."""
        return self.policy.batch(obs, epsilon)

    def update(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, np.ndarray | None]:
        """One gradient step on ``batch`` → (loss, mean Q, new priorities [B] or None). The
        loss and mean Q stay 0-d tensors on the device (a CUDA update never waits)."""
        b = self._tensors(batch)
        per_sample, priority, q_mean = self.algorithm.loss(self.nets, b, self.cfg)  # [B], [B], []
        if "weight" in b:  # prioritized replay: importance-weighted mean, new priorities
            loss = (b["weight"] * per_sample).mean()
            priorities = priority.detach().cpu().numpy()
        else:
            loss, priorities = per_sample.mean(), None
        optimizer = self.nets.optimizer  # it clips the gradients as it steps
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach().double(), q_mean.detach().double(), priorities

    def _tensors(self, batch: Batch) -> dict[str, torch.Tensor]:
        if self.nets.device.type == "cpu":
            dev = torch.from_numpy
        else:  # pinned host memory lets the copy run asynchronously
            def dev(a):
                return torch.from_numpy(a).pin_memory().to(self.nets.device, non_blocking=True)
        weight = {} if batch.weight is None else {"weight": dev(batch.weight)}  # [B]
        return weight | {
            "obs": dev(batch.obs),  # [B, *obs_shape]
            "action": dev(batch.action),  # [B]
            "reward": dev(batch.reward),  # [B]
            "discount": dev(batch.discount),  # [B]
            "next_obs": dev(batch.next_obs),  # [B, *obs_shape]
        }

    def sync_target(self) -> None:
        self.nets.sync_target(self.cfg.tau)

    def evaluating(self):
        """A context in which noisy layers act on their mean weights."""
        return _EvalMode(self.nets.online)

    # -- checkpoints ---------------------------------------------------------------

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """(tensors, JSON-able state): weights, optimizer, torch and policy RNG."""
        opt_tensors, opt_meta = checkpoint.optimizer_to_flat(self.nets.optimizer.state_dict())
        tensors = {f"online.{k}": v for k, v in self.nets.online.state_dict().items()}
        tensors |= {f"target.{k}": v for k, v in self.nets.target.state_dict().items()}
        tensors |= {f"optim.{k}": v for k, v in opt_tensors.items()}
        return tensors, {"optimizer": opt_meta,
                         "rng": {"torch": torch.get_rng_state().tolist(),
                                 "policy": self.policy.rng.bit_generator.state}}

    def restore(self, tensors: dict[str, torch.Tensor], state: dict[str, Any], updates: int
                ) -> tuple[list[str], list[str]]:
        """Load what ``state`` wrote → (parts restored, parts missing)."""
        def part(prefix):
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        restored, missing = ["weights"], []
        optim = part("optim.")
        for prefix, net in (("online.", self.nets.online), ("target.", self.nets.target)):
            for key, want in net.state_dict().items():
                got = tensors.get(prefix + key)
                if got is not None and got.dtype != want.dtype:
                    raise DeepQError(f"checkpoint tensor '{prefix}{key}' is {got.dtype}, the network's {want.dtype}")
        if "optimizer" in state and optim:
            self._check_optimizer(optim, state["optimizer"])
        if "rng" in state:
            rng = state["rng"]["torch"]
            if len(rng) != torch.get_rng_state().numel() or not all(
                    isinstance(b, int) and 0 <= b < 256 for b in rng):
                raise DeepQError("the checkpoint's torch RNG state is malformed")
        try:
            self.nets.online.load_state_dict(part("online."))
            self.nets.target.load_state_dict(part("target."))
            self.nets.weights_loaded()
            if "optimizer" in state and (optim or updates == 0):
                self.nets.optimizer.load_state_dict(checkpoint.optimizer_from_flat(optim, state["optimizer"]))
                restored.append("optimizer")
            else:
                missing.append("optimizer state")
        except (RuntimeError, KeyError, ValueError) as e:
            raise DeepQError("the checkpoint does not match the network of its config: "
                             + str(e).splitlines()[0]) from None
        if "rng" in state:
            torch.set_rng_state(torch.as_tensor(state["rng"]["torch"], dtype=torch.uint8))
            self.policy.rng.bit_generator.state = state["rng"]["policy"]
        return restored, missing

    def _check_optimizer(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """The saved optimizer state must fit this optimizer: the same parameters, numeric
        hyperparameters, and moments of each parameter's shape and dtype (torch checks
        none of this, and its fused Adam writes past a moment that is too small)."""
        current = self.nets.optimizer.state_dict()["param_groups"]
        saved = meta["param_groups"]
        params = [p for g in self.nets.optimizer.param_groups for p in g["params"]]
        if len(saved) != len(current) or any(
                not isinstance(s, dict) or s.get("params") != c["params"] for s, c in zip(saved, current)):
            raise DeepQError("the checkpoint's optimizer state is for other parameters")
        for s, c in zip(saved, current):
            for key, want in c.items():
                got = s.get(key)
                numbers = (want,) if not isinstance(want, (list, tuple)) else want
                values = (got,) if not isinstance(got, (list, tuple)) else got
                if not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in numbers):
                    continue  # flags such as fused and foreach may differ between optimizers
                if len(values) != len(numbers) or not all(
                        type(v) is type(w) or (isinstance(w, float) and isinstance(v, int)
                                               and not isinstance(v, bool)) for v, w in zip(values, numbers)) \
                        or not all(math.isfinite(v) for v in values if isinstance(v, (int, float))):
                    raise DeepQError(f"the checkpoint's optimizer setting '{key}' is {str(got)[:40]}, "
                                     f"not like {want!r}")
        for key, t in tensors.items():
            pid, _, name = key.partition(".")
            if not pid.isdigit() or int(pid) >= len(params):
                raise DeepQError(f"the checkpoint's optimizer state names no parameter: 'optim.{key}'")
            p = params[int(pid)]
            shape = () if name == "step" else p.shape
            if t.shape != shape or t.dtype != torch.float32:
                raise DeepQError(f"the checkpoint's optimizer tensor 'optim.{key}' is {tuple(t.shape)} "
                                 f"{t.dtype}, expected {tuple(shape)} torch.float32")


class _EvalMode:
    def __init__(self, net: torch.nn.Module):
        self.net = net

    def __enter__(self):
        self.net.eval()

    def __exit__(self, *exc):
        self.net.train()
