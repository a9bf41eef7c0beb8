"""LSQQuantizer: ranges, the step size's initialisation (once), and the gradient scale g."""

import pytest
import torch

import helpers

pytestmark = pytest.mark.part("quantizer")

INIT = "on the first forward, s = 2 * mean|v| / sqrt(qp)"
G_HINT = ("g = 1 / sqrt(N * qp) where N counts the elements of ONE sample that share one step size: "
          "weights: numel (per tensor) or numel per channel; activations: numel / batch size")


def measured_g(impl, quantizer, v, rng):
    """Run the quantizer's forward and backward, then the same with lsq_quantize and g = 1: the
    ratio of the two gradients of s is the g the quantizer used."""
    quantizer(v)                                   # initialises s
    with torch.no_grad():
        quantizer.s.mul_(0.25)                     # most elements now clip: s.grad is far from 0
    quantizer.s.grad = None
    upstream = torch.rand(v.shape, generator=rng) + 0.5
    quantizer(v).backward(upstream)
    s_plain = quantizer.s.detach().clone().requires_grad_()
    impl.lsq_quantize(v, s_plain, quantizer.qn, quantizer.qp, 1.0).backward(upstream)
    return quantizer.s.grad / s_plain.grad


@pytest.mark.parametrize("signed", [True, False])
def test_ranges(impl, check, signed):
    ranges = []
    for bits in range(2, 9):
        quantizer = impl.LSQQuantizer(bits, signed=signed)
        ranges.append([int(quantizer.qn), int(quantizer.qp)])
    check.exact("qn_qp_for_2_to_8_bits", ranges,
                hint="signed: qn = 2^(b-1), qp = 2^(b-1) - 1; unsigned: qn = 0, qp = 2^b - 1 (qn is a positive count)")


@pytest.mark.parametrize("bits,signed", [(2, True), (4, True), (3, False)])
def test_codes_stay_in_range(impl, rng, check, bits, signed):
    quantizer = impl.LSQQuantizer(bits, signed=signed)
    v = torch.randn(400, generator=rng) * 5.0
    v_hat = quantizer(v).detach()
    codes = torch.round(v_hat / quantizer.s.detach())
    check.exact("code_range", [int(codes.min()), int(codes.max())])
    check("v_hat", v_hat)


@pytest.mark.weight(2)
def test_init_per_tensor(impl, rng, check):
    quantizer = impl.LSQQuantizer(4, signed=True)
    v = torch.randn(24, 40, generator=rng) * 0.3
    quantizer(v)
    check("s", quantizer.s.detach(), hint=INIT)
    check.exact("s_shape", list(quantizer.s.shape), hint="per tensor, s is a 0-d tensor (shape ())")


@pytest.mark.weight(2)
@pytest.mark.parametrize("channel_dim,shape", [(0, (6, 20)), (1, (15, 4)), (0, (5, 3, 2, 2))])
def test_init_per_channel(impl, rng, check, channel_dim, shape):
    quantizer = impl.LSQQuantizer(4, signed=True, per_channel=True, channel_dim=channel_dim)
    v = torch.randn(shape, generator=rng) * (torch.rand(shape[channel_dim], generator=rng) + 0.1).reshape(
        [-1 if d == channel_dim else 1 for d in range(len(shape))])  # channels of different scales
    quantizer(v)
    check.exact("s_shape", list(quantizer.s.shape),
                hint="per channel, s keeps v's number of dimensions with 1 everywhere but channel_dim")
    check("s", quantizer.s.detach(), hint="per channel: mean |v| over every dimension but channel_dim")


@pytest.mark.weight(2)
def test_init_only_once(impl, rng, check):
    quantizer = impl.LSQQuantizer(3, signed=False)
    first = torch.rand(8, 10, generator=rng)
    quantizer(first)
    quantizer(first * 10.0)
    check("s_after_second_forward", quantizer.s.detach(),
          hint="initialise s on the first forward only; later forwards keep the learned s")


