"""Q-networks: observation → Q-values [B, A].

``NatureCNN`` is the network of Mnih et al. (2015); it takes uint8 frames and scales
them by 1/255 inside, so replay and acting never hold float copies of images.
``MLP`` serves vector observations. ``build`` picks one from the observation shape.

The variants are network options of ``build``: ``dueling`` (Wang et al. 2016: a value
stream plus a mean-centred advantage stream), ``noisy`` (Fortunato et al. 2018:
factorised Gaussian ``NoisyLinear`` layers instead of ``nn.Linear`` in the fully
connected part), and ``n_atoms`` > 1 (one output per action and atom or quantile,
[B, A, N], for the distributional algorithms). With all options at their defaults
``build`` returns the plain ``NatureCNN`` / ``MLP`` unchanged. ``IQNNetwork`` takes
quantile fractions τ as a second input (Dabney et al. 2018b).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import nn


def scale_frames(obs: torch.Tensor) -> torch.Tensor:
    """uint8 frames [B, C, H, W] → values in [0, 1].

    Under autocast the frames go straight to the autocast dtype: 0…255 are exact in bf16
    and fp16, and the product x·(1/255) is rounded once, as the autocast cast of an fp32
    copy would round it. Skipping that fp32 copy (3.6 MB at batch 32) saves 10–15% of a
    bf16 update on CPU.
    """
    device = obs.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else torch.float32
    return obs.to(dtype) * (1.0 / 255.0)


def autocast_copy(net: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A gradient-free copy of ``net`` whose convolution and linear weights are stored in
    ``dtype`` (``Fp32Linear`` outputs stay fp32). Under autocast to ``dtype`` it computes
    exactly what ``net`` computes, without casting the weights on each pass."""
    low = copy.deepcopy(net).requires_grad_(False)
    for m in low.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and not isinstance(m, Fp32Linear):
            m.to(dtype)
    return low


@torch.no_grad()
def copy_weights(dst: nn.Module, src: nn.Module) -> None:
    """Copy ``src``'s parameters and buffers into ``dst`` (same layout), casting each to
    the dtype ``dst`` holds."""
    for d, s in zip(dst.state_dict().values(), src.state_dict().values()):
        d.copy_(s)


class Fp32Linear(nn.Linear):
    """A linear layer that computes in fp32 even under bf16 autocast.

    Used for Q-value outputs: bf16 keeps 8 mantissa bits, so a Q-value near 50 would be
    rounded to a multiple of 0.25 and the TD errors that matter would vanish (bf16
    CartPole learned ~3× slower before this layer was kept in fp32).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x.float())


class NatureCNN(nn.Module):
    """Conv 32·8×8/4 → 64·4×4/2 → 64·3×3/1 → Linear 512 → Linear A, ReLU between.
    ``frame_size``: H = W, or (H, W), at least 36 each."""

    def __init__(self, in_channels: int, n_actions: int, frame_size: int | tuple[int, int] = 84):
        super().__init__()
        height, width = (frame_size, frame_size) if isinstance(frame_size, int) else frame_size
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, kernel_size=8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=3, stride=1), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.features(torch.zeros(1, in_channels, height, width)).shape[1]
        self.head = nn.Sequential(nn.Linear(n_flat, 512), nn.ReLU(), Fp32Linear(512, n_actions))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image_input(obs)))  # [B, A]


NATURE_MIN_SIZE = 36  # the smallest H and W the Nature CNN's three convolutions fit


def small_cnn_torso(in_channels: int) -> nn.Sequential:
    """Conv 16·3×3/1 → ReLU → flatten, for small images such as 10×10 grids (the
    network of Young & Tian 2019's MinAtar baselines)."""
    return nn.Sequential(nn.Conv2d(in_channels, 16, kernel_size=3, stride=1), nn.ReLU(), nn.Flatten())


class SmallCNN(nn.Module):
    """``small_cnn_torso`` → the fully connected ``hidden`` widths → Linear A."""

    def __init__(self, obs_shape: tuple[int, int, int], n_actions: int, hidden: Sequence[int] = (128,)):
        super().__init__()
        self.features = small_cnn_torso(obs_shape[0])
        with torch.no_grad():
            width = self.features(torch.zeros(1, *obs_shape)).shape[1]
        self.head = MLP(width, n_actions, hidden)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image_input(obs)))  # [B, A]


def nips_torso(in_channels: int) -> nn.Sequential:
    """Conv 16·8×8/4 → 32·4×4/2 → flatten, ReLU between: the network of the first DQN paper
    (Mnih et al. 2013, section 5), which learned Pong with a 256-unit hidden layer after it.
    About half the update time of the Nature CNN on a CPU (bench/pong_torso.py)."""
    return nn.Sequential(nn.Conv2d(in_channels, 16, kernel_size=8, stride=4), nn.ReLU(),
                         nn.Conv2d(16, 32, kernel_size=4, stride=2), nn.ReLU(), nn.Flatten())


