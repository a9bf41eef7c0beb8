# mutant: part=quantize
# mistake: computes v * (1 / s) instead of v / s: ties round differently when s is not a power of two
from reference_solution import *  # noqa: F401,F403
import torch


def lsq_quantize(v, s, qn, qp, g):
    s_scaled = (s - s * g).detach() + s * g
    v_over_s = torch.clamp(v * (1.0 / s_scaled), -qn, qp)
    rounded = (torch.round(v_over_s) - v_over_s).detach() + v_over_s
    return rounded * s_scaled
