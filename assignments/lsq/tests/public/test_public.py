"""Public tests: run them with `dlgrade check notebook.ipynb`. Each compares your code with a
small independent implementation in tests/helpers.py, so a failure here tells you what differs."""

import math

import pytest
import torch
import torch.nn.functional as F

import helpers


@pytest.mark.part("quantize")
def test_codes_by_hand(impl, check):
    # s = 0.25 is a power of two: every v/s below is exact, including the ties (x.5).
    s = torch.tensor(0.25)
    v_over_s = [-9.5, -8.5, -7.5, -2.5, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, 3.25, 6.5, 7.5, 12.0]
    v = torch.tensor(v_over_s) * s
    v_hat = impl.lsq_quantize(v, s, 8, 7, 1.0)
    codes = torch.round(v_hat / s).to(torch.int64).tolist()
    expected = helpers.codes_by_hand(v.tolist(), 0.25, 8, 7)
    assert codes == expected, (
        f"codes {codes}, expected {expected}: clip v/s to [-qn, qp], then round half to even "
        "(torch.round), then multiply by s")
    torch.testing.assert_close(v_hat, torch.tensor(expected, dtype=torch.float32) * s)
    check.exact("codes", torch.tensor(codes))


@pytest.mark.part("quantize")
def test_gradients_match_round_pass(impl, rng, check):
    qn, qp, g = 8, 7, 0.3
    v = (torch.randn(40, generator=rng) * 2.0).requires_grad_()
    s = torch.tensor(0.3, requires_grad=True)
    upstream = torch.randn(40, generator=rng)
    impl.lsq_quantize(v, s, qn, qp, g).backward(upstream)

    v_ref, s_ref = v.detach().clone().requires_grad_(), s.detach().clone().requires_grad_()
    helpers.lsq_by_round_pass(v_ref, s_ref, qn, qp, g).backward(upstream)
    torch.testing.assert_close(v.grad, v_ref.grad, msg="grad of v: 1 strictly inside the range, 0 outside")
    torch.testing.assert_close(s.grad, s_ref.grad, **helpers.S_GRAD_TOL,
                               msg="grad of s: g * sum(upstream * (round(v/s) - v/s inside, -qn or qp outside))")
    check("grad_v", v.grad)
    check("grad_s", s.grad, **helpers.S_GRAD_TOL)


@pytest.mark.part("quantizer")
def test_init_and_range(impl, rng, check):
    quantizer = impl.LSQQuantizer(4, signed=True)
    assert (quantizer.qn, quantizer.qp) == helpers.qrange(4, True), "signed 4 bits: qn = 8, qp = 7"
    v = torch.randn(16, 32, generator=rng)
    v_hat = quantizer(v)
    expected_s = 2 * v.abs().mean() / math.sqrt(7)
    torch.testing.assert_close(quantizer.s.detach(), expected_s,
                               msg="s must be initialised on the first forward to 2 * mean|v| / sqrt(qp)")
    codes = torch.round(v_hat / quantizer.s).detach()
    assert codes.min() >= -8 and codes.max() <= 7, "codes outside [-8, 7]"
    check("s", quantizer.s.detach())


@pytest.mark.part("quant_linear")
def test_quant_linear_forward(impl, rng, check):
    layer = helpers.make_quant_linear(impl, rng, 20, 12, w_bits=4, a_bits=4)
    x = torch.rand(6, 20, generator=rng)
    y = layer(x)
    s_x, s_w = layer.input_quantizer.s.detach(), layer.weight_quantizer.s.detach()
    x_hat = helpers.lsq_by_round_pass(x, s_x, 0, 15, 1.0)
    w_hat = helpers.lsq_by_round_pass(layer.weight.detach(), s_w, 8, 7, 1.0)
    torch.testing.assert_close(y, F.linear(x_hat, w_hat, layer.bias),
                               msg="y = quantized input @ quantized weight.T + bias (bias in float)")
    check("output", y)


@pytest.mark.part("export")
def test_integer_inference(impl, rng, check):
    layer = helpers.make_quant_linear(impl, rng, 20, 12, w_bits=4, a_bits=4)
    x = torch.rand(6, 20, generator=rng)
    layer.eval()
    with torch.no_grad():
        y_fake = layer(x)
    int_weight, w_scale = impl.export_int(layer)
    assert int_weight.dtype == torch.int8, f"int_weight must be torch.int8, got {int_weight.dtype}"
    assert int(int_weight.min()) >= -8 and int(int_weight.max()) <= 7, "4-bit codes must lie in [-8, 7]"
    torch.testing.assert_close(int_weight.float() * w_scale, layer.weight_quantizer(layer.weight).detach(),
                               msg="int_weight * w_scale must be exactly the weight the layer computes with")
    y_int = impl.int_linear(layer, x)
    torch.testing.assert_close(y_int, y_fake, rtol=1e-5, atol=1e-5,
                               msg="integer inference must equal the fake-quant forward")
    check.exact("int_weight", int_weight)
    check("int_output", y_int)


@pytest.mark.part("train")
@pytest.mark.timeout(120)
def test_short_training(impl, seed, check):
    model, test_accuracy = impl.train_qat(w_bits=4, a_bits=4, epochs=5, seed=seed)
    measured = helpers.measured_accuracy(model)
    assert abs(measured - test_accuracy) < 1e-6, (
        f"train_qat returned {test_accuracy:.4f} but the model scores {measured:.4f} on the test images")
    assert test_accuracy > 0.85, f"W4A4 after 5 epochs should pass 85%, got {test_accuracy:.1%}"
    check.bound("test_accuracy", test_accuracy, lower=0.85,
                hint="after 5 epochs at W4A4 the reference is above 90%")
