"""Plumbing every all-reduce shares: the reduction ops and a flat, contiguous view.

`dist.send` and `dist.recv` move one contiguous block of memory, and every algorithm here
thinks in ranges of elements `[start, stop)` of a flat vector. `flat_view` gives that view of
any tensor (2-D, transposed, strided) and writes the result back when the block ends.
"""

import contextlib

import torch

OPS = ("sum", "avg")


def check_op(op: str, tensor: torch.Tensor) -> None:
    """Fail early, on every rank, before a single message is sent."""
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    if op == "avg" and not tensor.is_floating_point():
        raise TypeError(f"op='avg' needs a floating-point tensor, got {tensor.dtype}")


@contextlib.contextmanager
def flat_view(tensor: torch.Tensor):
    """Yield a 1-D contiguous tensor holding `tensor`'s elements.

    For a contiguous tensor it is a view: writes land in `tensor` directly. Otherwise it is a
    contiguous copy, copied back into `tensor` when the block ends. (`tensor.reshape(-1)`
    would also copy a non-contiguous tensor, silently, and the result would be lost.)
    """
    buffer = tensor if tensor.is_contiguous() else tensor.contiguous()
    yield buffer.view(-1)  # (n,)
    if buffer is not tensor:
        tensor.copy_(buffer)
