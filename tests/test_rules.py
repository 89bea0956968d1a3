"""Loss rules against numbers computed by hand."""

import pytest
import torch
from torch import nn

from deepq import learner, optim
from deepq.speed import Nets


def test_q_learning_target_two_actions_terminal_and_truncated():
    reward = torch.tensor([1.0, 0.5, -1.0])
    # row 0: mid-episode, γ = 0.9; row 1: terminated (discount 0); row 2: truncated keeps γ
    discount = torch.tensor([0.9, 0.0, 0.9])
    next_q = torch.tensor([[1.0, 3.0], [2.0, -1.0], [-2.0, -4.0]])
    y = learner.q_learning_target(reward, discount, next_q)
    # 1 + 0.9·max(1, 3) = 3.7;  0.5 + 0·2 = 0.5;  −1 + 0.9·max(−2, −4) = −2.8
    assert torch.allclose(y, torch.tensor([3.7, 0.5, -2.8]))


def test_td_loss_huber_and_mse_by_hand():
    q = torch.tensor([[1.0, 2.0], [0.0, 0.0]], requires_grad=True)
    action = torch.tensor([1, 0])
    y = torch.tensor([2.5, 3.0])
    # errors: 2.5 − 2 = 0.5 (quadratic zone), 3 − 0 = 3 (linear zone)
    huber, td_abs = learner.td_loss(q, action, y, "huber")  # per sample
    assert torch.allclose(huber, torch.tensor([0.5 * 0.5**2, 3 - 0.5]))  # 0.125, 2.5
    assert torch.allclose(td_abs, torch.tensor([0.5, 3.0])) and not td_abs.requires_grad
    mse, _ = learner.td_loss(q, action, y, "mse")
    assert torch.allclose(mse, torch.tensor([0.5 * 0.25, 0.5 * 9.0]))
    huber.mean().backward()
    # d/dq of mean Huber: −clip(error, −1, 1)/B on the taken actions only
    assert torch.allclose(q.grad, torch.tensor([[0.0, -0.25], [-0.5, 0.0]]))


def test_td_loss_does_not_backprop_into_target():
    q = torch.zeros(1, 2, requires_grad=True)
    y = torch.ones(1, requires_grad=True)
    learner.td_loss(q, torch.tensor([0]), y)[0].sum().backward()
    assert y.grad is None


def _net_with_big_grads():
    net = nn.Linear(3, 2)
    net(torch.full((1, 3), 100.0)).sum().backward()
    return net


def test_clip_by_value_really_clips_unlike_the_design_documents_clamp():
    net = _net_with_big_grads()
    before = [p.grad.clone() for p in net.parameters()]
    for p in net.parameters():  # the design document's line: returns a copy, discarded
        p.grad.data.clamp(-1, 1)
    assert all(torch.equal(b, p.grad) for b, p in zip(before, net.parameters()))
    assert max(p.grad.abs().max() for p in net.parameters()) == 100.0
    optim.clip_gradients(net.parameters(), max_value=1.0)
    assert max(p.grad.abs().max() for p in net.parameters()) == 1.0


def test_clip_by_value_clamps_each_element_and_keeps_the_small_ones():
    net = nn.Linear(3, 1)
    net.weight.grad = torch.tensor([[-3.0, 0.25, 2.0]])
    net.bias.grad = torch.tensor([-0.5])
    optim.clip_gradients(net.parameters(), max_value=1.0)
    assert torch.equal(net.weight.grad, torch.tensor([[-1.0, 0.25, 1.0]]))
    assert torch.equal(net.bias.grad, torch.tensor([-0.5]))


def test_clip_by_norm_rescales_to_max_norm():
    net = _net_with_big_grads()
    direction = torch.cat([p.grad.flatten() for p in net.parameters()])
    optim.clip_gradients(net.parameters(), max_norm=10.0)
    after = torch.cat([p.grad.flatten() for p in net.parameters()])
    assert after.norm().item() == pytest.approx(10.0, rel=1e-4)
    assert torch.allclose(after / after.norm(), direction / direction.norm(), atol=1e-6)


def test_polyak_update_hard_and_soft():
    online, target = nn.Linear(2, 1), nn.Linear(2, 1)
    with torch.no_grad():
        online.weight.fill_(1.0)
        target.weight.fill_(3.0)
    nets = Nets(online, target, online, target, online, None, torch.device("cpu"), None)
    nets.sync_target(tau=0.25)
    assert torch.allclose(target.weight, torch.full((1, 2), 2.5))  # 0.25·1 + 0.75·3
    nets.sync_target(tau=1.0)
    assert torch.equal(target.weight, online.weight)
