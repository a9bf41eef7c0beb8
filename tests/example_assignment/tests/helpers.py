"""Shared by the example's tests (importable as `helpers`)."""

import torch


def random_rows(rng, rows, cols, dtype=torch.float32):
    return torch.randn(rows, cols, generator=rng, dtype=dtype)
