# mutant: part=quantize
# mistake: the round-pass trick with torch.clamp, whose gradient treats v/s == -qn or qp as inside
from reference_solution import *  # noqa: F401,F403
import torch


def lsq_quantize(v, s, qn, qp, g):
    s_scaled = (s - s * g).detach() + s * g           # value s, gradient g times
    v_over_s = torch.clamp(v / s_scaled, -qn, qp)
    rounded = (torch.round(v_over_s) - v_over_s).detach() + v_over_s
    return rounded * s_scaled
