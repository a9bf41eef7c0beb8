"""Double quantization of the absmax values: int8 codes exact, scales and offset close."""

import pytest
import torch

pytestmark = pytest.mark.part("double_quant")


def _offset(offset):
    return torch.as_tensor(offset, dtype=torch.float32).reshape(())


@pytest.mark.parametrize("length", [1, 100, 256, 257, 1000, 4099])
def test_double_quantize_lengths(impl, rng, check, length):
    absmax = torch.rand(length, generator=rng) * 2 + 0.5
    q, scale, offset = impl.double_quantize(absmax)
    check.exact("q", q, hint="q = round((absmax - offset) / scale) as int8, with scale = max|x| / 127 per block "
                             "of 256")
    check("scale", scale, hint="one float32 scale per block of 256: max|absmax - offset| / 127")
    check("offset", _offset(offset), hint="offset = absmax.mean()")
    check("restored", impl.double_dequantize(q, scale, offset))


def test_blocksize_argument(impl, rng, check):
    absmax = torch.rand(300, generator=rng) + 1
    q, scale, offset = impl.double_quantize(absmax, blocksize=64)
    check.exact("q", q, hint="use the blocksize argument")
    check("scale", scale, hint="use the blocksize argument")
    check("restored", impl.double_dequantize(q, scale, offset, blocksize=64))


def test_constant_absmax(impl, check):
    absmax = torch.full((300,), 1.25)
    q, scale, offset = impl.double_quantize(absmax)
    check.exact("q", q, hint="a block where every value equals the offset has scale 0 and q = 0: no 0 / 0")
    check("scale", scale)
    check("restored", impl.double_dequantize(q, scale, offset), hint="a constant absmax must come back exactly")


def test_real_absmax_relative_error(impl, rng, check):
    w = torch.randn(512, 512, generator=rng)
    _, absmax = impl.quantize_nf4(w)
    q, scale, offset = impl.double_quantize(absmax)
    restored = impl.double_dequantize(q, scale, offset)
    relative = ((restored - absmax).abs() / absmax).max().item()
    check.bound("max_relative_error", relative, upper=0.01,
                hint="subtract the mean first so that int8 covers both signs")
    check.exact("q", q)


def test_double_dequantize_random(impl, rng, check):
    q = torch.randint(-127, 128, (600,), generator=rng, dtype=torch.int8)
    scale = torch.rand(3, generator=rng) * 0.01
    offset = torch.tensor(1.7)
    restored = impl.double_dequantize(q, scale, offset)
    check("restored", restored, hint="absmax = q * scale[block] + offset, blocks of 256")


def test_dtypes(impl, rng, check):
    q, scale, offset = impl.double_quantize(torch.rand(10, generator=rng) + 1)
    check.exact("dtypes", [str(q.dtype), str(scale.dtype)],
                hint="q is int8; scale and offset float32")
