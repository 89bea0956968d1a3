"""Speed options change rounding, never the rule: bf16 and fp32 updates agree closely."""

import copy

import torch

from deepq import networks
from deepq.algos.dqn import DQNConfig, dqn_loss
from deepq.optim import ClippedAdam
from deepq.settings import SpeedConfig
from deepq.speed import Nets, resolve_precision


def _batch(B=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "obs": torch.randint(0, 256, (B, 4, 84, 84), dtype=torch.uint8, generator=g),
        "next_obs": torch.randint(0, 256, (B, 4, 84, 84), dtype=torch.uint8, generator=g),
        "action": torch.randint(0, 6, (B,), generator=g),
        "reward": torch.randn(B, generator=g).sign(),
        "discount": torch.full((B,), 0.99),
    }


def _update(amp):
    torch.manual_seed(0)
    net = networks.build((4, 84, 84), 6, (64,))
    target = copy.deepcopy(net)
    opt = ClippedAdam(net.parameters(), lr=1e-3, fused=True)
    nets = Nets(net, target, net, target, net, opt, torch.device("cpu"), amp)
    losses = []
    for i in range(3):
        loss = dqn_loss(nets, _batch(seed=i), DQNConfig())[0].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return losses, torch.cat([p.detach().flatten() for p in net.parameters()])


def test_bf16_update_tracks_fp32():
    (l32, w32), (l16, w16) = _update(None), _update(torch.bfloat16)
    for a, b in zip(l32, l16):
        assert abs(a - b) <= 0.05 * abs(a) + 1e-3
    assert all(p.dtype == torch.float32 for p in (w32, w16))  # weights stay fp32
    assert (w32 - w16).abs().max() < 1e-2
    assert not torch.equal(w32, w16)  # bf16 really ran


def test_auto_precision_uses_fp32_for_vector_observations():
    cpu = torch.device("cpu")
    assert resolve_precision(SpeedConfig(), (4,), cpu, True) is None
    assert resolve_precision(SpeedConfig(precision="fp32"), (4, 84, 84), cpu, True) is None
    assert resolve_precision(SpeedConfig(precision="bf16"), (4,), cpu, True) is torch.bfloat16


def test_bf16_for_an_algorithm_that_cannot_run_it_is_an_error():
    import pytest

    from deepq.errors import DeepQError

    cpu = torch.device("cpu")
    assert resolve_precision(SpeedConfig(), (4, 84, 84), cpu, False) is None  # auto: fp32
    with pytest.raises(DeepQError, match="speed.precision = bf16 is not implemented for this algorithm"):
        resolve_precision(SpeedConfig(precision="bf16"), (4, 84, 84), cpu, False)


def test_q_value_layer_stays_fp32_under_autocast():
    torch.manual_seed(0)
    net = networks.build((4,), 2, (16,))
    x = torch.randn(5, 4) * 100
    with torch.autocast("cpu", dtype=torch.bfloat16):
        q = net(x)
    assert q.dtype == torch.float32
    # only the hidden layer ran in bf16: the output is far finer than bf16's spacing
    q32 = net(x)
    assert torch.allclose(q, q32, rtol=0.05, atol=0.05)
    assert not torch.equal(q.to(torch.bfloat16).float(), q)


def test_frames_go_to_bf16_exactly_as_an_fp32_copy_would_round():
    frames = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        direct = networks.scale_frames(frames)
    assert direct.dtype == torch.bfloat16
    assert torch.equal(direct, (frames.float() / 255.0).to(torch.bfloat16))
    assert networks.scale_frames(frames).dtype == torch.float32  # no autocast: fp32


def test_bf16_target_copy_computes_what_autocast_computes_and_follows_syncs():
    from deepq import DQN, config
    from deepq.presets import PRESETS

    for dueling in (False, True):
        torch.manual_seed(0)
        net = networks.build((4, 84, 84), 6, (64,), dueling=dueling)
        low = networks.autocast_copy(net, torch.bfloat16)
        assert {p.dtype for p in low.parameters()} == {torch.bfloat16, torch.float32}  # fp32 outputs
        x = _batch()["next_obs"]
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            assert torch.equal(net(x), low(x))
    cfg = config.override(PRESETS["pong"].config, {"speed.precision": "bf16", "learn_start": 10**9})
    m = DQN(cfg, tensorboard=False)
    with torch.no_grad():
        for p in m.q_net.parameters():
            p.add_(0.01)
    m.learner.sync_target()  # the copy follows the fp32 target network
    for lo, hi in zip(m.learner.nets.target_pass.parameters(), m.target_net.parameters()):
        assert torch.equal(lo, hi.to(lo.dtype))
