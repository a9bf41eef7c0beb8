"""lsq_quantize: values, rounding, and the paper's gradients for v and s."""

import pytest
import torch

import helpers

pytestmark = pytest.mark.part("quantize")

FORMULA = ("v_hat = round(clip(v / s, -qn, qp)) * s, rounding half to even (torch.round); "
           "codes lie in [-qn, qp]")
GRAD_V = "the gradient for v is the upstream gradient where -qn < v/s < qp (strictly) and 0 elsewhere"
GRAD_S = ("the gradient for s is g * sum over elements of upstream * (round(v/s) - v/s) strictly inside "
          "the range, -qn at or below -qn, qp at or above qp")


def codes_of(v_hat, s):
    return torch.round(v_hat.detach() / s.detach()).to(torch.int32)


@pytest.mark.weight(2)
def test_signed_codes_with_ties(impl, check):
    s = torch.tensor(0.25)  # a power of two: v / s is exact, ties are real ties
    v_over_s = [-20.0, -8.5, -8.0, -7.5, -6.5, -2.5, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, 3.49, 5.5, 6.5, 7.0, 7.5, 9.0]
    v = torch.tensor(v_over_s) * s
    v_hat = impl.lsq_quantize(v, s, 8, 7, 1.0)
    check.exact("codes", codes_of(v_hat, s), hint=FORMULA)
    check("values", v_hat + 0.0, hint=FORMULA)  # + 0.0: -0.0 and 0.0 are the same value
    check.exact("dtype", str(v_hat.dtype))


@pytest.mark.weight(2)
def test_ties_with_step_not_power_of_two(impl, check):
    # s = 0.3 is not a power of two: v * (1 / s) rounds differently from v / s on 63 of these
    # values (midpoints k + 0.5 of every code and their neighbours one ulp away).
    s = torch.tensor(0.3)
    midpoints = (torch.arange(-128, 128, dtype=torch.float32) + 0.5) * s
    v = torch.cat([midpoints, torch.nextafter(midpoints, torch.tensor(float("inf"))),
                   torch.nextafter(midpoints, torch.tensor(float("-inf")))])
    v_hat = impl.lsq_quantize(v, s, 128, 127, 1.0)
    hint = "compute v / s as a division: multiplying by 1 / s rounds differently when s is not a power of two"
    check.exact("codes", codes_of(v_hat, s), hint=hint)
    check("values", v_hat + 0.0, hint=hint)


def test_unsigned_codes(impl, check):
    s = torch.tensor(0.5)
    v = torch.tensor([-3.0, -0.5, 0.0, 0.5, 1.5, 2.5, 2.9, 3.5, 10.0]) * s
    v_hat = impl.lsq_quantize(v, s, 0, 3, 1.0)
    check.exact("codes", codes_of(v_hat, s), hint="unsigned 2 bits: qn = 0, qp = 3; negative values become 0")


@pytest.mark.parametrize("bits,signed,shape", [(4, True, (7,)), (3, False, (5, 9)), (8, True, (2, 3, 4, 5)),
                                               (2, True, (64,)), (2, False, (3, 11))])
def test_forward_random(impl, rng, check, bits, signed, shape):
    qn, qp = helpers.qrange(bits, signed)
    s = helpers.random_step(rng)
    v = torch.randn(shape, generator=rng) * s * qp * 0.7  # most inside, some clipped
    v_hat = impl.lsq_quantize(v, s, qn, qp, 1.0)
    check("v_hat", v_hat, hint=FORMULA)
    check.exact("shape", list(v_hat.shape))


def test_float64(impl, rng, check):
    s = helpers.random_step(rng, dtype=torch.float64)
    v = torch.randn(6, 10, generator=rng, dtype=torch.float64)
    v_hat = impl.lsq_quantize(v, s, 8, 7, 1.0)
    check.exact("dtype", str(v_hat.dtype), hint="the output keeps v's dtype")
    check("v_hat", v_hat)


def test_non_contiguous_input(impl, rng, check):
    s = helpers.random_step(rng)
    v = torch.randn(12, 10, generator=rng).t()  # (10, 12), strided
    check("v_hat", impl.lsq_quantize(v, s, 4, 3, 1.0), hint="transposed (non-contiguous) input")


@pytest.mark.weight(2)
@pytest.mark.parametrize("bits,signed", [(4, True), (2, True), (3, False)])
def test_gradients(impl, rng, check, bits, signed):
    qn, qp = helpers.qrange(bits, signed)
    s = helpers.random_step(rng).requires_grad_()
    v = (torch.randn(200, generator=rng) * s.detach() * (qp + 1)).requires_grad_()
    upstream = torch.randn(200, generator=rng)
    impl.lsq_quantize(v, s, qn, qp, 0.2).backward(upstream)
    check("grad_v", v.grad, hint=GRAD_V)
    check("grad_s", s.grad, **helpers.S_GRAD_TOL, hint=GRAD_S)


