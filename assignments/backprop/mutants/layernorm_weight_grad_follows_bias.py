# mutant: part=layernorm
# mistake: computes grad_weight only when the bias needs one (needs_input_grad[2] read for [1]);
# found by the mutation report
from reference_solution import *  # noqa: F401,F403
import reference_solution


class LayerNormFunction(reference_solution.LayerNormFunction):
    @staticmethod
    def backward(ctx, grad_out):
        grad_x, grad_weight, grad_bias, _ = reference_solution.LayerNormFunction.backward(ctx, grad_out)
        if not ctx.needs_input_grad[2]:
            grad_weight = None
        return grad_x, grad_weight, grad_bias, None
