"""Approximators: tile coding coverage and offsets, hashing, bases, the neural gradient."""

import numpy as np
import pytest

from deepq.lab.features import (Fourier, Linear, LinearQ, MatrixFeatures, Neural, Polynomial, StateAggregation,
                                 TileCoder)


def coder(**kw):
    return TileCoder((0.0, 0.0), (1.0, 1.0), tiles_per_dim=4, n_tilings=8, **kw)


def test_tile_coder_one_tile_per_tiling_everywhere(rng):
    tc = coder()
    s = rng.random((500, 2))
    idx = tc.active(s)  # [500, 8]
    assert idx.shape == (500, 8)
    per_tiling = idx - np.arange(8) * tc.tiles_per_tiling
    assert ((per_tiling >= 0) & (per_tiling < tc.tiles_per_tiling)).all()  # each in its own tiling
    x = tc(s)
    assert (x.sum(1) == 8).all() and x.shape == (500, tc.n_features)
    corners = tc.active(np.array([[0.0, 0.0], [1.0, 1.0]]))  # the box edges are covered too
    assert len(set(corners[0]) & set(corners[1])) == 0


def test_tile_coder_offsets_are_asymmetric_fractions_of_a_tile():
    tc = coder()
    # tiling k shifts by k·(1, 3)/8 of a tile (mod one tile): all distinct per dimension
    assert tc.offsets[:, 0] == pytest.approx(np.arange(8) / 8)
    assert tc.offsets[:, 1] == pytest.approx((3 * np.arange(8) % 8) / 8)
    # a step of 1/8 of a tile along one dimension crosses a boundary in exactly one tiling
    tile = 1 / 4
    s = np.array([0.4 + 1e-6, 0.55])
    changed = tc.active(s) != tc.active(s + [tile / 8, 0.0])
    assert changed.sum() == 1
    # points a full tile apart along a dimension share no tile; identical points share all
    assert (tc.active(s) != tc.active(s + [tile, 0.0])).all()


def test_tile_coder_hashing_stays_in_table():
    tc = coder(hash_size=64)
    s = np.random.default_rng(1).random((300, 2))
    idx = tc.active(s)
    assert idx.min() >= 0 and idx.max() < 64 and tc.n_features == 64
    assert (tc.active(s) == idx).all()  # deterministic
    assert len(np.unique(idx)) > 40  # spreads over the table


def test_bases_by_hand():
    assert Polynomial(2, 0.0, 2.0)(1.0) == pytest.approx([1.0, 0.5, 0.25])
    assert Fourier(2, 0.0, 2.0)(1.0) == pytest.approx([1.0, 0.0, -1.0])
    agg = StateAggregation(1000, 10)
    assert list(agg.group([0, 99, 100, 999])) == [0, 0, 1, 9]
    assert agg(np.array([150]))[0] == pytest.approx(np.eye(10)[1])
    lin = Linear(MatrixFeatures(np.array([[1.0, 2.0], [0.0, 1.0]])))
    assert lin.value(np.array([1.0, -1.0]), np.array([0, 1])) == pytest.approx([-1.0, -1.0])


def test_neural_gradient_matches_finite_differences():
    net = Neural(MatrixFeatures(np.array([[1.0, 0.0], [0.5, 2.0], [-1.0, 1.0]])), hidden=(8,), seed=0)
    w = net.initial_weights()
    states = np.arange(3)
    g = net.grad(w, states)  # [3, W]
    assert g.shape == (3, net.n_weights)
    eps = 1e-2
    for i in (0, 5, net.n_weights - 1):
        dw = np.zeros_like(w)
        dw[i] = eps
        fd = (net.value(w + dw, states) - net.value(w - dw, states)) / (2 * eps)
        assert fd == pytest.approx(g[:, i], abs=1e-3)


def test_linear_q_blocks_by_action():
    q = LinearQ(MatrixFeatures(np.array([[1.0, 2.0], [3.0, 0.0]])), n_actions=2)
    w = np.array([1.0, 0.0, 0.0, 1.0])  # action 0 reads x₀, action 1 reads x₁
    assert q.values(w, np.array([0, 1])) == pytest.approx(np.array([[1.0, 2.0], [3.0, 0.0]]))
    assert q.value(w, np.array([0, 1]), np.array([1, 0])) == pytest.approx([2.0, 3.0])
    assert q.grad(w, 0, 1) == pytest.approx([0.0, 0.0, 1.0, 2.0])
