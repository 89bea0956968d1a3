"""Approximators v̂(s; w) and q̂(s, a; w): linear over features, and the core MLP.

Every linear approximator here is a feature map ``x(s)`` so that v̂ = w·x(s) and
∇_w v̂ = x(s); the learning rules in ``rules`` only ever see values and gradients.
Tile coding also exposes the active tile indices, because a sum over 8 active weights
is what makes Mountain Car fast (S&B 2nd ed., Section 9.5.4).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from deepq.networks import MLP


class StateAggregation:
    """Integer states 0..n_states-1 in ``n_groups`` equal consecutive groups; one-hot group."""

    def __init__(self, n_states: int, n_groups: int):
        if n_states % n_groups:
            raise ValueError(f"{n_states} states do not split into {n_groups} equal groups")
        self.n_states, self.n_features = n_states, n_groups
        self.group_size = n_states // n_groups

    def group(self, s) -> np.ndarray:
        return np.asarray(s) // self.group_size

    def __call__(self, s) -> np.ndarray:
        return np.eye(self.n_features)[self.group(s)]  # [..., D]


class Polynomial:
    """Polynomial basis of one state variable scaled to [0, 1]: x_i = s^i, i = 0..order."""

    def __init__(self, order: int, low: float, high: float):
        self.order, self.low, self.high = order, low, high
        self.n_features = order + 1

    def __call__(self, s) -> np.ndarray:
        u = (np.asarray(s, dtype=float) - self.low) / (self.high - self.low)
        return u[..., None] ** np.arange(self.n_features)  # [..., D]


class Fourier:
    """Fourier cosine basis of one state variable scaled to [0, 1]: x_i = cos(iπs)."""

    def __init__(self, order: int, low: float, high: float):
        self.order, self.low, self.high = order, low, high
        self.n_features = order + 1

    def __call__(self, s) -> np.ndarray:
        u = (np.asarray(s, dtype=float) - self.low) / (self.high - self.low)
        return np.cos(np.pi * u[..., None] * np.arange(self.n_features))  # [..., D]


class TileCoder:
    """``n_tilings`` grids over a box, each offset by a fraction of a tile.

    Tiling k is shifted by k·(1, 3, 5, ...)/n_tilings of a tile width along the
    dimensions: the asymmetric offsets S&B recommend (Section 9.5.4), because uniform
    diagonal offsets make the tilings' boundaries line up along the diagonal.
    Each tiling has one extra tile per dimension so shifted grids still cover the box.
    With ``hash_size`` the (tiling, tile) pairs are hashed into a table of that many
    weights instead of one weight each: memory stays fixed as dimensions grow.
    """

    def __init__(self, low: Sequence[float], high: Sequence[float], tiles_per_dim: int,
                 n_tilings: int, hash_size: int | None = None):
        self.low = np.asarray(low, dtype=float)
        self.high = np.asarray(high, dtype=float)
        self.tiles_per_dim, self.n_tilings = tiles_per_dim, n_tilings
        n_dims = len(self.low)
        self.grid = tiles_per_dim + 1  # tiles per dimension in each tiling, offsets included
        self.tiles_per_tiling = self.grid ** n_dims
        self.hash_size = hash_size
        self.n_features = hash_size if hash_size else n_tilings * self.tiles_per_tiling
        odd = 2 * np.arange(n_dims) + 1
        self.offsets = (np.arange(n_tilings)[:, None] * odd[None, :] % n_tilings) / n_tilings  # [T, d] tiles
        self.strides = self.grid ** np.arange(n_dims)  # [d]

    def active(self, s) -> np.ndarray:
        """Indices of the one active tile in each tiling: [..., T] ints."""
        u = (np.asarray(s, dtype=float) - self.low) / (self.high - self.low) * self.tiles_per_dim
        coords = np.floor(u[..., None, :] + self.offsets).astype(np.int64)  # [..., T, d]
        coords = np.clip(coords, 0, self.grid - 1)
        flat = coords @ self.strides  # [..., T]
        if not self.hash_size:
            return flat + np.arange(self.n_tilings) * self.tiles_per_tiling
        # Knuth's multiplicative hash of (tiling, tile); the xor-shift mixes high bits down
        key = flat * 2654435761 + np.arange(self.n_tilings) * 40503
        return (key ^ (key >> 13)) % self.hash_size

    def __call__(self, s) -> np.ndarray:
        idx = self.active(s)
        x = np.zeros(idx.shape[:-1] + (self.n_features,))
        np.put_along_axis(x, idx, 1.0, axis=-1)
        return x  # [..., D], exactly n_tilings ones (fewer only on a hash collision)


class MatrixFeatures:
    """Features given as a table, one row per state: Baird's and the small MDPs' x(s)."""

    def __init__(self, table: np.ndarray):
        self.table = np.asarray(table, dtype=float)  # [S, D]
        self.n_features = self.table.shape[1]

    def __call__(self, s) -> np.ndarray:
        return self.table[np.asarray(s)]


class Linear:
    """v̂(s; w) = w·x(s) over any feature map above; the gradient is x(s) itself."""

    def __init__(self, features: Callable[[np.ndarray], np.ndarray]):
        self.features = features
        self.n_weights = features.n_features

    def value(self, w: np.ndarray, s) -> np.ndarray:
        return self.features(s) @ w

    def grad(self, w: np.ndarray, s) -> np.ndarray:
        return self.features(s)


class LinearQ:
    """q̂(s, a; w) = w_a·x(s): one weight vector per action, stored as one flat w [A·D].
    The gradient with respect to w is x(s) in action a's block and 0 elsewhere."""

    def __init__(self, features: Callable[[np.ndarray], np.ndarray], n_actions: int):
        self.features, self.n_actions = features, n_actions
        self.n_weights = n_actions * features.n_features

    def values(self, w: np.ndarray, s) -> np.ndarray:
        """q̂(s, ·) for every action: [..., A]."""
        return self.features(s) @ w.reshape(self.n_actions, -1).T

    def value(self, w: np.ndarray, s, a) -> np.ndarray:
        return np.take_along_axis(self.values(w, s), np.asarray(a)[..., None], -1)[..., 0]

    def grad(self, w: np.ndarray, s, a) -> np.ndarray:
        x = self.features(s)  # [..., D]
        onehot = np.eye(self.n_actions)[np.asarray(a)]  # [..., A]
        return (onehot[..., :, None] * x[..., None, :]).reshape(x.shape[:-1] + (self.n_weights,))


