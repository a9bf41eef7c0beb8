"""QuantLinear: quantized input and weight, float bias, the same path in train and eval."""

import copy

import pytest
import torch

import helpers

pytestmark = pytest.mark.part("quant_linear")

FORWARD = ("y = input_quantizer(x) @ weight_quantizer(weight).T + bias: the weight's codes are signed, "
           "the input's unsigned (unless a_signed), and the bias is added in float")


def run_layer(layer, x, rng):
    """Forward and backward with a random upstream gradient."""
    x = x.clone().requires_grad_()
    y = layer(x)
    y.backward(torch.randn(y.shape, generator=rng))
    return x, y


def test_structure(impl, rng, check):
    layer = helpers.make_quant_linear(impl, rng, 8, 3, w_bits=3, a_bits=5)
    check.exact("torch_bases", [f"{cls.__module__}.{cls.__qualname__}" for cls in type(layer).__mro__
                                if cls.__module__.startswith("torch.")],
                hint="QuantLinear subclasses nn.Linear")
    # What each quantizer makes of values on both sides of zero tells its bits and sign apart.
    probe = torch.linspace(-1.0, 1.0, 41).reshape(1, 41)
    check.exact("weight_quantizer_bits", layer.weight_quantizer.bits)
    check("weight_quantizer_on_a_probe", copy.deepcopy(layer.weight_quantizer)(probe).detach(),
          hint="layer.weight_quantizer: an LSQQuantizer(w_bits, signed=True)")
    check.exact("input_quantizer_bits", layer.input_quantizer.bits)
    check("input_quantizer_on_a_probe", copy.deepcopy(layer.input_quantizer)(probe).detach(),
          hint="layer.input_quantizer: an LSQQuantizer(a_bits, signed=False) by default")
    check.exact("weight_shape", list(layer.weight.shape))
    check("output", layer(torch.rand(4, 8, generator=rng)), hint="y = x_hat @ w_hat.T + bias")


@pytest.mark.weight(2)
@pytest.mark.parametrize("w_bits,a_bits", [(4, 4), (2, 2), (8, 3)])
def test_forward_and_backward(impl, rng, check, w_bits, a_bits):
    layer = helpers.make_quant_linear(impl, rng, 20, 12, w_bits=w_bits, a_bits=a_bits)
    x, y = run_layer(layer, torch.rand(6, 20, generator=rng) * 2.0, rng)
    check("output", y, hint=FORWARD)
    check("s_input", layer.input_quantizer.s.detach(), hint="initialise the input's s from the input x")
    check("s_weight", layer.weight_quantizer.s.detach(), hint="initialise the weight's s from the weight")
    check("grad_x", x.grad)
    check("grad_weight", layer.weight.grad)
    check("grad_bias", layer.bias.grad)
    check("grad_s_input", layer.input_quantizer.s.grad, **helpers.S_GRAD_TOL,
          hint="the input quantizer's g uses N = x.numel() // x.shape[0] (batch_dim=0)")
    check("grad_s_weight", layer.weight_quantizer.s.grad, **helpers.S_GRAD_TOL,
          hint="the weight quantizer's g uses N = weight.numel()")


@pytest.mark.weight(2)
def test_bias_stays_float(impl, rng, check):
    layer = helpers.make_quant_linear(impl, rng, 10, 7, w_bits=2, a_bits=2)
    with torch.no_grad():
        layer.bias.copy_(torch.randn(7, generator=rng) * 3.0)  # far from the weight's 2-bit grid
    x, y = run_layer(layer, torch.rand(4, 10, generator=rng), rng)
    check("output", y, hint="the bias is not quantized: add layer.bias as it is")
    check("grad_bias", layer.bias.grad)


@pytest.mark.weight(2)
def test_eval_takes_the_same_path(impl, rng, check):
    layer = helpers.make_quant_linear(impl, rng, 16, 5, w_bits=3, a_bits=3)
    x = torch.rand(8, 16, generator=rng)
    y_train = layer(x).detach()
    layer.eval()
    with torch.no_grad():
        y_eval = layer(x)
    hint = "eval mode must quantize exactly as training does (the model is evaluated as trained)"
    check("eval_output", y_eval, hint=hint)
    check.exact("eval_minus_train", y_eval - y_train, hint=hint)


def test_float_sides(impl, rng, check):
    weight_only = helpers.make_quant_linear(impl, rng, 12, 6, w_bits=4, a_bits=None)
    input_only = helpers.make_quant_linear(impl, rng, 12, 6, w_bits=None, a_bits=4)
    plain = helpers.make_quant_linear(impl, rng, 12, 6, w_bits=None, a_bits=None)
    x = torch.rand(5, 12, generator=rng)
    check.exact("quantizer_types", [type(q).__name__ for q in (weight_only.input_quantizer, input_only.weight_quantizer,
                                                                plain.input_quantizer, plain.weight_quantizer)],
                hint="w_bits=None or a_bits=None: that quantizer is None and that side stays in float")
    check("weight_only_output", weight_only(x))
    check("input_only_output", input_only(x))
    check("float_output", plain(x), hint="with no quantization QuantLinear is an ordinary nn.Linear")


def test_per_channel_weights(impl, rng, check):
    layer = helpers.make_quant_linear(impl, rng, 9, 4, w_bits=4, a_bits=4, per_channel=True)
    with torch.no_grad():
        layer.weight.mul_(torch.tensor([[0.1], [1.0], [3.0], [0.5]]))  # rows of different scales
    x, y = run_layer(layer, torch.rand(3, 9, generator=rng), rng)
    check.exact("s_weight_shape", list(layer.weight_quantizer.s.shape),
                hint="per_channel=True: one weight step size per output row, s of shape (out, 1)")
    check("output", y)
    check("grad_s_weight", layer.weight_quantizer.s.grad, **helpers.S_GRAD_TOL)


@pytest.mark.weight(2)
def test_three_dimensional_input(impl, rng, check):
    layer = helpers.make_quant_linear(impl, rng, 8, 6, w_bits=4, a_bits=4)
    x, y = run_layer(layer, torch.rand(2, 5, 8, generator=rng), rng)
    check("output", y)
    check("grad_x", x.grad)
    check("grad_s_input", layer.input_quantizer.s.grad, **helpers.S_GRAD_TOL,
          hint="for an input of shape (B, T, in), N = T * in (the elements of one sample)")


def test_no_bias(impl, rng, check):
    layer = helpers.make_quant_linear(impl, rng, 7, 5, bias=False, w_bits=4, a_bits=4)
    check.exact("bias_type", type(layer.bias).__name__, hint="bias=False: layer.bias is None")
    x, y = run_layer(layer, torch.rand(3, 7, generator=rng), rng)
    check("output", y)
    check("grad_weight", layer.weight.grad)


def test_signed_input(impl, rng, check):
    layer = helpers.make_quant_linear(impl, rng, 10, 4, w_bits=4, a_bits=4, a_signed=True)
    x, y = run_layer(layer, torch.randn(6, 10, generator=rng), rng)
    check("output", y, hint="a_signed=True: the input's codes are in [-2^(a_bits-1), 2^(a_bits-1) - 1]")
    check("grad_x", x.grad)
