"""Shared by the backprop tests (importable as `helpers`).

Tolerances. Values are compared with the `[tolerances]` of assignment.toml (fp32:
torch.testing.assert_close's defaults) unless a test passes its own; the exceptions are named
here, with the reason:

- sum_tol(expected), for values that are long sums (a Linear output or input gradient is a dot product
  over hundreds of features; a weight or bias gradient sums over every row of the batch):
  the order of summation is the implementation's choice (x Wᵀ as one matrix product or one per
  batch entry, a sum over rows then over the batch, ...), and two correct orders differ by a
  few ulp of the largest partial sum, more than assert_close's elementwise bound allows where
  the result itself is small. The bound is relative to the largest entry of the expected value
  (computed in the trusted run, never from the student's value): 2e-6 · max|expected|, plus
  assert_close's rtol. The same bound serves values that are differences of much larger terms
  (LayerNorm's grad_x when 1/√(σ² + eps) is large), where rounding scales with the terms.
- Large-mean LayerNorm inputs (x + 100): fp32 stores x + 100 to 7.6e-6, so the row mean
  itself is only known to ~1e-5 and every correct implementation's x̂ inherits that.
"""

from __future__ import annotations

import torch

FP32_RTOL = 1.3e-6  # torch.testing.assert_close's defaults for float32
FP32_ATOL = 1e-5


def sum_tol(expected: torch.Tensor, relative_to_max: float = 2e-6) -> dict:
    """Tolerance for a tensor whose entries are long fp32 sums (see the module docstring)."""
    scale = float(expected.detach().abs().max()) if expected.numel() else 0.0
    return {"rtol": FP32_RTOL, "atol": FP32_ATOL + relative_to_max * scale}


def leaf(tensor: torch.Tensor, requires_grad: bool = True) -> torch.Tensor:
    """A fresh leaf with the same values and the same memory layout."""
    return tensor.detach().requires_grad_(requires_grad)


def transposed_randn(rng, shape, dtype=torch.float32) -> torch.Tensor:
    """A non-contiguous tensor of `shape`: drawn with the last two dimensions swapped, then
    transposed back, so rows are strided in memory."""
    shape = tuple(shape)
    swapped = shape[:-2] + (shape[-1], shape[-2])
    return torch.randn(swapped, generator=rng, dtype=dtype).transpose(-1, -2)


def strided_randn(rng, shape, dtype=torch.float32) -> torch.Tensor:
    """A non-contiguous tensor of `shape`: every other element of a wider last dimension."""
    shape = tuple(shape)
    wide = torch.randn(shape[:-1] + (2 * shape[-1],), generator=rng, dtype=dtype)
    return wide[..., ::2]


def backward(output: torch.Tensor, rng, grad_output: torch.Tensor | None = None) -> torch.Tensor:
    """Drive the student's backward with a seeded upstream gradient; returns that gradient."""
    if grad_output is None:
        grad_output = torch.randn(output.shape, generator=rng, dtype=output.dtype)
    output.backward(grad_output)
    return grad_output


def record_vjps(check, function, inputs, rng, directions: int = 2, hint: str | None = None) -> None:
    """Record `function`'s output and its backward's vector-Jacobian products for seeded
    upstream gradients: one per input and direction. The sandbox only records; the comparator
    checks them against the trusted run (float64, so the default tolerance is tight)."""
    output = function(*inputs)
    check("output", output, hint=hint)
    for direction in range(directions):
        upstream = torch.randn(output.shape, generator=rng, dtype=output.dtype)
        for tensor in inputs:
            tensor.grad = None
        output.backward(upstream, retain_graph=direction < directions - 1)
        for index, tensor in enumerate(inputs):
            grad = tensor.grad if tensor.grad is not None else torch.zeros_like(tensor)
            check(f"vjp{direction}_input{index}", grad, hint=hint)


