"""Q-networks in TensorFlow, built from the torch network of the same config.

``QNetwork`` reads the layer plan and the initial weights off the torch module that
``deepq.networks.for_config`` builds (Nature CNN, small CNN, MLP, and the dueling head),
so a TensorFlow run starts from the very weights a torch run with the same seed starts
from (torch's U(±1/√fan_in), not Keras's Glorot), and a checkpoint is one format for
both backends. Its variables hold the TensorFlow layout; ``to_torch`` and
``from_torch`` convert each tensor:

- a convolution kernel: torch OIHW ↔ TensorFlow HWIO (TensorFlow's CPU convolutions
  take NHWC images, so frames [B, C, H, W] are transposed once at the input);
- a dense kernel: torch [out, in] ↔ TensorFlow [in, out];
- a dense layer that reads the convolutions' output: flattening NHWC orders its inputs
  (h, w, c), torch's NCHW orders them (c, h, w), so its kernel's rows are permuted.

uint8 frames are scaled by 1/255 inside the graph, as in torch. Noisy layers and
distributional heads are not ported.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import torch
from torch import nn

from deepq import networks


def _conv_output(in_chw: tuple[int, int, int], convs: list[nn.Conv2d]) -> tuple[int, int, int]:
    """(C, H, W) after the valid convolutions ``convs``."""
    _, h, w = in_chw
    for c in convs:
        (kh, kw), (sh, sw) = c.kernel_size, c.stride
        h, w = (h - kh) // sh + 1, (w - kw) // sw + 1
    return convs[-1].out_channels, h, w


class QNetwork(tf.Module):
    """obs [B, *obs_shape] → Q-values [B, A], with the layers of ``torch_net``."""

    def __init__(self, torch_net: nn.Module, obs_shape: tuple[int, ...]):
        super().__init__()
        if any(isinstance(m, (networks.NoisyLinear, networks.IQNNetwork)) for m in torch_net.modules()) \
                or getattr(torch_net, "n_atoms", 1) != 1:
            raise ValueError(f"no TensorFlow port of {type(torch_net).__name__} with these options")
        named = [(k, m) for k, m in torch_net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        self.image = len(obs_shape) == 3
        self.convs = [(k, m.stride[0]) for k, m in named if isinstance(m, nn.Conv2d)]
        dense = [k for k, m in named if isinstance(m, nn.Linear)]
        # a dueling head (VariantQNetwork) has two streams after the shared layers
        self.value = [k for k in dense if k.startswith("value.")]
        self.chain = [k for k in dense if k not in self.value]  # shared layers, then advantages
        self.split = len([k for k in self.chain if not k.startswith("advantage.")])
        # the dense layers that read the flattened convolutions, and the (C, H, W) they flatten
        readers = [dense[0]] + ([self.value[0]] if self.value and self.split == 0 else [])
        self.flat_keys = set(readers) if self.convs else set()
        self.flat_chw = _conv_output(obs_shape, [m for _, m in named if isinstance(m, nn.Conv2d)]) \
            if self.convs else None
        self.vars: dict[str, tf.Variable] = {}
        for key, t in torch_net.state_dict().items():
            self.vars[key] = tf.Variable(self.from_torch(key, t), name=key.replace(".", "_"))
        self.trainable = [self.vars[k] for k in torch_net.state_dict()]

    # -- the layout conversion -----------------------------------------------------------

    def from_torch(self, key: str, t: torch.Tensor) -> np.ndarray:
        """A torch state_dict tensor in this network's TensorFlow layout."""
        a = t.detach().cpu().numpy()
        if a.ndim == 4:  # conv OIHW → HWIO
            return np.ascontiguousarray(a.transpose(2, 3, 1, 0))
        if a.ndim == 2:
            if key.rsplit(".", 1)[0] in self.flat_keys:  # [out, C·H·W] → [H·W·C, out]
                c, h, w = self.flat_chw
                return np.ascontiguousarray(a.reshape(-1, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, -1))
            return np.ascontiguousarray(a.T)  # [out, in] → [in, out]
        return a

    def to_torch(self, key: str, a: np.ndarray) -> torch.Tensor:
        """This network's TensorFlow-layout array for ``key`` as the torch state_dict holds it."""
        if a.ndim == 4:  # HWIO → OIHW
            a = a.transpose(3, 2, 0, 1)
        elif a.ndim == 2:
            if key.rsplit(".", 1)[0] in self.flat_keys:  # [H·W·C, out] → [out, C·H·W]
                c, h, w = self.flat_chw
                a = a.reshape(h, w, c, -1).transpose(3, 2, 0, 1).reshape(-1, c * h * w)
            else:
                a = a.T
        return torch.from_numpy(np.ascontiguousarray(a))

    # -- the forward pass ----------------------------------------------------------------

    def _dense(self, key: str, x: tf.Tensor, relu: bool) -> tf.Tensor:
        x = tf.matmul(x, self.vars[key + ".weight"]) + self.vars[key + ".bias"]
        return tf.nn.relu(x) if relu else x

    def __call__(self, obs: tf.Tensor) -> tf.Tensor:
        if obs.dtype == tf.uint8:
            x = tf.cast(obs, tf.float32) * (1.0 / 255.0)
        else:
            x = tf.cast(obs, tf.float32)
        if self.convs:
            x = tf.transpose(x, (0, 2, 3, 1))  # [B, C, H, W] → [B, H, W, C]
            for key, stride in self.convs:
                x = tf.nn.conv2d(x, self.vars[key + ".weight"], stride, "VALID") + self.vars[key + ".bias"]
                x = tf.nn.relu(x)
            x = tf.reshape(x, (-1, int(np.prod(self.flat_chw))))  # flattened (h, w, c)
        last = len(self.chain) - 1
        for i, key in enumerate(self.chain[:self.split]):  # shared layers (all of an MLP's)
            x = self._dense(key, x, relu=i != last)
        if self.split == len(self.chain):
            return x  # [B, A]
        adv = x
        for i, key in enumerate(self.chain[self.split:]):
            adv = self._dense(key, adv, relu=self.split + i != last)  # [B, A]
        if not self.value:
            return adv
        value = x
        for i, key in enumerate(self.value):
            value = self._dense(key, value, relu=i != len(self.value) - 1)  # [B, 1]
        return value + adv - tf.reduce_mean(adv, axis=1, keepdims=True)  # [B, A]

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The variables as the torch network's state_dict."""
        return {k: self.to_torch(k, v.numpy()) for k, v in self.vars.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for k, v in self.vars.items():
            v.assign(self.from_torch(k, state[k]))
