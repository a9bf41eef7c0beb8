"""QLoRA: LoRA on top of a frozen base weight stored in NF4 (Dettmers et al., 2023).

The base weight is quantized once, at construction, and only the packed codes and the
(double-quantized) block statistics are kept: about 4.127 bits per weight instead of 16. Every
forward pass dequantizes the weight to the input's dtype for one matmul and drops it again.

The backward pass needs W too (grad_x = grad_y @ W). Had forward used a plain
`F.linear(x, dequantize(...))`, autograd would keep every layer's dequantized W alive from the
forward to the backward pass, and the training peak would hold as many bytes as the bf16
model. `NF4Matmul` saves nothing of the weight and dequantizes it again in backward: a little
more arithmetic for a quarter of the memory.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .double_quant import double_dequantize, double_quantize
from .lora import LoRALinear
from .nf4 import dequantize_nf4, quantize_nf4

DEQUANT_CHUNK = 1 << 22  # values dequantized at once: 16 MiB of int32 indices and of float32 values


class NF4Matmul(torch.autograd.Function):
    """y = x @ W^T for the frozen 4-bit weight of `layer` (no gradient for W).

    Nothing of the weight is saved for backward: `ctx` keeps the layer, whose buffers already
    hold the 4-bit weight, and backward dequantizes it a second time."""

    @staticmethod
    def forward(ctx, x, layer):
        ### BEGIN SOLUTION
        weight = layer.dequantized_weight(x.dtype)  # (out, in), transient
        ctx.layer = layer
        return F.linear(x, weight)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_out):
        ### BEGIN SOLUTION
        grad_x = None
        if ctx.needs_input_grad[0]:
            weight = ctx.layer.dequantized_weight(grad_out.dtype)  # (out, in), transient again
            grad_x = grad_out @ weight  # (..., in)
        return grad_x, None
        ### END SOLUTION


class QLoRALinear(nn.Module):
    """A frozen NF4 copy of `base` plus a trainable LoRA adapter in `base`'s dtype."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, blocksize: int = 64, double_quant: bool = True):
        super().__init__()
        ### BEGIN SOLUTION
        if r <= 0:
            raise ValueError(f"LoRA rank r must be positive, got {r}")
        weight = base.weight.detach()
        self.in_features, self.out_features = base.in_features, base.out_features
        self.r, self.alpha, self.scaling = r, alpha, alpha / r
        self.blocksize, self.double_quant = blocksize, double_quant

        packed, absmax = quantize_nf4(weight, blocksize)
        # Buffers, not attributes: they move with .to(device) and are saved in state_dict.
        self.register_buffer("packed_weight", packed)  # (ceil(out*in / 2),) uint8
        if double_quant:
            absmax_q, absmax_scale, absmax_offset = double_quantize(absmax)
            self.register_buffer("absmax_q", absmax_q)  # (n_blocks,) int8
            self.register_buffer("absmax_scale", absmax_scale)  # (ceil(n_blocks / 256),) float32
            self.register_buffer("absmax_offset", absmax_offset)  # () float32
        else:
            self.register_buffer("absmax", absmax)  # (n_blocks,) float32
        if base.bias is not None:
            self.bias = nn.Parameter(base.bias.detach().clone(), requires_grad=False)
        else:
            self.bias = None

        factory = {"dtype": weight.dtype, "device": weight.device}
        self.lora_A = nn.Parameter(torch.empty(r, self.in_features, **factory))  # (r, in)
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, r, **factory))  # (out, r)
        nn.init.kaiming_uniform_(self.lora_A, a=5 ** 0.5)
        ### END SOLUTION

    def block_absmax(self) -> torch.Tensor:
        """The float32 absmax of every block (double-dequantized with double_quant)."""
        ### BEGIN SOLUTION
        if self.double_quant:
            return double_dequantize(self.absmax_q, self.absmax_scale, self.absmax_offset)
        return self.absmax
        ### END SOLUTION

    def dequantized_weight(self, dtype=torch.float32) -> torch.Tensor:
        """The frozen weight (out, in) in `dtype`. Dequantized DEQUANT_CHUNK values at a time, so
        that the int32 indices and float32 values of dequantize_nf4 never exist for the whole
        matrix at once: the transient is the output plus a few MiB."""
        ### BEGIN SOLUTION
        absmax = self.block_absmax()
        n = self.out_features * self.in_features
        weight = torch.empty(n, dtype=dtype, device=self.packed_weight.device)  # (out * in,)
        step = 2 * self.blocksize * max(1, DEQUANT_CHUNK // (2 * self.blocksize))  # whole blocks, an even count
        for start in range(0, n, step):
            stop = min(start + step, n)
            weight[start:stop] = dequantize_nf4(
                self.packed_weight[start // 2:(stop + 1) // 2],
                absmax[start // self.blocksize:math.ceil(stop / self.blocksize)],
                (stop - start,),
                self.blocksize,
            )
        return weight.view(self.out_features, self.in_features)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        out = NF4Matmul.apply(x, self)
        if self.bias is not None:
            out = out + self.bias.to(out.dtype)
        update = F.linear(F.linear(x, self.lora_A.to(x.dtype)), self.lora_B.to(x.dtype))  # (..., out)
        return out + update * self.scaling
        ### END SOLUTION


def inject_lora(model: nn.Module, target_modules, r: int, alpha: float, quantize: bool = False) -> nn.Module:
    """Freeze `model` and wrap each `nn.Linear` whose attribute name is in `target_modules` in a
    LoRALinear (QLoRALinear with `quantize=True`), in place. Only the adapters train."""
    ### BEGIN SOLUTION
    targets = set(target_modules)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    replaced = 0
    for parent in list(model.modules()):  # a snapshot: the new wrappers are not visited
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear) and name in targets:
                adapter = QLoRALinear(child, r, alpha) if quantize else LoRALinear(child, r, alpha)
                setattr(parent, name, adapter)
                replaced += 1
    if replaced == 0:
        raise ValueError(f"no nn.Linear named any of {sorted(targets)} in the model")
    return model
    ### END SOLUTION


def trainable_parameters(model: nn.Module) -> int:
    """The number of parameters that the optimizer updates."""
    ### BEGIN SOLUTION
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
    ### END SOLUTION
