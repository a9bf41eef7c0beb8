"""export_int and int_linear: integer codes a deployment stores, integer inference equal to
the fake-quant forward."""

import pytest
import torch

import helpers

pytestmark = pytest.mark.part("export")

CODES = "int_weight = round(clip(weight / s_w, -qn, qp)) as torch.int8 (round half to even)"


def trained_layer(impl, rng, in_features, out_features, **kwargs):
    """A layer after one forward (the step sizes are initialised) and one nudge of s."""
    layer = helpers.make_quant_linear(impl, rng, in_features, out_features, **kwargs)
    layer(torch.rand(16, in_features, generator=rng))
    with torch.no_grad():
        layer.weight_quantizer.s.mul_(0.9)  # as if training had moved it from its initial value
    layer.eval()
    return layer


@pytest.mark.weight(2)
@pytest.mark.parametrize("w_bits", [4, 2, 8])
def test_codes(impl, rng, check, w_bits):
    layer = trained_layer(impl, rng, 24, 10, w_bits=w_bits, a_bits=4)
    int_weight, w_scale = impl.export_int(layer)
    check.exact("int_weight", int_weight, hint=CODES)
    check("w_scale", w_scale, hint="w_scale is the weight quantizer's step size s")
    check.exact("w_scale_shape", list(w_scale.shape), hint="w_scale has the shape of s: () per tensor")


def test_codes_times_scale_is_the_weight_used(impl, rng, check):
    layer = trained_layer(impl, rng, 12, 9, w_bits=3, a_bits=3)
    int_weight, w_scale = impl.export_int(layer)
    with torch.no_grad():
        used = layer.weight_quantizer(layer.weight)
    check("weight_used", used)
    check.exact("dequantized_minus_fake_quant", int_weight.float() * w_scale - used,
                hint="int_weight * w_scale must be exactly the weight the layer computes with")


def test_per_channel_export(impl, rng, check):
    layer = trained_layer(impl, rng, 10, 6, w_bits=4, a_bits=4, per_channel=True)
    int_weight, w_scale = impl.export_int(layer)
    check.exact("int_weight", int_weight, hint=CODES)
    check.exact("w_scale_shape", list(w_scale.shape), hint="per channel: w_scale of shape (out, 1)")
    check("w_scale", w_scale)


def test_export_leaves_the_layer_alone(impl, rng, check):
    layer = trained_layer(impl, rng, 8, 5, w_bits=4, a_bits=4)
    weight, s = layer.weight.detach().clone(), layer.weight_quantizer.s.detach().clone()
    int_weight, _ = impl.export_int(layer)
    check.exact("int_weight", int_weight, hint=CODES)
    hint = "export_int must not modify the layer's weight or step size"
    check.exact("change_to_weight", layer.weight.detach() - weight, hint=hint)
    check.exact("change_to_s", layer.weight_quantizer.s.detach() - s, hint=hint)


@pytest.mark.weight(3)
@pytest.mark.parametrize("w_bits,a_bits", [(4, 4), (2, 2), (8, 8)])
def test_int_linear_equals_fake_quant(impl, rng, check, w_bits, a_bits):
    layer = trained_layer(impl, rng, 32, 10, w_bits=w_bits, a_bits=a_bits)
    x = torch.rand(7, 32, generator=rng) * 8.0  # many inputs clip at the top of the range
    with torch.no_grad():
        y_fake = layer(x)
    y_int = impl.int_linear(layer, x)
    check("int_output", y_int, rtol=1e-5, atol=1e-5,
          hint="codes of x = round(clip(x / s_x, -qn, qp)) in int32, @ int_weight.T in int32, "
               "times s_x * s_w, plus bias")
    check.bound("max_difference_to_fake_quant", float((y_int - y_fake).abs().max()), upper=1e-4,
                hint="int_linear(layer, x) must equal layer(x) up to float rounding")


def test_int_linear_per_channel_no_bias(impl, rng, check):
    layer = trained_layer(impl, rng, 16, 5, bias=False, w_bits=4, a_bits=4, per_channel=True)
    x = torch.rand(4, 16, generator=rng) * 8.0
    with torch.no_grad():
        y_fake = layer(x)
    y_int = impl.int_linear(layer, x)
    check("int_output", y_int, rtol=1e-5, atol=1e-5,
          hint="per channel, output column j is rescaled by s_x * s_w[j]")
    check.bound("max_difference_to_fake_quant", float((y_int - y_fake).abs().max()), upper=1e-4)


def test_int_linear_signed_input(impl, rng, check):
    # a_signed=True: input codes lie in [-qn, qp]; inputs of both signs clip at both ends.
    layer = trained_layer(impl, rng, 20, 6, w_bits=4, a_bits=4, a_signed=True)
    x = torch.randn(9, 20, generator=rng) * 6.0
    with torch.no_grad():
        y_fake = layer(x)
    y_int = impl.int_linear(layer, x)
    hint = "a signed input quantizer: codes of x = round(clip(x / s_x, -qn, qp)), negative codes included"
    check("int_output", y_int, rtol=1e-5, atol=1e-5, hint=hint)
    check.bound("max_difference_to_fake_quant", float((y_int - y_fake).abs().max()), upper=1e-4, hint=hint)


def test_int_linear_batched_3d(impl, rng, check):
    layer = trained_layer(impl, rng, 12, 4, w_bits=4, a_bits=4)
    x = torch.rand(2, 3, 12, generator=rng)
    y_int = impl.int_linear(layer, x)
    check("int_output", y_int, rtol=1e-5, atol=1e-5)
    check.exact("shape", list(y_int.shape), hint="int_linear keeps the leading dimensions of x")
