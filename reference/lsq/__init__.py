"""Reference solution of the LSQ assignment (Learned Step Size Quantization)."""

from .export import export_int, int_linear
from .layers import MLP, QuantLinear
from .quantize import LSQFunction, LSQQuantizer, lsq_quantize
from .train import accuracy, load_digits_split, train_qat

__all__ = [
    "LSQFunction", "LSQQuantizer", "MLP", "QuantLinear", "accuracy", "export_int", "int_linear",
    "load_digits_split", "lsq_quantize", "train_qat",
]