TORSOS = ("nature", "nips")  # the convolutional torsos for images of at least 36×36


def image_input(obs: torch.Tensor) -> torch.Tensor:
    """Images [B, C, H, W] as the convolutions take them: uint8 pixels scaled to [0, 1]
    (``scale_frames``), bool and float images as float."""
    return scale_frames(obs) if obs.dtype == torch.uint8 else obs.float()


def image_torso(obs_shape: tuple[int, ...], n_actions: int, hidden: Sequence[int], torso: str = "nature"
                ) -> tuple[nn.Module, int, tuple[int, ...]]:
    """(convolutional torso, its output width, the hidden widths after it) for images
    [C, H, W]. When H and W are at least 36: ``torso`` = nature, the Nature CNN's
    convolutions and one 512 layer; nips, ``nips_torso`` and one 256 layer. Smaller
    images: ``small_cnn_torso`` and ``hidden``."""
    if torso not in TORSOS:
        raise ValueError(f"unknown torso {torso!r}: one of {', '.join(TORSOS)}")
    if min(obs_shape[1:]) >= NATURE_MIN_SIZE and torso == "nips":
        convs, hidden = nips_torso(obs_shape[0]), (256,)
    elif min(obs_shape[1:]) >= NATURE_MIN_SIZE:
        convs, hidden = NatureCNN(obs_shape[0], n_actions, frame_size=obs_shape[1:]).features, (512,)
    else:
        convs = small_cnn_torso(obs_shape[0])
    with torch.no_grad():
        width = convs(torch.zeros(1, *obs_shape)).shape[1]
    return convs, width, tuple(hidden)


class MLP(nn.Module):
    """Fully connected ReLU network with the given hidden widths."""

    def __init__(self, in_features: int, n_actions: int, hidden: Sequence[int] = (64, 64)):
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(Fp32Linear(width, n_actions))
        self.net = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs.float())  # [B, A]


class NoisyLinear(nn.Module):
    """Linear layer with factorised Gaussian noise (Fortunato et al. 2018, section 3.2).

    w = μ_w + σ_w ⊙ (f(ε_out) f(ε_in)ᵀ), b = μ_b + σ_b ⊙ f(ε_out), f(x) = sgn(x)·√|x|,
    ε ~ N(0, 1). μ starts U(−1/√p, 1/√p) and σ at σ₀/√p (p inputs). Fresh noise is
    drawn on every forward pass in training mode; in eval mode the layer uses μ only.
    """

    def __init__(self, in_features: int, out_features: int, sigma0: float = 0.5):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight_mu = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.weight_sigma = nn.Parameter(torch.full((out_features, in_features), sigma0 * bound))
        self.bias_mu = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        self.bias_sigma = nn.Parameter(torch.full((out_features,), sigma0 * bound))

    @staticmethod
    def _f(x: torch.Tensor) -> torch.Tensor:
        return x.sign() * x.abs().sqrt()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return nn.functional.linear(x, self.weight_mu, self.bias_mu)
        eps_in = self._f(torch.randn(self.in_features, device=x.device))  # [p]
        eps_out = self._f(torch.randn(self.out_features, device=x.device))  # [q]
        weight = self.weight_mu + self.weight_sigma * torch.outer(eps_out, eps_in)  # [q, p]
        bias = self.bias_mu + self.bias_sigma * eps_out  # [q]
        return nn.functional.linear(x, weight, bias)


def _linear(noisy: bool, sigma0: float):
    return (lambda i, o: NoisyLinear(i, o, sigma0)) if noisy else nn.Linear


class VariantQNetwork(nn.Module):
    """A torso (convolutions for images, ``image_torso``; nothing for vectors) followed by a fully
    connected head with the variant options: obs → [B, A] (n_atoms = 1) or [B, A, N].

    Dueling (Wang et al. 2016, eq. 9): Q = V + (A − mean_a A), with its own hidden
    layer per stream as in the paper; with atoms the streams are combined per atom
    before the softmax, as in Rainbow (Hessel et al. 2018).
    """

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int, hidden: Sequence[int],
                 dueling: bool = False, noisy: bool = False, n_atoms: int = 1,
                 noisy_sigma0: float = 0.5, torso: str = "nature"):
        super().__init__()
        self.n_actions, self.n_atoms, self.dueling = n_actions, n_atoms, dueling
        self.image = len(obs_shape) == 3
        linear = _linear(noisy, noisy_sigma0)
        if self.image:
            self.torso, width, hidden = image_torso(obs_shape, n_actions, hidden, torso)
        elif len(obs_shape) == 1:
            self.torso = nn.Identity()
            width = obs_shape[0]
        else:
            raise ValueError(f"no network for observations of shape {obs_shape}")
        *shared, last = hidden
        layers: list[nn.Module] = []
        for h in shared:
            layers += [linear(width, h), nn.ReLU()]
            width = h
        self.shared = nn.Sequential(*layers)

        def stream(n_out: int) -> nn.Sequential:
            hidden_layer = linear(width, last)  # built first: init order fixes the golden traces
            out = NoisyLinear(last, n_out, noisy_sigma0) if noisy else Fp32Linear(last, n_out)
            return nn.Sequential(hidden_layer, nn.ReLU(), out)

        self.advantage = stream(n_actions * n_atoms)
        self.value = stream(n_atoms) if dueling else None

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = image_input(obs) if self.image else obs.float()  # uint8 frames → [0, 1]
        x = self.shared(self.torso(x))  # [B, width]
        adv = self.advantage(x).view(-1, self.n_actions, self.n_atoms)  # [B, A, N]
        if self.dueling:
            value = self.value(x).view(-1, 1, self.n_atoms)  # [B, 1, N]
            adv = value + adv - adv.mean(dim=1, keepdim=True)  # [B, A, N]
        return adv.squeeze(2) if self.n_atoms == 1 else adv  # [B, A] or [B, A, N]


