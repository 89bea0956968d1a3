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
