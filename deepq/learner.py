"""The learning rule in PyTorch: the targets and losses as small pure functions, and
the algorithm object the training loop calls.

The rules (first half) take the discount from the data, ``discount = γ^k · (1 −
terminated)``, so termination, truncation and n-step returns never change them; each is
tested with hand-computed numbers (tests/test_rules*.py).

``TorchLearner`` (second half) is what ``loop.py`` calls: the loop moves numpy arrays
and calls ``act`` (observations [N, ...] and ε → actions [N]), ``update`` (a replay
batch → loss, mean Q and new priorities), ``sync_target``, and ``state``/``restore``.
It serves any algorithm file that supplies ``network``, ``q_values`` and ``loss`` (a
per-sample loss [B] and priority [B], built from the rules above): the one weighted
mean and the one gradient step of every algorithm are here. ``speed.build`` decides how
the passes and the optimizer run; a TensorFlow learner implements the same calls.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from deepq import agent, checkpoint, speed
from deepq.errors import DeepQError
from deepq.types import Batch


# -- the rules ------------------------------------------------------------------


def q_learning_target(
    reward: torch.Tensor, discount: torch.Tensor, next_q: torch.Tensor
) -> torch.Tensor:
    """y = r + discount · max_a' Q(s', a'). reward, discount: [B]; next_q: [B, A] → [B]."""
    assert reward.ndim == 1 and discount.shape == reward.shape, (reward.shape, discount.shape)
    assert next_q.ndim == 2 and next_q.shape[0] == reward.shape[0], next_q.shape
    return reward + discount * next_q.max(dim=1).values