class IQNNetwork(nn.Module):
    """Implicit quantile network (Dabney et al. 2018b, eq. 4): Z_τ(s, a) ≈ f(ψ(s) ⊙ φ(τ)),
    φ(τ) = ReLU(Σ_{i<n_cos} cos(π·i·τ)·w_i + b). forward(obs [B, ...], taus [B, N])
    → quantile values [B, A, N]."""

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int, hidden: Sequence[int],
                 n_cos: int = 64, torso: str = "nature"):
        super().__init__()
        self.image = len(obs_shape) == 3
        if self.image:
            self.torso, width, hidden = image_torso(obs_shape, n_actions, hidden, torso)
        else:
            layers: list[nn.Module] = []
            width = obs_shape[0]
            for h in hidden[:-1]:
                layers += [nn.Linear(width, h), nn.ReLU()]
                width = h
            self.torso = nn.Sequential(*layers)
        self.register_buffer("pi_i", math.pi * torch.arange(n_cos, dtype=torch.float32))
        self.tau_embed = nn.Sequential(nn.Linear(n_cos, width), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(width, hidden[-1]), nn.ReLU(), nn.Linear(hidden[-1], n_actions))

    def forward(self, obs: torch.Tensor, taus: torch.Tensor) -> torch.Tensor:
        x = image_input(obs) if self.image else obs.float()
        psi = self.torso(x)  # [B, D]
        phi = self.tau_embed(torch.cos(taus[:, :, None] * self.pi_i))  # [B, N, D]
        return self.head(psi[:, None, :] * phi).transpose(1, 2)  # [B, A, N]


def build(obs_shape: tuple[int, ...], n_actions: int, hidden: Sequence[int], *,
          dueling: bool = False, noisy: bool = False, n_atoms: int = 1,
          noisy_sigma0: float = 0.5, torso: str = "nature") -> nn.Module:
    """Nature CNN for [C, H, W] images of at least 36×36, ``SmallCNN`` for smaller ones
    (at least 3×3), MLP (with ``hidden`` widths) for [D] vectors; any variant option, or
    ``torso`` = nips, gives a ``VariantQNetwork`` with the same layer widths."""
    if len(obs_shape) == 3 and min(obs_shape[1:]) < 3:
        raise ValueError(f"no network for images of shape {obs_shape}: height and width must be at least 3")
    if dueling or noisy or n_atoms > 1 or torso != "nature":
        return VariantQNetwork(obs_shape, n_actions, hidden, dueling, noisy, n_atoms, noisy_sigma0, torso)
    if len(obs_shape) == 3 and min(obs_shape[1:]) >= NATURE_MIN_SIZE:
        return NatureCNN(obs_shape[0], n_actions, frame_size=obs_shape[1:])
    if len(obs_shape) == 3:
        return SmallCNN(obs_shape, n_actions, hidden)
    if len(obs_shape) == 1:
        return MLP(obs_shape[0], n_actions, hidden)
    raise ValueError(f"no network for observations of shape {obs_shape}")


def describe(net: nn.Module) -> str:
    """One line of the layers of ``net`` in order: conv C·K×K/S, linear N, noisy N."""
    parts = []
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            parts.append(f"conv {m.out_channels}·{m.kernel_size[0]}×{m.kernel_size[1]}/{m.stride[0]}")
        elif isinstance(m, nn.Linear):
            parts.append(f"linear {m.out_features}")
        elif isinstance(m, NoisyLinear):
            parts.append(f"noisy {m.out_features}")
    return " → ".join(parts)


def for_config(cfg, obs_shape: tuple[int, ...], n_actions: int, n_atoms: int = 1) -> nn.Module:
    """``build`` with a run config's network fields (hidden, dueling, noisy, σ₀, torso)."""
    return build(obs_shape, n_actions, cfg.hidden, dueling=cfg.dueling, noisy=cfg.noisy,
                 n_atoms=n_atoms, noisy_sigma0=cfg.noisy_sigma0, torso=cfg.torso)
