"""Row softmax: one read and one write of the tensor, whatever the row length."""

from .common import *  # noqa: F401,F403

# A row of up to this many elements is held in registers by one program (one read, one
# write). Longer rows are streamed in chunks with the online softmax (two reads, one write).
SOFTMAX_MAX_FUSED_COLS = 32768
SOFTMAX_CHUNK = 4096


@triton.jit
def softmax_kernel(
    out_ptr,            # (n_rows, n_cols) output, contiguous
    in_ptr,             # (n_rows, n_cols) input, any strides
    in_row_stride,      # elements between two rows of the input
    in_col_stride,      # elements between two columns of the input (1 when contiguous)
    n_cols,             # row length N
    BLOCK: tl.constexpr,  # power of two >= n_cols: the whole row is one block
):
    """One program normalises one row held entirely in registers.

    Teaches: masking a power-of-two block down to any N (masked lanes read -inf, whose exp is
    0), the max shift that keeps exp from overflowing, and fp32 arithmetic on fp16/bf16 data.
    """
    ### BEGIN SOLUTION
    row = tl.program_id(0).to(tl.int64)  # int64: row * stride can pass 2**31 elements
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(in_ptr + row * in_row_stride + cols * in_col_stride, mask=mask, other=-float("inf"))
    x = x.to(tl.float32)
    shifted = x - tl.max(x, axis=0)  # every exponent <= 0: exp cannot overflow
    numerator = tl.exp(shifted)
    denominator = tl.sum(numerator, axis=0)
    y = numerator / denominator
    tl.store(out_ptr + row * n_cols + cols, y.to(out_ptr.dtype.element_ty), mask=mask)
    ### END SOLUTION


@triton.jit
def softmax_online_kernel(
    out_ptr,            # (n_rows, n_cols) output, contiguous
    in_ptr,             # (n_rows, n_cols) input, any strides
    in_row_stride,      # elements between two rows of the input
    in_col_stride,      # elements between two columns of the input
    n_cols,             # row length N, larger than one block
    BLOCK: tl.constexpr,  # chunk of the row processed per step
):
    """One program streams one long row in chunks, twice.

    Teaches the online softmax (Milakov & Gimelshein, 2018): a running maximum m and a running
    sum s of exp(x - m) are updated chunk by chunk; when the maximum grows from m to m', the
    sum so far is rescaled by exp(m - m'). Each lane keeps its own (m, s) so the loop needs no
    reduction; the lanes are merged once at the end. The second pass writes exp(x - m) / s.
    Flash attention applies the same trick to the rows of QK^T.
    """
    ### BEGIN SOLUTION
    row = tl.program_id(0).to(tl.int64)
    row_in = in_ptr + row * in_row_stride
    row_out = out_ptr + row * n_cols
    cols = tl.arange(0, BLOCK)
    lane_max = tl.full((BLOCK,), -float("inf"), tl.float32)
    lane_sum = tl.zeros((BLOCK,), tl.float32)
    for start in range(0, n_cols, BLOCK):
        mask = start + cols < n_cols
        x = tl.load(row_in + (start + cols) * in_col_stride, mask=mask, other=-float("inf")).to(tl.float32)
        new_max = tl.maximum(lane_max, x)
        # A lane that has seen only -inf keeps max -inf; shift by 0 there to avoid inf - inf.
        shift = tl.where(new_max == -float("inf"), 0.0, new_max)
        lane_sum = lane_sum * tl.exp(lane_max - shift) + tl.exp(x - shift)
        lane_max = new_max
    row_max = tl.max(lane_max, axis=0)
    row_sum = tl.sum(lane_sum * tl.exp(lane_max - row_max), axis=0)
    for start in range(0, n_cols, BLOCK):
        mask = start + cols < n_cols
        x = tl.load(row_in + (start + cols) * in_col_stride, mask=mask, other=-float("inf")).to(tl.float32)
        y = tl.exp(x - row_max) / row_sum
        tl.store(row_out + start + cols, y.to(out_ptr.dtype.element_ty), mask=mask)
    ### END SOLUTION


def softmax(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension of a 2-D tensor (any strides, fp32/fp16/bf16)."""
    ### BEGIN SOLUTION
    if x.dim() != 2:
        raise ValueError(f"softmax expects a 2-D tensor, got shape {tuple(x.shape)}")
    n_rows, n_cols = x.shape
    out = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
    if n_rows == 0 or n_cols == 0:
        return out
    block = triton.next_power_of_2(n_cols)
    if block <= SOFTMAX_MAX_FUSED_COLS:
        # About 16 fp32 values per thread: more warps for longer rows.
        num_warps = 4 if block <= 2048 else 8 if block <= 8192 else 16
        softmax_kernel[(n_rows,)](out, x, x.stride(0), x.stride(1), n_cols, BLOCK=block, num_warps=num_warps)
    else:
        softmax_online_kernel[(n_rows,)](
            out, x, x.stride(0), x.stride(1), n_cols, BLOCK=SOFTMAX_CHUNK, num_warps=8
        )
    return out
    ### END SOLUTION