def td_loss(q: torch.Tensor, action: torch.Tensor, target: torch.Tensor, kind: str = "huber",
            huber_delta: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample ρ(y − Q(s, a)) [B] and |y − Q(s, a)| [B] (detached: the new priority).
    q: [B, A]; action, target: [B].

    kind "huber": ρ(x) = x²/2 for |x| ≤ δ, δ(|x| − δ/2) beyond (Mnih et al. 2015 clip
    the TD error's gradient to [−1, 1], which is this loss with δ = 1);
    kind "mse": ρ(x) = x²/2.
    """
    assert q.ndim == 2 and action.shape == target.shape == (q.shape[0],), (q.shape, action.shape)
    q_sa = q.gather(1, action.long().unsqueeze(1)).squeeze(1)  # [B]
    target = target.detach()
    if kind == "huber":
        per_sample = F.huber_loss(q_sa, target, delta=huber_delta, reduction="none")
    elif kind == "mse":
        per_sample = 0.5 * F.mse_loss(q_sa, target, reduction="none")
    else:
        raise ValueError(f"unknown loss kind {kind!r}")
    return per_sample, (target - q_sa).detach().abs()


def double_q_learning_target(
    reward: torch.Tensor, discount: torch.Tensor, next_q_target: torch.Tensor,
    next_q_online: torch.Tensor,
) -> torch.Tensor:
    """Double Q-learning (van Hasselt et al. 2016): the online network picks
    a* = argmax_a' Q_online(s', a'), the target network rates it:
    y = r + discount · Q_target(s', a*). reward, discount: [B]; next_q_*: [B, A] → [B]."""
    assert reward.ndim == 1 and discount.shape == reward.shape, (reward.shape, discount.shape)
    assert next_q_target.shape == next_q_online.shape and next_q_target.shape[0] == reward.shape[0]
    best = next_q_online.argmax(dim=1, keepdim=True)  # [B, 1]
    return reward + discount * next_q_target.gather(1, best).squeeze(1)


def categorical_projection(reward: torch.Tensor, discount: torch.Tensor, probs: torch.Tensor,
                           support: torch.Tensor) -> torch.Tensor:
    """Project the distribution of r + discount·Z onto the fixed ``support`` (Bellemare
    et al. 2017, Algorithm 1), vectorised over the batch and the atoms.

    reward, discount: [B]; probs: [B, N] (probabilities of Z on ``support``);
    support: [N] evenly spaced from v_min to v_max → target probabilities [B, N].
    Each shifted atom Tz is clipped to [v_min, v_max] and its mass split between the
    two neighbouring atoms in proportion to closeness. When Tz lands exactly on an
    atom (b integer) lower == upper, and the paper's two terms (u − b) and (b − l) are
    both 0, losing the mass; here the whole mass goes to that atom.
    """
    assert reward.ndim == 1 and discount.shape == reward.shape and probs.ndim == 2
    assert probs.shape == (reward.shape[0], support.shape[0]), (probs.shape, support.shape)
    n = support.shape[0]
    v_min, v_max = support[0], support[-1]
    delta_z = (v_max - v_min) / (n - 1)
    tz = (reward[:, None] + discount[:, None] * support[None, :]).clamp(v_min, v_max)  # [B, N]
    b = ((tz - v_min) / delta_z).clamp(0, n - 1)  # [B, N] fractional atom index
    lower, upper = b.floor().long(), b.ceil().long()  # [B, N]
    to_upper = b - lower.to(b.dtype)  # mass fraction for the upper atom; 0 when on an atom
    out = torch.zeros_like(probs)
    out.scatter_add_(1, lower, probs * (1.0 - to_upper))
    out.scatter_add_(1, upper, probs * to_upper)
    return out


def quantile_huber_loss(quantiles: torch.Tensor, target: torch.Tensor, taus: torch.Tensor,
                        kappa: float = 1.0) -> torch.Tensor:
    """Quantile Huber loss (Dabney et al. 2018), per sample.

    quantiles: [B, N] predicted θ_i at fractions ``taus`` [B, N] (or [N]);
    target: [B, M] samples of the target distribution (detached) → [B] loss:
    Σ_i mean_j |τ_i − 1{u_ij < 0}| · L_κ(u_ij) / κ with u_ij = target_j − θ_i.
    κ = 0 gives the plain quantile (pinball) loss.
    """
    assert quantiles.ndim == 2 and target.ndim == 2 and target.shape[0] == quantiles.shape[0]
    taus = taus.expand_as(quantiles)
    u = target.detach()[:, None, :] - quantiles[:, :, None]  # [B, N, M]
    if kappa > 0:
        huber = F.huber_loss(u, torch.zeros_like(u), delta=kappa, reduction="none") / kappa
    else:
        huber = u.abs()
    weight = (taus[:, :, None] - (u.detach() < 0).to(u.dtype)).abs()  # [B, N, M]
    return (weight * huber).mean(dim=2).sum(dim=1)  # [B]


def munchausen_target(reward: torch.Tensor, discount: torch.Tensor, q_target_s: torch.Tensor,
                      action: torch.Tensor, next_q_target: torch.Tensor, tau: float,
                      alpha: float, log_clip: float) -> torch.Tensor:
    """Munchausen-DQN target (Vieillard et al. 2020, eq. for M-DQN):

        y = r + α·clip(τ·ln π(a|s), l₀, 0)
              + discount · Σ_a' π(a'|s') · (q(s', a') − τ·ln π(a'|s'))

    with π = softmax(q / τ) of the target network. reward, discount: [B]; action: [B];
    q_target_s, next_q_target: [B, A] → [B].
    """
    assert q_target_s.ndim == 2 and next_q_target.shape == q_target_s.shape
    assert reward.shape == discount.shape == action.shape == (q_target_s.shape[0],)
    log_pi = F.log_softmax(q_target_s / tau, dim=1)  # [B, A]
    log_pi_a = log_pi.gather(1, action.long().unsqueeze(1)).squeeze(1)  # [B]
    bonus = alpha * (tau * log_pi_a).clamp(log_clip, 0.0)  # [B]
    next_log_pi = F.log_softmax(next_q_target / tau, dim=1)  # [B, A]
    soft_value = (next_log_pi.exp() * (next_q_target - tau * next_log_pi)).sum(dim=1)  # [B]
    return reward + bonus + discount * soft_value


# -- the algorithm object ---------------------------------------------------------


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
        self.policy = agent.EpsilonGreedy(self._acting_values, n_actions, rng, self.nets.device,
                                          repeat_mu=cfg.eps_repeat_mu)
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

    @torch.no_grad()
    def priorities(self, batch: Batch) -> np.ndarray:
        """The priority [B] ``update`` would give each transition of ``batch`` now, without
        a gradient step (an Ape-X actor's initial priorities, computed where it acts)."""
        _, priority, _ = self.algorithm.loss(self.nets, self._tensors(batch), self.cfg)  # [B]
        return priority.float().cpu().numpy()

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
                                 "policy": self.policy.rng.bit_generator.state,
                                 "policy_repeat": {"left": self.policy.left.tolist(),
                                                   "action": self.policy.action.tolist()}}}

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
            repeat = state["rng"].get("policy_repeat", {"left": [], "action": []})
            left, action = repeat["left"], repeat["action"]
            if len(left) != len(action) or not all(
                    isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= bound
                    for vs, bound in ((left, agent.REPEAT_MAX), (action, self.policy.n_actions - 1))
                    for v in vs):
                raise DeepQError("the checkpoint's exploration repeats (rng.policy_repeat) are malformed")
            self.policy.left = np.asarray(left, np.int64)
            self.policy.action = np.asarray(action, np.int64)
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
