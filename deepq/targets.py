"""Learning rules as small pure functions of tensors (in the spirit of rlax).

Every rule takes the discount from the data: ``discount = γ^k · (1 − terminated)``,
so termination, truncation and n-step returns never change the code here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def q_learning_target(
    reward: torch.Tensor, discount: torch.Tensor, next_q: torch.Tensor
) -> torch.Tensor:
    """y = r + discount · max_a' Q(s', a'). reward, discount: [B]; next_q: [B, A] → [B]."""
    assert reward.ndim == 1 and discount.shape == reward.shape, (reward.shape, discount.shape)
    assert next_q.ndim == 2 and next_q.shape[0] == reward.shape[0], next_q.shape
    return reward + discount * next_q.max(dim=1).values


def td_loss(q: torch.Tensor, action: torch.Tensor, target: torch.Tensor, kind: str = "huber",
            huber_delta: float = 1.0) -> torch.Tensor:
    """Mean over the batch of ρ(y − Q(s, a)). q: [B, A]; action, target: [B] → scalar.

    kind "huber": ρ(x) = x²/2 for |x| ≤ δ, δ(|x| − δ/2) beyond (Mnih et al. 2015 clip
    the TD error's gradient to [−1, 1], which is this loss with δ = 1);
    kind "mse": ρ(x) = x²/2.
    """
    assert q.ndim == 2 and action.shape == target.shape == (q.shape[0],), (q.shape, action.shape)
    q_sa = q.gather(1, action.long().unsqueeze(1)).squeeze(1)  # [B]
    target = target.detach()
    if kind == "huber":
        return F.huber_loss(q_sa, target, delta=huber_delta)
    if kind == "mse":
        return 0.5 * F.mse_loss(q_sa, target)
    raise ValueError(f"unknown loss kind {kind!r}")


def clip_gradients(parameters, max_norm: float = 0.0, max_value: float = 0.0) -> None:
    """Clip gradients in place: max_value > 0 clamps each element to [−v, v], then
    max_norm > 0 rescales the global L2 norm to at most max_norm.

    The design document's ``param.grad.data.clamp(-1, 1)`` returns a clipped copy and
    discards it, so it never clipped anything; ``clip_grad_*_`` write in place.
    """
    params = [p for p in parameters if p.grad is not None]
    if max_value > 0:
        torch.nn.utils.clip_grad_value_(params, max_value)
    if max_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, max_norm)


@torch.no_grad()
def polyak_update(target: torch.nn.Module, online: torch.nn.Module, tau: float) -> None:
    """target ← τ·online + (1 − τ)·target; τ = 1 is a hard copy."""
    for t, o in zip(target.parameters(), online.parameters()):
        t.lerp_(o, tau)
