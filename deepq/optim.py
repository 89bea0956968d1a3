"""Optimizers that clip their gradients as part of the step: ``ClippedAdam``, and
``MasterAdam``, Adam over fp32 master weights for a network that trains through a bf16
copy. With either, a gradient step is ``zero_grad``, ``backward``, ``step``.

Under bf16 autocast every update casts each fp32 weight to bf16 for the forward pass,
casts each bf16 weight gradient back to a new fp32 tensor, clamps it in another pass,
and only then runs Adam. Inside the training loop, on a 2-core CPU whose cache does
not hold all of it, the two casts of the Nature CNN's 3136×512 layer alone took ~3 ms
of a ~15 ms update (bench/speed-log.md). ``MasterAdam`` removes those passes: the update's
network passes read ``low``, a copy of the network whose weights are already bf16
(``networks.autocast_copy``), and one ``torch.compile``d kernel reads its bf16
gradients, clips them in fp32, updates the fp32 weights and Adam moments of
``master``, and writes the rounded weights back into ``low``. The numbers are those of
autocast with ``clip_gradients`` and ``torch.optim.Adam``, up to rounding: the
same bf16 weights reach the passes, and the same gradients reach Adam.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _clipped_adam_(grads: list[torch.Tensor], params: list[torch.Tensor], exp_avgs: list[torch.Tensor],
                   exp_avg_sqs: list[torch.Tensor], steps: list[torch.Tensor], lows: list[torch.Tensor],
                   step_size: torch.Tensor, bias_correction2_sqrt: torch.Tensor, beta1: float,
                   beta2: float, eps: float, max_norm: float, max_value: float) -> None:
    """One Adam step in place (PyTorch's order of operations), after clipping the
    gradients like ``clip_gradients``: per element to ±max_value, then the global
    L2 norm to max_norm (0 = off). ``lows`` receive the new weights, rounded to their
    dtype. The bias-corrected step size and √(1 − β₂ᵗ) come in as 0-d tensors: one graph
    serves every step, and the kernel does not recompute them per element."""
    gs = [g.float() for g in grads]
    if max_value > 0:
        gs = [g.clamp(-max_value, max_value) for g in gs]
    if max_norm > 0:  # torch.nn.utils.clip_grad_norm_'s coefficient
        total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in gs]))
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        gs = [g * coef for g in gs]
    for step in steps:
        step.add_(1)
    for g, p, m, v, low in zip(gs, params, exp_avgs, exp_avg_sqs, lows):
        m.lerp_(g, 1 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        p.sub_(step_size * m / (v.sqrt() / bias_correction2_sqrt + eps))
        low.copy_(p)


def clip_gradients(parameters, max_norm: float = 0.0, max_value: float = 0.0) -> None:
    """Clip gradients in place: max_value > 0 clamps each element to [−v, v], then
    max_norm > 0 rescales the global L2 norm to at most max_norm.

    The design document's ``param.grad.data.clamp(-1, 1)`` returns a clipped copy and
    discards it, so it never clipped anything; ``clamp_`` and ``clip_grad_norm_`` write
    in place.
    """
    params = [p for p in parameters if p.grad is not None]
    if max_value > 0:  # one clamp_ per tensor: clip_grad_value_ makes two passes (~2× slower)
        for p in params:
            p.grad.clamp_(-max_value, max_value)
    if max_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, max_norm)


class ClippedAdam(torch.optim.Adam):
    """``torch.optim.Adam`` that clips the gradients (``clip_gradients``) before each step."""

    def __init__(self, params, *, max_grad_norm: float = 0.0, max_grad_value: float = 0.0, **adam):
        super().__init__(params, **adam)
        self.max_grad_norm, self.max_grad_value = max_grad_norm, max_grad_value

    def step(self, closure=None):
        clip_gradients((p for g in self.param_groups for p in g["params"]),
                       self.max_grad_norm, self.max_grad_value)
        return super().step(closure)


class MasterAdam(torch.optim.Adam):
    """``torch.optim.Adam`` on ``master``'s fp32 parameters whose gradients come from
    ``low`` (same layout, conv and linear weights in bf16), clipping included.

    The state dict is Adam's, so checkpoints move between this and plain Adam.
    ``compile=False`` runs the same step eagerly (slower than plain fused Adam: it is
    for checking the compiled kernel).
    """

    def __init__(self, master: nn.Module, low: nn.Module, lr: float, eps: float,
                 max_grad_norm: float = 0.0, max_grad_value: float = 0.0, compile: bool = True):
        self.master_params = [p for p in master.parameters() if p.requires_grad]
        self.low_params = [p for p in low.parameters() if p.requires_grad]
        if [p.shape for p in self.master_params] != [p.shape for p in self.low_params]:
            raise ValueError("master and low networks differ in layout")
        super().__init__(self.master_params, lr=lr, eps=eps)
        self.max_grad_norm, self.max_grad_value = max_grad_norm, max_grad_value
        self._kernel = torch.compile(_clipped_adam_, dynamic=False) if compile else _clipped_adam_
        self._state_lists = None  # (exp_avgs, exp_avg_sqs, steps), rebuilt after a load

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.low_params:
            p.grad = None

    def load_state_dict(self, state_dict) -> None:
        super().load_state_dict(state_dict)
        self._state_lists = None

    @torch.no_grad()
    def step(self, closure=None):
        assert closure is None, "MasterAdam takes no closure"
        if self._state_lists is None:
            for p in self.master_params:
                state = self.state[p]
                if not state:  # the layout of torch.optim.Adam's state
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            self._state_lists = tuple([self.state[p][k] for p in self.master_params]
                                      for k in ("exp_avg", "exp_avg_sq", "step"))
        exp_avgs, exp_avg_sqs, steps = self._state_lists
        (group,) = self.param_groups
        beta1, beta2 = group["betas"]
        t = int(steps[0]) + 1  # the kernel adds 1 to each parameter's step tensor
        step_size = torch.tensor(group["lr"] / (1 - beta1 ** t))
        bias_correction2_sqrt = torch.tensor(math.sqrt(1 - beta2 ** t))
        self._kernel([p.grad for p in self.low_params], self.master_params, exp_avgs, exp_avg_sqs,
                     steps, self.low_params, step_size, bias_correction2_sqrt, beta1, beta2,
                     group["eps"], self.max_grad_norm, self.max_grad_value)