def record_dropout(check, x, out, grad, grad_output, p, hint_scale=None, hint_mask=None) -> float:
    """Record what dropout must satisfy whatever mask it drew, as values the comparator checks
    against the trusted run: where an element survived (out != 0; x has no exact zeros) the
    output is x / (1 - p) and the gradient grad_output / (1 - p); where it was dropped the
    gradient is 0. Filling the other positions with those same targets makes every correct mask
    record the same tensors. Returns the fraction dropped (the caller bounds it)."""
    kept = out != 0
    scale = 1.0 / (1.0 - p)
    exact = {"rtol": 1e-6, "atol": 0.0}
    check("output_where_kept", torch.where(kept, out, x * scale), **exact, hint=hint_scale)
    check("grad_where_kept", torch.where(kept, grad, grad_output * scale), **exact, hint=hint_mask)
    check("grad_where_dropped", torch.where(kept, torch.zeros_like(grad), grad), hint=hint_mask)
    return 1.0 - kept.double().mean().item()


def saved_bytes(function):
    """(output, bytes of every tensor saved for backward while `function()` ran).

    Counts what ctx.save_for_backward received, through torch.autograd.graph.saved_tensors_hooks.
    """
    sizes = []

    def pack(tensor):
        sizes.append(tensor.numel() * tensor.element_size())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output = function()
    return output, sum(sizes)


def tensors_stashed_on_ctx(output: torch.Tensor) -> list[str]:
    """Names of ctx attributes that hold tensors (directly or in a list, tuple or dict).

    Tensors kept as `ctx.something = tensor` bypass save_for_backward: autograd cannot check
    them for in-place modification, and they keep memory alive in a reference cycle.
    """
    node = output.grad_fn
    if node is None or not hasattr(node, "__dict__"):
        return []
    names = []
    for name, value in vars(node).items():
        items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(item, torch.Tensor) for item in items):
            names.append(name)
    return sorted(names)


# Autograd nodes that only move data around (a reshape, a transpose) or add: allowed in a block
# "built only from your Functions".
SHAPE_ONLY_NODES = {
    "AccumulateGrad", "AddBackward0", "ViewBackward0", "UnsafeViewBackward0", "ReshapeAliasBackward0",
    "TransposeBackward0", "TBackward0", "PermuteBackward0", "ExpandBackward0", "CloneBackward0",
    "SqueezeBackward0", "SqueezeBackward1", "UnsqueezeBackward0", "AsStridedBackward0",
}


def graph_summary(output: torch.Tensor, module) -> tuple[list[str], list[str]]:
    """(the student's Functions used to compute `output`, sorted with repeats; names of any
    other autograd nodes that do arithmetic)."""
    student_functions = {
        name: getattr(module, name, None)
        for name in ("LinearFunction", "ReLUFunction", "GELUFunction", "CrossEntropyFunction",
                     "LayerNormFunction", "DropoutFunction")
    }
    used, other = [], set()
    seen = set()
    stack = [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        forward_cls = getattr(node, "_forward_cls", None)
        matched = [name for name, cls in student_functions.items() if cls is not None and forward_cls is cls]
        if matched:
            used.append(matched[0])
        elif type(node).__name__ not in SHAPE_ONLY_NODES:
            other.add(type(node).__name__)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return sorted(used), sorted(other)


BLOCK_PARAMETERS = ("ln_weight", "ln_bias", "fc_weight", "fc_bias", "proj_weight", "proj_bias")


def randomize_block(block, rng, dtype=torch.float32) -> dict:
    """Overwrite the MLPBlock's parameters with seeded values (so the test does not depend on
    how it was initialised); returns them by name."""
    params = dict(block.named_parameters())
    missing = [name for name in BLOCK_PARAMETERS if name not in params]
    assert not missing, (
        f"MLPBlock has no parameter(s) {missing}: keep the parameter names of the provided __init__ "
        f"({', '.join(BLOCK_PARAMETERS)})")
    with torch.no_grad():
        for name in BLOCK_PARAMETERS:
            param = params[name]
            values = torch.randn(param.shape, generator=rng, dtype=torch.float64)
            if name == "ln_weight":
                values = 1 + 0.5 * values
            elif name != "ln_bias":
                values = values / param.shape[-1] ** 0.5  # keep activations O(1)
            param.data = values.to(dtype)
    return params
