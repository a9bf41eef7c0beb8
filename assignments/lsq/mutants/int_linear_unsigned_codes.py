# mutant: part=export
# mistake: integer inference clips the input codes to [0, qp], as if every input were unsigned: a layer with
# a_signed=True loses its negative codes (found by the mutation report)
import torch

from reference_solution import *  # noqa: F401,F403


def int_linear(layer, x):
    int_weight, w_scale = export_int(layer)
    with torch.no_grad():
        s_x = layer.input_quantizer.s.detach()
        x_codes = torch.round(torch.clamp(x / s_x, 0, layer.input_quantizer.qp)).to(torch.int32)
        y = (x_codes @ int_weight.to(torch.int32).T).to(torch.float32) * (s_x * w_scale.reshape(-1))
        if layer.bias is not None:
            y = y + layer.bias
    return y