def test_grad_s_all_clipped(impl, rng, check):
    s = torch.tensor(0.1, requires_grad=True)
    v = torch.cat([torch.rand(10, generator=rng) + 2.0, -torch.rand(6, generator=rng) - 2.0])  # |v/s| >= 20
    upstream = torch.rand(16, generator=rng) + 0.5
    v.requires_grad_()
    impl.lsq_quantize(v, s, 8, 7, 0.5).backward(upstream)
    check("grad_s", s.grad, **helpers.S_GRAD_TOL,
          hint="beyond the range v_hat is qp*s (or -qn*s): its gradient for s is qp (or -qn), times g")
    check("grad_v", v.grad, hint="clipped elements get no gradient for v")


@pytest.mark.weight(2)
def test_range_ends(impl, check):
    """At v/s == -qn or qp exactly, eq. 3 of the paper takes the clipped branch."""
    s = torch.tensor(0.5, requires_grad=True)
    v = (torch.tensor([-8.0, -7.75, 6.75, 7.0]) * 0.5).requires_grad_()  # exact: ends and just inside
    impl.lsq_quantize(v, s, 8, 7, 1.0).backward(torch.ones(4))
    hint = ("at v/s == -qn or v/s == qp exactly, use the clipped branch (eq. 3): gradient 0 for v, "
            "-qn or qp for s; torch.clamp's own gradient counts the ends as inside")
    check("grad_v", v.grad, hint=hint)
    check("grad_s", s.grad, hint=hint)


def test_g_scales_only_grad_s(impl, rng, check):
    s1 = helpers.random_step(rng).requires_grad_()
    s2 = s1.detach().clone().requires_grad_()
    v = torch.rand(50, generator=rng) * 2.0  # positive, many clipped: grad_s is far from 0
    v1, v2 = v.clone().requires_grad_(), v.clone().requires_grad_()
    upstream = torch.rand(50, generator=rng) + 0.5
    impl.lsq_quantize(v1, s1, 4, 3, 1.0).backward(upstream)
    impl.lsq_quantize(v2, s2, 4, 3, 0.125).backward(upstream)
    check("grad_s_ratio", s2.grad / s1.grad, rtol=1e-5, hint="g multiplies the gradient of s")
    check("grad_v_with_g_one", v1.grad, hint=GRAD_V)
    check("grad_v_with_g_eighth", v2.grad, hint="g scales only the gradient of s, never the gradient of v")


@pytest.mark.weight(2)
def test_per_channel_step(impl, rng, check):
    s = helpers.random_step(rng, (6, 1)).requires_grad_()           # one step per row
    v = (torch.randn(6, 30, generator=rng) * 0.6).requires_grad_()
    upstream = torch.randn(6, 30, generator=rng)
    v_hat = impl.lsq_quantize(v, s, 8, 7, 0.3)
    v_hat.backward(upstream)
    check("v_hat", v_hat)
    check("grad_s", s.grad, **helpers.S_GRAD_TOL,
          hint="with s of shape (C, 1) each step size's gradient sums over its own row only")
    check.exact("grad_s_shape", list(s.grad.shape), hint="s.grad must have the shape of s")
    check("grad_v", v.grad, hint=GRAD_V)


def test_step_along_columns(impl, rng, check):
    s = helpers.random_step(rng, (1, 5)).requires_grad_()
    v = (torch.rand(9, 5, generator=rng) * 2.0).requires_grad_()
    impl.lsq_quantize(v, s, 0, 7, 0.5).backward(torch.randn(9, 5, generator=rng))
    check("grad_s", s.grad, **helpers.S_GRAD_TOL, hint="s of shape (1, C): sum the gradient over dimension 0")
    check("grad_v", v.grad)


def test_only_s_requires_grad(impl, rng, check):
    s = helpers.random_step(rng).requires_grad_()
    v = torch.randn(30, generator=rng)
    impl.lsq_quantize(v, s, 8, 7, 0.25).sum().backward()
    check("grad_s", s.grad, **helpers.S_GRAD_TOL, hint="v without requires_grad: s must still get its gradient")


def test_eight_bits(impl, rng, check):
    s = helpers.random_step(rng, low=0.01, high=0.02)
    v = torch.randn(500, generator=rng)
    v_hat = impl.lsq_quantize(v, s, 128, 127, 1.0)
    codes = codes_of(v_hat, s)
    check("v_hat", v_hat)
    check.exact("code_range", [int(codes.min()), int(codes.max())], hint="8 bits signed: codes in [-128, 127]")
