# mutant: part=nf4
# mistake: a symmetric code of 16 evenly spaced quantiles, which has no exact zero
from reference_solution import *  # noqa: F401,F403
import reference_solution.nf4 as _nf4
import torch

_probabilities = torch.linspace(1 - 0.9677083, 0.9677083, 16, dtype=torch.float64)
_values = torch.special.ndtri(_probabilities)
NF4_CODE = (_values / _values.abs().max()).to(torch.float32)
_nf4.NF4_CODE = NF4_CODE  # quantize and dequantize use this table
