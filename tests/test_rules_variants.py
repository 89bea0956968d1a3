"""The variants' learning rules against numbers computed by hand."""

import math

import pytest
import torch

from deepq import learner


def test_double_and_plain_targets_differ_where_online_and_target_disagree():
    reward = torch.tensor([1.0, 0.0, 2.0])
    discount = torch.tensor([0.9, 0.5, 0.0])  # row 2: terminated
    next_q_target = torch.tensor([[1.0, 3.0], [2.0, 0.0], [7.0, 9.0]])
    next_q_online = torch.tensor([[5.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    plain = learner.q_learning_target(reward, discount, next_q_target)
    # 1 + 0.9·max(1, 3) = 3.7;  0 + 0.5·max(2, 0) = 1;  2 + 0·9 = 2
    assert torch.allclose(plain, torch.tensor([3.7, 1.0, 2.0]))
    double = learner.double_q_learning_target(reward, discount, next_q_target, next_q_online)
    # online picks a' = 0, 1, 0: 1 + 0.9·Q_target(s', 0) = 1.9;  0 + 0.5·0 = 0;  2 + 0 = 2
    assert torch.allclose(double, torch.tensor([1.9, 0.0, 2.0]))


def test_the_learner_weights_per_sample_losses_by_hand():
    from types import SimpleNamespace

    import numpy as np

    from deepq import DQN, config
    from deepq.presets import PRESETS
    from deepq.types import Batch

    model = DQN(config.override(PRESETS["cartpole"].config, {"hidden": [4], "lr": 1e-9}), tensorboard=False)
    per_sample = torch.tensor([0.125, 2.5], requires_grad=True)  # Huber of errors 0.5 and 3
    model.learner.algorithm = SimpleNamespace(loss=lambda nets, b, cfg: (
        per_sample * (1 + 0 * nets.train(b["obs"]).sum()), torch.tensor([0.5, 3.0]), torch.tensor(0.0)))
    two = np.zeros((2, 4), np.float32)
    batch = Batch(two, np.zeros(2, np.int64), np.zeros(2, np.float32), np.zeros(2, np.float32), two,
                  np.arange(2), weight=np.array([1.0, 0.5], np.float32))
    loss, _, priorities = model.learner.update(batch)
    assert loss.item() == pytest.approx((0.125 + 0.5 * 2.5) / 2)  # 0.6875
    assert np.allclose(priorities, [0.5, 3.0])
    batch.weight = None
    loss, _, priorities = model.learner.update(batch)
    assert loss.item() == pytest.approx((0.125 + 2.5) / 2) and priorities is None


SUPPORT = torch.tensor([0.0, 1.0, 2.0])  # v_min 0, v_max 2, Δz 1
PROBS = torch.tensor([0.2, 0.3, 0.5])


@pytest.mark.parametrize("reward, discount, expected", [
    # Tz = 1, 2, 3 → 1, 2, 2 (clipped at v_max): every atom lands exactly on an atom,
    # where the paper's two weights (u − b, b − l) are both 0; the mass must stay.
    (1.0, 1.0, [0.0, 0.2, 0.8]),
    # Tz = 0.5, 1, 1.5: 0.2 splits 0.1/0.1 between atoms 0 and 1, 0.3 lands on atom 1,
    # 0.5 splits 0.25/0.25 between atoms 1 and 2
    (0.5, 0.5, [0.1, 0.65, 0.25]),
    # below v_min: Tz = −5, −4.1, −3.2 all clip to 0
    (-5.0, 0.9, [1.0, 0.0, 0.0]),
    # terminal: discount 0, Tz = 1.5 for every atom: half to atom 1, half to atom 2
    (1.5, 0.0, [0.0, 0.5, 0.5]),
    # above v_max: Tz = 10, 10.5, 11 → all at 2
    (10.0, 0.5, [0.0, 0.0, 1.0]),
])
def test_categorical_projection_by_hand(reward, discount, expected):
    out = learner.categorical_projection(torch.tensor([reward]), torch.tensor([discount]),
                                         PROBS[None, :], SUPPORT)
    assert torch.allclose(out, torch.tensor([expected]), atol=1e-6)
    assert out.sum().item() == pytest.approx(1.0)


def test_categorical_projection_is_vectorised_over_the_batch():
    reward, discount = torch.tensor([1.0, 0.5, -5.0]), torch.tensor([1.0, 0.5, 0.9])
    out = learner.categorical_projection(reward, discount, PROBS.expand(3, 3), SUPPORT)
    assert torch.allclose(out, torch.tensor([[0.0, 0.2, 0.8], [0.1, 0.65, 0.25], [1.0, 0.0, 0.0]]))


def test_quantile_huber_two_quantiles_by_hand():
    theta = torch.tensor([[0.0, 2.0]], requires_grad=True)  # θ at τ = 0.25, 0.75
    taus = torch.tensor([0.25, 0.75])
    # one target sample 1: u = 1 − 0 = 1 (weight τ = 0.25), u = 1 − 2 = −1 (weight 1 − τ = 0.25),
    # Huber(±1) = 0.5 each: 0.25·0.5 + 0.25·0.5 = 0.25
    one = learner.quantile_huber_loss(theta, torch.tensor([[1.0]]), taus, kappa=1.0)
    assert one.item() == pytest.approx(0.25)
    # two target samples 1 and 3: for θ₁ = 0, u = 1, 3 → 0.25·0.5, 0.25·(3 − 0.5) → mean 0.375;
    # for θ₂ = 2, u = −1, 1 → 0.25·0.5, 0.75·0.5 → mean 0.25; sum over quantiles 0.625
    two = learner.quantile_huber_loss(theta, torch.tensor([[1.0, 3.0]]), taus, kappa=1.0)
    assert two.item() == pytest.approx(0.625)
    # κ = 0 is the pinball loss: (0.25·1 + 0.25·3)/2 + (0.25·1 + 0.75·1)/2 = 1
    pinball = learner.quantile_huber_loss(theta, torch.tensor([[1.0, 3.0]]), taus, kappa=0.0)
    assert pinball.item() == pytest.approx(1.0)
    two.backward()
    # dθ₁: mean_j −τ·clip(u) = −(0.25·1 + 0.25·1)/2; dθ₂: −(−0.25·1 + 0.75·1)/2
    assert torch.allclose(theta.grad, torch.tensor([[-0.25, -0.25]]))


def test_munchausen_log_policy_term_by_hand():
    tau, alpha, l0 = 0.5, 0.9, -1.0
    q_s = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # π = softmax(q/τ) = softmax(2, 0)
    action = torch.tensor([0, 1])
    next_q = torch.zeros(2, 2)  # soft value: τ·ln Σ exp(q/τ) = 0.5·ln 2
    reward, discount = torch.tensor([1.0, 1.0]), torch.tensor([0.9, 0.9])
    y = learner.munchausen_target(reward, discount, q_s, action, next_q, tau, alpha, l0)
    log_z = math.log(math.exp(2.0) + 1.0)  # 2.1269
    bonus0 = alpha * tau * (2.0 - log_z)  # τ·ln π(0) = −0.0635, inside the clip: −0.0571
    bonus1 = alpha * max(tau * (0.0 - log_z), l0)  # τ·ln π(1) = −1.0635, clipped to −1: −0.9
    soft = 0.5 * math.log(2.0)
    assert y.tolist() == pytest.approx([1 + bonus0 + 0.9 * soft, 1 + bonus1 + 0.9 * soft], abs=1e-6)
    assert y[1].item() == pytest.approx(1 - 0.9 + 0.9 * 0.5 * math.log(2.0), abs=1e-6)


def test_munchausen_without_bonus_at_low_temperature_is_q_learning():
    reward, discount = torch.tensor([1.0]), torch.tensor([0.9])
    next_q = torch.tensor([[1.0, 3.0]])
    y = learner.munchausen_target(reward, discount, torch.zeros(1, 2), torch.tensor([0]), next_q,
                                  tau=1e-3, alpha=0.0, log_clip=-1.0)
    assert y.item() == pytest.approx(1 + 0.9 * 3.0, abs=1e-4)
