"""A linear layer that computes with quantized weights and quantized inputs (fake-quant), and
the small MLP trained on the digits."""

import torch.nn as nn
import torch.nn.functional as F

from .quantize import LSQQuantizer


class QuantLinear(nn.Linear):
    """y = x_hat @ w_hat.T + bias, where x_hat and w_hat are LSQ-quantized; bias stays float.

    w_bits / a_bits: bit widths of the weight and of the input; None keeps that side in float.
    The weight's codes are signed; the input's are unsigned unless a_signed (inputs here follow
    a ReLU or are pixels, never negative).
    """

    def __init__(self, in_features, out_features, bias=True, w_bits=4, a_bits=4, per_channel=False,
                 a_signed=False):
        super().__init__(in_features, out_features, bias=bias)
        ### BEGIN SOLUTION
        self.weight_quantizer = (
            LSQQuantizer(w_bits, signed=True, per_channel=per_channel, channel_dim=0) if w_bits else None
        )
        self.input_quantizer = LSQQuantizer(a_bits, signed=a_signed, batch_dim=0) if a_bits else None
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        x_hat = self.input_quantizer(x) if self.input_quantizer is not None else x
        w_hat = self.weight_quantizer(self.weight) if self.weight_quantizer is not None else self.weight
        return F.linear(x_hat, w_hat, self.bias)
        ### END SOLUTION


class MLP(nn.Module):
    """64 pixels -> hidden -> hidden -> 10 classes, every layer a QuantLinear."""

    def __init__(self, hidden=128, w_bits=4, a_bits=4):
        super().__init__()
        self.fc1 = QuantLinear(64, hidden, w_bits=w_bits, a_bits=a_bits)
        self.fc2 = QuantLinear(hidden, hidden, w_bits=w_bits, a_bits=a_bits)
        self.fc3 = QuantLinear(hidden, 10, w_bits=w_bits, a_bits=a_bits)

    def forward(self, x):                 # x: (B, 64), pixels / 16
        x = F.relu(self.fc1(x))           # (B, hidden)
        x = F.relu(self.fc2(x))           # (B, hidden)
        return self.fc3(x)                # (B, 10) logits