class Neural:
    """v̂(s; w) from the core package's MLP with its weights as one flat vector w.

    ``value`` and ``grad`` take and return numpy, so the same pure rules drive linear
    and neural approximators; the gradient comes from autograd, one row per state.
    """

    def __init__(self, features: Callable[[np.ndarray], np.ndarray], hidden: Sequence[int] = (16,),
                 seed: int = 0):
        self.features = features
        with torch.random.fork_rng():  # seed the initialisation without touching the global RNG
            torch.manual_seed(seed)
            self.net = MLP(features.n_features, 1, hidden)
        self.n_weights = sum(p.numel() for p in self.net.parameters())

    def initial_weights(self) -> np.ndarray:
        return torch.nn.utils.parameters_to_vector(self.net.parameters()).detach().double().numpy()

    def _load(self, w: np.ndarray) -> None:
        torch.nn.utils.vector_to_parameters(torch.as_tensor(w, dtype=torch.float32), self.net.parameters())

    def value(self, w: np.ndarray, s) -> np.ndarray:
        self._load(w)
        with torch.no_grad():
            x = torch.as_tensor(self.features(s), dtype=torch.float32)
            return self.net(x)[..., 0].double().numpy()

    def grad(self, w: np.ndarray, s) -> np.ndarray:
        """[..., W]: ∇_w v̂(s; w) for each state, one Jacobian row per state."""
        self._load(w)
        params = dict(self.net.named_parameters())
        x = torch.as_tensor(self.features(s), dtype=torch.float32).reshape(-1, self.features.n_features)

        def v(p, xi):
            return torch.func.functional_call(self.net, p, (xi[None],))[0, 0]

        jac = torch.func.vmap(torch.func.jacrev(v), in_dims=(None, 0))(params, x)
        flat = torch.cat([jac[k].reshape(len(x), -1) for k in params], dim=1)
        return flat.detach().double().numpy().reshape(np.shape(s) + (self.n_weights,))
