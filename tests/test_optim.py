"""MasterAdam: Adam over fp32 master weights fed by a bf16 copy's gradients, clipping
included, gives what autocast + optim.clip_gradients + torch.optim.Adam give."""

import copy

import pytest
import torch

from deepq import DQN, config, networks, optim
from deepq.settings import SpeedConfig
from deepq.speed import resolve_master_adam
from deepq.errors import DeepQError
from deepq.optim import MasterAdam
from deepq.presets import PRESETS


class Two(torch.nn.Module):
    """A conv and a linear layer (both bf16 in the copy) and an fp32 output layer."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 3, 2)
        self.fc = torch.nn.Linear(12, 5)
        self.out = networks.Fp32Linear(5, 2)


def _grads(step, params):
    g = torch.Generator().manual_seed(100 + step)
    # large enough that the ±1 clamp and the norm clip both bite; bf16 like autocast's
    return [(3 * torch.randn(p.shape, generator=g)).to(torch.bfloat16) for p in params]


def _run(max_norm, max_value, steps=4, compile=False):
    torch.manual_seed(0)
    ref = Two()
    master = copy.deepcopy(ref)
    low = networks.autocast_copy(master, torch.bfloat16).requires_grad_(True)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-2, eps=1e-8, fused=True)
    opt = MasterAdam(master, low, lr=1e-2, eps=1e-8, max_grad_norm=max_norm,
                     max_grad_value=max_value, compile=compile)
    for s in range(steps):
        grads = _grads(s, list(ref.parameters()))
        for p, g in zip(ref.parameters(), grads):
            p.grad = g.float()  # autocast: the bf16 gradient, cast exactly to fp32
        optim.clip_gradients(ref.parameters(), max_norm, max_value)
        ref_opt.step()
        opt.zero_grad()
        for p, g in zip(low.parameters(), grads):
            p.grad = g.to(p.dtype)
        opt.step()
    return ref, ref_opt, master, low, opt


@pytest.mark.parametrize("max_norm,max_value", [(0.0, 0.0), (0.0, 1.0), (5.0, 0.0), (5.0, 1.0)])
def test_master_adam_steps_as_clip_then_adam(max_norm, max_value):
    ref, ref_opt, master, low, opt = _run(max_norm, max_value)
    for p, q in zip(ref.parameters(), master.parameters()):
        assert q.dtype == torch.float32
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6)
    # the copy holds the new weights, rounded to its dtype (the fp32 output layer exactly)
    for lo, q in zip(low.parameters(), master.parameters()):
        assert torch.equal(lo, q.detach().to(lo.dtype))
    assert {p.dtype for p in low.parameters()} == {torch.bfloat16, torch.float32}
    # Adam's state, in Adam's layout: checkpoints move between the two
    sa, sb = ref_opt.state_dict()["state"], opt.state_dict()["state"]
    for pid in sa:
        assert float(sb[pid]["step"]) == 4
        for key in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(sb[pid][key], sa[pid][key], rtol=1e-5, atol=1e-8)


def test_clipping_changes_the_step():
    # guards the test above: with these gradients an unclipped step lands elsewhere
    clipped, unclipped = _run(5.0, 1.0)[2], _run(0.0, 0.0)[2]
    diff = max((p - q).abs().max().item() for p, q in zip(clipped.parameters(), unclipped.parameters()))
    assert diff > 1e-3


def test_compiled_kernel_matches_eager():
    eager, compiled = _run(5.0, 1.0)[2], _run(5.0, 1.0, compile=True)[2]
    for p, q in zip(eager.parameters(), compiled.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6)


def test_state_dict_loads_into_plain_adam_and_back():
    _, ref_opt, master, low, opt = _run(0.0, 1.0, steps=2)
    saved = copy.deepcopy(opt.state_dict())
    plain = torch.optim.Adam(copy.deepcopy(master).parameters(), lr=1e-2)
    plain.load_state_dict(saved)
    opt.load_state_dict(ref_opt.state_dict())
    for pid, st in ref_opt.state_dict()["state"].items():
        assert torch.equal(opt.state_dict()["state"][pid]["exp_avg"], st["exp_avg"])
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(plain.state_dict()["state"][pid][key], saved["state"][pid][key])


def _pong(master_adam="auto", **overrides):
    return config.override(PRESETS["pong"].config, {
        "speed.precision": "bf16", "learn_start": 64, "buffer_size": 2000, "batch_size": 8,
        "eval_every": 0, "checkpoint_every": 0, "stop_return": None, "speed.threads": 1,
        "speed.master_adam": master_adam, **overrides})


def test_dqn_update_through_the_copy_tracks_autocast():
    runs = {}
    for mode in ("off", "on"):
        torch.manual_seed(0)
        m = DQN(_pong(master_adam=mode, seed=4), tensorboard=False)
        assert isinstance(m.optimizer, MasterAdam) == (mode == "on")
        m.learn(64 + 6)  # six updates on the same replay, the same batches
        runs[mode] = m
    on, off = runs["on"], runs["off"]
    assert on.update == off.update == 6
    for p, q in zip(off.q_net.parameters(), on.q_net.parameters()):
        assert q.dtype == torch.float32
        torch.testing.assert_close(q, p, rtol=1e-3, atol=1e-4)
    # the updates really moved the weights: compare with the untouched initial network
    torch.manual_seed(0)
    fresh = DQN(_pong(master_adam="on", seed=4), tensorboard=False)
    moved = max((p - q).abs().max().item() for p, q in zip(fresh.q_net.parameters(), on.q_net.parameters()))
    assert moved > 1e-4


def test_resume_with_master_adam_equals_uninterrupted(tmp_path):
    cfg = _pong(master_adam="on", total_steps=110, seed=5)
    whole = DQN(cfg, tensorboard=False)
    whole.learn()
    part = DQN(cfg, tensorboard=False)
    part.learn(90)
    part.save(tmp_path / "ck")
    resumed = DQN.load(tmp_path / "ck", tensorboard=False)
    assert isinstance(resumed.optimizer, MasterAdam)
    resumed.learn()
    for p, q in zip(whole.q_net.parameters(), resumed.q_net.parameters()):
        assert torch.equal(p, q)
    # a checkpoint written with MasterAdam resumes with plain Adam too
    plain = DQN.load(tmp_path / "ck", overrides={"speed.master_adam": "off"}, tensorboard=False)
    assert type(plain.optimizer) is optim.ClippedAdam
    plain.learn()
    assert plain.update == whole.update


def test_auto_turns_master_adam_on_only_for_long_bf16_cpu_runs():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    auto, on, off = SpeedConfig(), SpeedConfig(master_adam="on"), SpeedConfig(master_adam="off")
    assert resolve_master_adam(auto, torch.bfloat16, cpu, 1_000_000)
    assert not resolve_master_adam(auto, torch.bfloat16, cpu, 50_000)
    assert not resolve_master_adam(auto, None, cpu, 1_000_000)  # fp32 runs have nothing to cast
    assert not resolve_master_adam(auto, torch.bfloat16, cuda, 1_000_000)
    assert resolve_master_adam(on, torch.bfloat16, cuda, 100)
    assert not resolve_master_adam(off, torch.bfloat16, cpu, 10**6)
    with pytest.raises(DeepQError, match="master_adam = on needs bf16 updates"):
        resolve_master_adam(on, None, cpu, 10**6)  # a setting it cannot honour is an error


def test_without_a_cxx_compiler_auto_falls_back_and_on_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-for-deepq")
    cpu = torch.device("cpu")
    assert not resolve_master_adam(SpeedConfig(), torch.bfloat16, cpu, 10**6)
    with pytest.raises(DeepQError, match="C\\+\\+ compiler"):
        resolve_master_adam(SpeedConfig(master_adam="on"), torch.bfloat16, cpu, 10**6)


def test_training_acts_through_the_refreshed_copy_and_predict_stays_fp32():
    m = DQN(_pong(master_adam="on", seed=6, lr=1e-3), tensorboard=False)
    m.learn(64 + 20)  # twenty updates move the weights well past bf16 rounding
    obs = torch.from_numpy(m.replay.sample(32).obs)  # [32, 4, 84, 84] uint8
    with torch.no_grad():
        fp32, acting = m.learner.q_values(obs), m.learner._acting_values(obs)  # [32, A]
        # the same network before the updates: what a copy never refreshed would give
        initial = DQN(_pong(master_adam="on", seed=6, lr=1e-3), tensorboard=False).learner.q_values(obs)
    assert acting.dtype == torch.float32
    assert not torch.equal(acting, fp32)  # it really is the bf16 pass
    moved = (fp32 - initial).abs().max()
    assert (acting - fp32).abs().max() < 0.05 * moved
    # Make the copy prefer another action everywhere: acting follows it, predict does not.
    other = (fp32[0].argmax() + 1) % m.n_actions
    with torch.no_grad():
        m.learner.nets.online_low.head[-1].bias[other] += 100.0
        assert (m.learner._acting_values(obs).argmax(1) == other).all()
    for o, q in zip(obs[:4].numpy(), fp32[:4]):
        assert m.predict(o) == int(q.argmax())
