"""Public tests: run them with `dlgrade check notebook.ipynb` (without a GPU, prefix it with
TRITON_INTERPRET=1 so that Triton interprets the kernels on the CPU).

Each test compares your kernel with torch's own operator (or a float64 reference) and fails
with a message saying what differs. The perf tests run only on a CUDA GPU.
"""

import pytest
import torch
import torch.nn.functional as F

import helpers


@pytest.mark.part("softmax")
def test_softmax_matches_torch(impl, rng, check, device):
    x = helpers.randn(rng, 33, 100, device=device)
    out = impl.softmax(x)
    assert out.shape == x.shape and out.dtype == x.dtype, f"expected {tuple(x.shape)} {x.dtype}, got {tuple(out.shape)} {out.dtype}"
    torch.testing.assert_close(out, torch.softmax(x, dim=-1), msg=lambda m: f"softmax differs from torch's:\n{m}")
    check("probabilities", out)


@pytest.mark.part("layer_norm")
def test_layer_norm_forward_and_backward_match_torch(impl, rng, check, device):
    x = helpers.randn(rng, 8, 48, device=device).requires_grad_()
    weight = helpers.randn(rng, 48, device=device).requires_grad_()
    bias = helpers.randn(rng, 48, device=device).requires_grad_()
    dy = helpers.randn(rng, 8, 48, device=device)
    y = impl.layer_norm(x, weight, bias)
    y.backward(dy)
    ours = y.detach(), x.grad, weight.grad, bias.grad
    x.grad = weight.grad = bias.grad = None
    expected = F.layer_norm(x, (48,), weight, bias, eps=1e-5)
    expected.backward(dy)
    for name, mine, theirs in zip(["y", "grad_x", "grad_weight", "grad_bias"], ours, [expected, x.grad, weight.grad, bias.grad]):
        assert mine is not None, f"{name} is None: is layer_norm differentiable (a torch.autograd.Function)?"
        torch.testing.assert_close(mine, theirs.detach(), rtol=1e-5, atol=1e-5, msg=lambda m, name=name: f"{name} differs from torch's:\n{m}")
        check(name, mine, rtol=1e-5, atol=1e-5)


@pytest.mark.part("matmul")
def test_matmul_gelu_matches_torch(impl, rng, check, device):
    a = helpers.randn(rng, 40, 40, dtype=torch.float16, device=device)
    b = helpers.randn(rng, 40, 56, dtype=torch.float16, device=device)
    out = impl.matmul(a, b, activation="gelu")
    assert out.shape == (40, 56) and out.dtype == torch.float16, f"expected (40, 56) float16, got {tuple(out.shape)} {out.dtype}"
    expected = F.gelu(a.double() @ b.double())  # exact (erf) GELU
    error = helpers.relative_frobenius_error(out, expected)
    assert error <= 1e-3, f"relative Frobenius error {error:.2e} > 1e-3 against float64 gelu(a @ b)"
    check("c", out, rel_fro=1e-3)


@pytest.mark.part("flash_attention")
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_flash_attention_matches_reference(impl, rng, check, device, causal):
    q = helpers.randn(rng, 1, 2, 24, 32, dtype=torch.float16, device=device)
    k = helpers.randn(rng, 1, 2, 40, 32, dtype=torch.float16, device=device)
    v = helpers.randn(rng, 1, 2, 40, 32, dtype=torch.float16, device=device)
    out, lse = impl.flash_attention(q, k, v, causal=causal)
    expected_out, expected_lse = helpers.attention_reference(q, k, v, causal=causal)
    assert out.shape == q.shape and out.dtype == q.dtype, f"out: expected {tuple(q.shape)} {q.dtype}, got {tuple(out.shape)} {out.dtype}"
    assert lse.shape == q.shape[:3] and lse.dtype == torch.float32, f"lse: expected {tuple(q.shape[:3])} float32, got {tuple(lse.shape)} {lse.dtype}"
    torch.testing.assert_close(out.double(), expected_out, rtol=1e-2, atol=1e-2, msg=lambda m: f"out differs:\n{m}")
    torch.testing.assert_close(lse.double(), expected_lse, rtol=1e-4, atol=1e-4, msg=lambda m: f"lse differs (natural log?):\n{m}")
    check("out", out, rtol=2e-3, atol=2e-3)
    check("lse", lse, rtol=1e-4, atol=1e-4)


# --- performance (CUDA GPU only) ------------------------------------------------------------
# The full set of perf cases lives in the hidden tests; these show the measurement locally.

@pytest.mark.part("softmax_perf")
@pytest.mark.timeout(180)
def test_softmax_speed_n4096(impl, check, seed):
    helpers.softmax_speed(impl, check, seed, n_cols=4096)


@pytest.mark.part("layer_norm_perf")
@pytest.mark.timeout(180)
def test_layer_norm_speed_n4096(impl, check, seed):
    helpers.layer_norm_speed(impl, check, seed, n_cols=4096)


@pytest.mark.part("matmul_perf")
@pytest.mark.timeout(300)
def test_matmul_speed_4096(impl, check, seed):
    helpers.matmul_speed(impl, check, seed, size=4096)


@pytest.mark.part("flash_attention_perf")
@pytest.mark.timeout(300)
def test_flash_attention_speed_full(impl, check, seed):
    helpers.flash_attention_speed(impl, check, seed, causal=False)