def test_init_in_eval_mode(impl, rng, check):
    quantizer = impl.LSQQuantizer(4, signed=True)
    quantizer.eval()
    v = torch.randn(30, generator=rng)
    with torch.no_grad():
        v_hat = quantizer(v)
    check("s", quantizer.s.detach(), hint="the first forward initialises s in eval mode and under no_grad too")
    check("v_hat", v_hat)


def test_s_is_a_parameter_from_the_start(impl, rng, check):
    quantizer = impl.LSQQuantizer(4, signed=True, per_channel=True)
    hint = ("create s as an nn.Parameter in __init__ and give it its value in place on the first forward "
            "(e.g. self.s.data = ...), so an optimizer built before that forward still trains it")
    # An optimizer built before the first forward must train the s that forward initialised.
    optimizer = torch.optim.SGD(quantizer.parameters(), lr=0.5)
    v_hat = quantizer(torch.randn(5, 7, generator=rng))
    v_hat.backward(torch.randn(5, 7, generator=rng))
    check("grad_s", quantizer.s.grad, **helpers.S_GRAD_TOL, hint=hint)
    optimizer.step()
    check("s_after_one_optimizer_step", quantizer.s.detach(), hint=hint)


def test_optimizer_built_before_forward(impl, rng, check):
    quantizer = impl.LSQQuantizer(4, signed=True)
    optimizer = torch.optim.SGD(quantizer.parameters(), lr=0.5)
    v = torch.randn(64, generator=rng)
    quantizer(v).pow(2).sum().backward()
    s_initial = quantizer.s.detach().clone()
    optimizer.step()
    check("s_initial", s_initial, hint=INIT)
    check("s_after_one_step", quantizer.s.detach(), **helpers.S_GRAD_TOL,
          hint="the optimizer built before the first forward must update the initialised s")


@pytest.mark.weight(2)
@pytest.mark.parametrize("bits,shape", [(4, (16, 32)), (2, (10, 7)), (8, (3, 4, 5))])
def test_g_for_weights(impl, rng, check, bits, shape):
    quantizer = impl.LSQQuantizer(bits, signed=True)
    v = torch.randn(shape, generator=rng).abs()
    check("g", measured_g(impl, quantizer, v, rng), rtol=1e-4, hint=G_HINT)


@pytest.mark.weight(2)
def test_g_for_activations_ignores_batch(impl, rng, check):
    quantizer = impl.LSQQuantizer(4, signed=False, batch_dim=0)
    check("g_batch_5", measured_g(impl, quantizer, torch.rand(5, 12, generator=rng), rng), rtol=1e-4,
          hint=G_HINT)
    check("g_batch_17", measured_g(impl, quantizer, torch.rand(17, 12, generator=rng), rng), rtol=1e-4,
          hint="g must not change with the batch size: N counts the features of one sample")


def test_g_per_channel(impl, rng, check):
    quantizer = impl.LSQQuantizer(4, signed=True, per_channel=True, channel_dim=0)
    v = torch.randn(6, 25, generator=rng).abs()
    check("g", measured_g(impl, quantizer, v, rng), rtol=1e-4,
          hint="per channel, N is the number of elements in one channel")


def test_state_dict_keeps_initialisation(impl, rng, check):
    trained = impl.LSQQuantizer(4, signed=True)
    trained(torch.randn(40, generator=rng))
    with torch.no_grad():
        trained.s.mul_(1.5)                          # as if training had moved it
    reloaded = impl.LSQQuantizer(4, signed=True)
    reloaded.load_state_dict(trained.state_dict())
    reloaded(torch.randn(40, generator=rng) * 3.0)
    check("s_after_reload_and_forward", reloaded.s.detach(),
          hint="keep 'initialised' in a buffer (register_buffer) so that a loaded quantizer keeps its s")
