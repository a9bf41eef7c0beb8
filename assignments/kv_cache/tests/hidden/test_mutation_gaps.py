"""Rules that only the automatic mutation report (`dlgrade assign kv_cache --mutation-report`)
showed untested; see MUTATION.md."""

import pytest
import torch

import helpers

pytestmark = pytest.mark.part("kv_cache")


def test_buffers_on_the_given_device_hold_what_was_written(impl, rng, check):
    # "meta" is a device other than the default on every machine, CPU graders included.
    meta = impl.KVCache(2, 3, 8, 4, torch.float16, device="meta")
    buffers = [meta.k_cache, meta.v_cache]
    check.exact("device_dtype_shape", [[b.device.type, str(b.dtype), list(b.shape)] for b in buffers],
                hint="allocate k_cache and v_cache in __init__ on `device`, in `dtype`, at full size")
    cache = impl.KVCache(2, 3, 8, 4, torch.float16, device="cpu")
    k, v = helpers.randn(rng, 2, 3, 2, 4, dtype=torch.float16), helpers.randn(rng, 2, 3, 2, 4, dtype=torch.float16)
    k_all, v_all = cache.update(torch.tensor([5, 2]), k, v)
    check.exact("written", [k_all[:, :, [5, 2]], v_all[:, :, [5, 2]]], hint="slot p holds position p")
