"""Reference solution of the qlora assignment: LoRA, NF4 with double quantization, QLoRA."""

from .double_quant import double_dequantize, double_quantize
from .finetune import finetune
from .lora import LoRALinear
from .model import (
    LORA_TARGETS,
    TinyCausalLM,
    TinyLMConfig,
    copy_task,
    language_model_loss,
    reverse_task,
    shift_task,
)
from .nf4 import NF4_CODE, dequantize_nf4, nf4_code, quantize_nf4
from .qlora import NF4Matmul, QLoRALinear, inject_lora, trainable_parameters

__all__ = [
    "NF4_CODE", "nf4_code", "quantize_nf4", "dequantize_nf4",
    "double_quantize", "double_dequantize",
    "LoRALinear", "NF4Matmul", "QLoRALinear", "inject_lora", "trainable_parameters",
    "TinyLMConfig", "TinyCausalLM", "LORA_TARGETS", "copy_task", "reverse_task", "shift_task",
    "language_model_loss", "finetune",
]
