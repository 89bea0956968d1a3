"""Q-networks: observation → Q-values [B, A].

``NatureCNN`` is the network of Mnih et al. (2015); it takes uint8 frames and scales
them by 1/255 inside, so replay and acting never hold float copies of images.
``MLP`` serves vector observations. ``build`` picks one from the observation shape.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class NatureCNN(nn.Module):
    """Conv 32·8×8/4 → 64·4×4/2 → 64·3×3/1 → Linear 512 → Linear A, ReLU between."""

    def __init__(self, in_channels: int, n_actions: int, frame_size: int = 84):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, kernel_size=8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=3, stride=1), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.features(torch.zeros(1, in_channels, frame_size, frame_size)).shape[1]
        self.head = nn.Sequential(nn.Linear(n_flat, 512), nn.ReLU(), nn.Linear(512, n_actions))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.float() / 255.0  # [B, C, H, W] uint8 → float in [0, 1]
        return self.head(self.features(x))  # [B, A]


class MLP(nn.Module):
    """Fully connected ReLU network with the given hidden widths."""

    def __init__(self, in_features: int, n_actions: int, hidden: Sequence[int] = (64, 64)):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, n_actions))
        self.net = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs.float())  # [B, A]


def build(obs_shape: tuple[int, ...], n_actions: int, hidden: Sequence[int]) -> nn.Module:
    """Nature CNN for [C, H, W] images, MLP (with ``hidden`` widths) for [D] vectors."""
    if len(obs_shape) == 3:
        return NatureCNN(obs_shape[0], n_actions, frame_size=obs_shape[1])
    if len(obs_shape) == 1:
        return MLP(obs_shape[0], n_actions, hidden)
    raise ValueError(f"no network for observations of shape {obs_shape}")
