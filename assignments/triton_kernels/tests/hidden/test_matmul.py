import pytest
import torch

import helpers

pytestmark = pytest.mark.part("matmul")

# Products of many fp16/bf16 terms are compared by relative Frobenius error, not elementwise:
# a correct kernel may accumulate in another order. Bounds from the assignment's contract.
REL_FRO = {torch.float16: 1e-3, torch.bfloat16: 5e-3}

# (M, N, K): tiny, exact tiles, nothing divisible by a block, skinny, wide.
SHAPES = [(1, 1, 1), (16, 16, 16), (64, 48, 80), (33, 65, 17), (100, 7, 130), (5, 200, 64)]
if helpers.ON_GPU:
    SHAPES += [(1000, 1000, 1000), (513, 1025, 257)]


def operands(rng, device, m, n, k, dtype=torch.float16):
    return helpers.randn(rng, m, k, dtype=dtype, device=device), helpers.randn(rng, k, n, dtype=dtype, device=device)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matmul_shapes(impl, rng, check, device, shape):
    a, b = operands(rng, device, *shape)
    c = impl.matmul(a, b)
    check.exact("shape", list(c.shape))
    check("c", c, rel_fro=REL_FRO[torch.float16], hint="M, N or K not a multiple of the block: mask the loads and the store")


@pytest.mark.weight(3)
def test_matmul_k_4097(impl, rng, check, device):
    m, n = (16, 24) if device == "cpu" else (512, 384)
    a, b = operands(rng, device, m, n, 4097)
    check("c", impl.matmul(a, b), rel_fro=REL_FRO[torch.float16],
          hint="K = 4097: the last step along K is partial; load zeros past K and accumulate in float32")


@pytest.mark.weight(2)
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_matmul_activation(impl, rng, check, device, activation):
    # No size a multiple of 16, as in the dtype and input tests: Triton compiles one kernel per
    # divisibility pattern of the integer arguments, and each costs the student run seconds.
    a, b = operands(rng, device, 40, 72, 100)
    a = a * 0.25  # outputs of order 1, where GELU and ReLU differ most
    c = impl.matmul(a, b, activation=activation)
    hint = "relu(x) = max(x, 0) on the fp32 accumulator" if activation == "relu" else \
        "exact GELU: 0.5 * x * (1 + erf(x / sqrt(2))) on the fp32 accumulator"
    check("c", c, rel_fro=REL_FRO[torch.float16], hint=hint)


@pytest.mark.parametrize("dtype", helpers.HALF_DTYPES, ids=helpers.dtype_id)
def test_matmul_dtypes(impl, rng, check, device, dtype):
    a, b = operands(rng, device, 40, 56, 100, dtype=dtype)
    c = impl.matmul(a, b, activation="gelu")
    check.exact("dtype", str(c.dtype), hint="return the inputs' dtype (the accumulator is float32 inside)")
    check("c", c, rel_fro=REL_FRO[dtype])


@pytest.mark.weight(2)
def test_matmul_strided_views(impl, rng, check, device):
    wide = helpers.randn(rng, 50, 120, dtype=torch.float16, device=device)
    a = wide[:, 20:90]                                                        # (50, 70), row stride 120
    b = helpers.randn(rng, 40, 70, dtype=torch.float16, device=device).t()    # (70, 40), column stride 70
    check("c", impl.matmul(a, b), rel_fro=REL_FRO[torch.float16],
          hint="pass a.stride() and b.stride() to the kernel; never assume contiguous rows")


@pytest.mark.weight(2)
def test_matmul_transposed_left_operand(impl, rng, check, device):
    a = helpers.randn(rng, 48, 36, dtype=torch.float16, device=device).t()    # (36, 48), column-major
    b = helpers.randn(rng, 48, 52, dtype=torch.float16, device=device)
    check("c", impl.matmul(a, b), rel_fro=REL_FRO[torch.float16],
          hint="a.t() has stride(0) == 1: use both strides of a")


def test_matmul_empty_k(impl, rng, check, device):
    a, b = operands(rng, device, 3, 5, 0)
    check("c", impl.matmul(a, b), hint="with K = 0 the product is a matrix of zeros")
    a, b = operands(rng, device, 3, 5, 1)
    check("c_with_k_1", impl.matmul(a, b), rel_fro=REL_FRO[torch.float16], hint="with K = 1, c = a b (an outer product)")


def test_matmul_does_not_modify_inputs(impl, rng, check, device):
    a, b = operands(rng, device, 20, 30, 40)
    before = a.clone(), b.clone()
    c = impl.matmul(a, b, activation="relu")
    check("c", c, rel_fro=REL_FRO[torch.float16], hint="relu(a @ b)")
    check.exact("change_to_a", a - before[0], hint="read a and b; write the result to a new tensor")
    check.exact("change_to_b", b - before[1], hint="read a and b; write the result to a new tensor")


def test_matmul_launches_a_triton_kernel(impl, rng, check, device):
    a, b = operands(rng, device, 16, 16, 16)
    with helpers.count_triton_launches() as counter:
        impl.matmul(a, b)
    check.bound("triton_kernel_launches", counter["launches"], lower=1,
                hint="matmul must launch a Triton kernel; torch's matmul is not allowed")
