# mutant: part=quantize
# mistake: rounds with floor(x + 0.5), which sends ties up instead of to the even code
from reference_solution import *  # noqa: F401,F403
import torch


def lsq_quantize(v, s, qn, qp, g):
    s_scaled = (s - s * g).detach() + s * g
    v_over_s = torch.clamp(v / s_scaled, -qn, qp)
    rounded = (torch.floor(v_over_s + 0.5) - v_over_s).detach() + v_over_s
    return rounded * s_scaled
