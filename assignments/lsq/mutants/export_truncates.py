# mutant: part=export
# mistake: converts weight / s to int8 directly, which truncates toward zero instead of rounding
import torch

from reference_solution import *  # noqa: F401,F403


def export_int(layer):
    q = layer.weight_quantizer
    with torch.no_grad():
        w_scale = q.s.detach().clone()
        codes = torch.clamp(layer.weight / w_scale, -q.qn, q.qp).to(torch.int8)
    return codes, w_scale
