"""From fake-quant to integers: the weight codes a deployment stores, and a forward pass that
multiplies integers and rescales once."""

import torch


def export_int(layer):
    """(int_weight, w_scale): the int8 codes of layer.weight and its step size, so that
    int_weight * w_scale is exactly the weight the layer computes with."""
    ### BEGIN SOLUTION
    quantizer = layer.weight_quantizer
    if quantizer is None or not bool(quantizer.initialized):
        raise RuntimeError("export_int needs a quantized layer that has run at least one forward")
    with torch.no_grad():
        w_scale = quantizer.s.detach().clone()  # () or (out, 1)
        codes = torch.round(torch.clamp(layer.weight / w_scale, -quantizer.qn, quantizer.qp))
    return codes.to(torch.int8), w_scale
    ### END SOLUTION


def int_linear(layer, x):
    """The layer's output computed as deployed: integer input codes times integer weight codes,
    accumulated in int32, then one float rescale by s_x * s_w and the float bias."""
    ### BEGIN SOLUTION
    quantizer = layer.input_quantizer
    if quantizer is None or not bool(quantizer.initialized):
        raise RuntimeError("int_linear needs a layer whose input is quantized and initialised")
    int_weight, w_scale = export_int(layer)                       # (out, in) int8
    with torch.no_grad():
        s_x = quantizer.s.detach()
        x_codes = torch.round(torch.clamp(x / s_x, -quantizer.qn, quantizer.qp)).to(torch.int32)
        accumulator = x_codes @ int_weight.to(torch.int32).T        # (..., out) int32, exact
        y = accumulator.to(torch.float32) * (s_x * w_scale.reshape(-1))  # (..., out)
        if layer.bias is not None:
            y = y + layer.bias
    return y
    ### END SOLUTION
