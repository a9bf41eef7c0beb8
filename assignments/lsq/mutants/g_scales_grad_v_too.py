# mutant: part=quantize
# mistake: multiplies the gradient of v by g as well as the gradient of s
from reference_solution import *  # noqa: F401,F403
import reference_solution.quantize as _quantize


class _GScalesBoth(_quantize.LSQFunction):
    @staticmethod
    def backward(ctx, grad_out):
        grad_v, grad_s, *rest = _quantize.LSQFunction.backward(ctx, grad_out)
        return (grad_v * ctx.g, grad_s, *rest)


def lsq_quantize(v, s, qn, qp, g):
    return _GScalesBoth.apply(v, s, qn, qp, g)
