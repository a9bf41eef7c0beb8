"""Shared by the LSQ tests (importable as `helpers`).

Nothing here is the reference: the public tests compare the student's code with these small,
independent implementations, and the hidden tests use them only to build inputs.
"""

import math

import torch
import torch.nn as nn

# The models here are tiny: one thread is fastest, and the grading machine's cores are shared.
torch.set_num_threads(1)

# Tolerances for a step size's gradient: it is a sum over every element that shares the step
# size, so a different (valid) summation order moves it by more than fp32's default rtol.
S_GRAD_TOL = {"rtol": 1e-4, "atol": 1e-6}


def qrange(bits, signed):
    """(qn, qp) of the conventions: signed [-2^(b-1), 2^(b-1)-1], unsigned [0, 2^b-1]."""
    return (2 ** (bits - 1), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)


def codes_by_hand(values, s, qn, qp):
    """Integer codes one element at a time in Python: Python's round() is half to even."""
    return [int(round(min(max(value / s, -qn), qp))) for value in values]


def lsq_by_round_pass(v, s, qn, qp, g):
    """LSQ written with the paper's two tricks (Appendix, "gradscale" and "roundpass"): the value
    is x, the gradient flows as if through y. Independent of the explicit autograd.Function.
    It differs from eq. 3 only when v/s is exactly -qn or qp (torch.clamp's gradient counts the
    ends as inside), so compare with it away from the ends."""
    s_scaled = (s - s * g).detach() + s * g           # value s, gradient times g
    v_over_s = torch.clamp(v / s_scaled, -qn, qp)
    rounded = (torch.round(v_over_s) - v_over_s).detach() + v_over_s  # value round(), gradient 1
    return rounded * s_scaled


def random_step(rng, shape=(), low=0.05, high=0.3, dtype=torch.float32):
    return (torch.rand(shape, generator=rng, dtype=dtype) * (high - low) + low)


def make_quant_linear(impl, rng, in_features, out_features, **kwargs):
    """A QuantLinear whose weight and bias are drawn from `rng` (not from its own init)."""
    layer = impl.QuantLinear(in_features, out_features, **kwargs)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(out_features, in_features, generator=rng) / math.sqrt(in_features))
        if layer.bias is not None:
            layer.bias.copy_(torch.randn(out_features, generator=rng) * 0.1)
    return layer


def digits_test_split():
    """The test images of the conventions (index % 5 == 0), pixels / 16, loaded here so that
    the accuracy a test measures does not depend on the submission's own loader."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.int64)
    is_test = torch.arange(len(y)) % 5 == 0
    return x[is_test], y[is_test]


@torch.no_grad()
def measured_accuracy(model):
    x_test, y_test = digits_test_split()
    model.eval()
    return int((model(x_test).argmax(dim=1) == y_test).sum()) / len(y_test)


def linear_layers(model):
    return [module for module in model.modules() if isinstance(module, nn.Linear)]


def module_modes(model):
    """{"model": mode, "<layer name>": mode, ...} for the model and its linear layers, each mode
    the string "train" or "eval": the module's own flag, under names the MLP of the notebook fixes."""
    named = [("model", model)] + [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    return {name: "train" if module.training else "eval" for name, module in named}


def layer_bits(model):
    """[[w_bits, a_bits], ...] per linear layer; None where that side is not quantized."""
    bits = []
    for layer in linear_layers(model):
        weight_q = getattr(layer, "weight_quantizer", None)
        input_q = getattr(layer, "input_quantizer", None)
        bits.append([getattr(weight_q, "bits", None), getattr(input_q, "bits", None)])
    return bits


@torch.no_grad()
def distinct_weight_values(model):
    """The most distinct values any layer's quantized weight takes."""
    most = 0
    for layer in linear_layers(model):
        weight_q = getattr(layer, "weight_quantizer", None)
        weight = weight_q(layer.weight) if weight_q is not None else layer.weight
        most = max(most, int(torch.unique(weight).numel()))
    return most
